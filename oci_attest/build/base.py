"""The interface every build backend implements, so the pipeline does not care which it is.

Two backends: the docker engine's API through the docker SDK (its classic builder), and
buildah as a daemonless subprocess for BuildKit-style Dockerfiles (``RUN --mount``, build
secrets). :mod:`oci_attest.build.select` picks one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildRequest:
    """What to build. ``dockerfile`` is the content to build (already pinned to digests)."""

    context: Path
    dockerfile: bytes
    tags: list[str]
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    pull: bool = False
    no_cache: bool = False
    #: Build secrets: id -> path of the file holding the value. Only the ids are ever recorded.
    secrets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildResult:
    image_id: str


@dataclass(frozen=True)
class BuiltImage:
    """What the engine says about an image it holds: its layer list and platform, read
    from the image config (not from what attest asked for), for the check after the build."""

    diff_ids: list[str]
    platform: str


class BuildBackend(Protocol):
    """Builds, pushes, and says what it is (for the provenance's builder version)."""

    name: str

    def build(self, request: BuildRequest, progress: Progress) -> BuildResult: ...

    def has_image(self, image_id: str) -> bool: ...

    def push(self, image_id: str, tag: str, progress: Progress) -> str:
        """Tag ``image_id`` as ``tag``, push it, return the pushed manifest digest."""
        ...

    def version(self) -> dict[str, str]: ...

    def platform(self) -> str:
        """The platform the engine builds for (``os/arch[/variant]``), to pick a base's
        manifest from a multi-platform index the way the engine will."""
        ...

    def inspect(self, image_id: str) -> BuiltImage:
        """The built image's ``rootfs.diff_ids`` and platform, from its config."""
        ...

    def scan_source(self, image_id: str) -> AbstractContextManager[str]:
        """The built, not yet pushed image as an ``oci_attest.sbom`` source specification
        (``docker-daemon:ID``, ``oci-layout:DIR:TAG``), for the secret scan before the push."""
        ...
