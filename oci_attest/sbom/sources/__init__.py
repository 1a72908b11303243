"""Where an image comes from: a registry, a ``docker save`` tar, an OCI layout, the engine.

Every source yields the same thing, an :class:`Image`: a name and digest for
``metadata.component``, the config, and the layers in order, each openable as a forward-only
stream of the *uncompressed* tarball. Nothing is unpacked to disk, and nothing read is trusted
before it is hashed: every layer stream is checked against its descriptor digest and its
``diff_id`` when it ends (:mod:`.streams`), so a tampered file or a lying registry yields an
error, never an SBOM or a clean secret scan under the original digest.

One module per kind of source: :mod:`.registry`, :mod:`.archive` (``docker-archive:`` and
``docker-daemon:``) and :mod:`.layout` (``oci-layout:``); :mod:`.image` holds what they share.
"""

from __future__ import annotations

import re
from pathlib import Path

from oci_attest.errors import InputError
from oci_attest.sbom.sources.image import (
    Image,
    Layer,
    Progress,
    host_platform_string,
    image_label,
    parse_platform,
)

_LAYOUT_SCHEMES = frozenset({"oci-layout", "oci", "oci-dir"})
_ARCHIVE_SCHEMES = frozenset({"docker-archive"})
_DAEMON_SCHEMES = frozenset({"docker-daemon", "docker"})
_REGISTRY_SCHEMES = frozenset({"registry", "docker-registry"})
_UNSUPPORTED_SCHEMES = frozenset({"dir", "file", "containers-storage", "singularity", "oci-archive",
                                  "podman", "sif"})


def open_image(spec: str, *, platform: str | None = None,
               progress: Progress | None = None) -> Image:
    """Open ``spec``: ``docker-archive:PATH``, ``oci-layout:PATH[:TAG]``,
    ``docker-daemon:REF`` or a registry reference (optionally prefixed ``registry:``)."""
    say = progress or (lambda _text: None)
    wanted = parse_platform(platform or host_platform_string())
    kind, rest = source_kind(spec)
    if kind == "oci-layout":
        from oci_attest.sbom.sources.layout import open_oci_layout

        return open_oci_layout(rest, wanted)
    if kind == "docker-archive":
        from oci_attest.sbom.sources.archive import open_docker_archive

        return open_docker_archive(Path(rest), wanted)
    if kind == "docker-daemon":
        from oci_attest.sbom.sources.archive import open_docker_daemon

        return open_docker_daemon(rest, wanted, say)
    from oci_attest.sbom.sources.registry import open_registry

    return open_registry(rest, wanted, say)


def source_kind(spec: str) -> tuple[str, str]:
    """``(kind, rest)``: ``oci-layout``, ``docker-archive``, ``docker-daemon`` or ``registry``.

    The scheme names of skopeo and syft are accepted as aliases (``oci:``, ``docker:``).
    """
    scheme, sep, rest = spec.partition(":")
    if not sep or re.match(r"\d+/", rest):  # "registry:5000/app" is a host and a port
        return "registry", spec
    if scheme in _LAYOUT_SCHEMES:
        return "oci-layout", rest
    if scheme in _ARCHIVE_SCHEMES:
        return "docker-archive", rest
    if scheme in _DAEMON_SCHEMES:
        return "docker-daemon", rest
    if scheme in _REGISTRY_SCHEMES:
        return "registry", rest
    if scheme in _UNSUPPORTED_SCHEMES:
        raise InputError(
            f"image source {scheme!r} is not supported",
            hint="use a registry reference, docker-archive:PATH, oci-layout:PATH "
                 "or docker-daemon:REF")
    return "registry", spec


__all__ = ["Image", "Layer", "host_platform_string", "image_label", "open_image", "source_kind"]
