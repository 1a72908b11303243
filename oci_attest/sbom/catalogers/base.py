"""The one interface every ecosystem cataloger implements.

A cataloger declares up front which paths it wants (by base name, suffix, parent directory, or
"executables"), so that the layer pass can decide in one dictionary lookup per tar entry whether
to read a file at all: most of an image is never read. It then parses each wanted file as soon
as the layer pass meets it (``catalog``), keeping only the small result; the file's bytes are
dropped straight away, so memory does not grow with the image. Because a later layer may delete
or replace any file, results are kept per path and only those still visible after the last
layer reach ``finish``, which joins them (licenses from copyright files, dependency edges).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from oci_attest.sbom.model import Distro, Package


class Delivery(enum.Enum):
    """How a wanted file reaches the cataloger."""

    BYTES = "bytes"  # the whole content in memory, up to the cataloger's size cap
    RANDOM_ACCESS = "random-access"  # a seekable file object (ELF, zip): only some bytes read
    LINK = "link"  # symbolic links too (os-release is usually one)


@dataclass(frozen=True)
class Interest:
    """Which tar entries a cataloger wants; all sets are matched exactly, suffixes by ``endswith``.

    ``accept`` refines a candidate by its full path (say, ``copyright`` only under
    ``usr/share/doc/<package>/``); it is only called for entries that matched one of the sets.
    """

    basenames: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    parents: frozenset[str] = frozenset()
    parent_suffixes: tuple[str, ...] = ()
    executables: bool = False
    accept: Callable[[str], bool] | None = None
    delivery: Delivery = Delivery.BYTES
    max_size: int = 8 * 1024 * 1024
    #: False for interests in symbolic links only (``Delivery.LINK``).
    files: bool = True


@dataclass
class FileInput:
    """One wanted file, as the layer pass hands it over. ``path`` has no leading slash."""

    path: str
    layer: int
    size: int
    mode: int
    data: bytes | None = None
    stream: BinaryIO | None = None
    link_target: str | None = None
    #: Shared by the catalogers that look at the same file (parsed ELF section tables).
    cache: dict[str, object] = field(default_factory=dict)

    def read_all(self, limit: int) -> bytes:
        """The content (for BYTES delivery it is already there)."""
        if self.data is not None:
            return self.data[:limit]
        if self.stream is None:
            return b""
        self.stream.seek(0)
        return self.stream.read(limit)


@dataclass
class Found:
    """What a cataloger kept from one file: packages, and facts for ``finish`` to join."""

    packages: list[Package] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)

    def relocated(self, path: str, layer: int) -> Found:
        return Found([p.relocated(path, layer) for p in self.packages], dict(self.facts))


@dataclass
class FoundFile:
    """A :class:`Found` with the path and layer it came from (what survives to ``finish``)."""

    path: str
    layer: int
    found: Found


@dataclass
class Context:
    """What ``finish`` may need beyond its own files: the distro, and a place to warn."""

    distro: Distro | None
    warn: Callable[[str], None]


class Cataloger(abc.ABC):
    """One ecosystem. Instances hold per-scan state, so make a fresh one for every scan."""

    #: Short name used in warnings and in the ``attest:cataloger`` property.
    name: str = ""
    #: The ecosystem key of :data:`oci_attest.sbom.model.ECOSYSTEMS` its packages belong to.
    ecosystem: str = ""

    @abc.abstractmethod
    def interests(self) -> Iterable[Interest]:
        """The files this cataloger wants; called once per scan."""

    @abc.abstractmethod
    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        """Parse one file right away; never raise on bad content, warn and return less."""

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        """Join the surviving files' results; by default, just their packages."""
        return [package for item in files for package in item.found.packages]
