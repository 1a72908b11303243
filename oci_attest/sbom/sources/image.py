"""What every image source yields (:class:`Image`, :class:`Layer`), and the checks they share.

A source hands the walker an image whose layers are *already bound* to the digests the SBOM
and the secret scan report: each layer's opener returns a stream that is hashed as it is read
and refuses, at its end, content that does not match the layer's descriptor digest or its
``diff_id`` (see :mod:`.streams`). The platform helpers live here because a registry index and
an OCI layout index are chosen between the same way.
"""

from __future__ import annotations

import json
import platform as host_platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oci_attest.errors import InputError
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry import media_types as mt
from oci_attest.sbom.tarscan import ByteSource

if TYPE_CHECKING:  # the registry client pulls in requests; only registry sources need it
    from oci_attest.registry.client import Descriptor

Progress = Callable[[str], None]

#: The largest image config (or small JSON blob) read from any source.
MAX_CONFIG = 8 * 1024 * 1024

_ARCH_ALIASES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                 "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
                 "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


@dataclass
class Layer:
    """One layer: ``diff_id`` (the uncompressed digest) is what the SBOM names it by;
    ``digest`` is its descriptor digest (the stored, possibly compressed, bytes)."""

    index: int
    digest: str
    diff_id: str
    media_type: str
    size: int
    opener: Callable[[], ByteSource]


def image_label(name: str, digest: str, digest_is_image_id: bool) -> str:
    return f"{name} (image ID {digest})" if digest_is_image_id else f"{name}@{digest}"


@dataclass
class Image:
    """An image ready to be walked; ``close`` removes whatever the source kept on disk."""

    name: str
    repository_url: str
    tag: str | None
    digest: str
    digest_is_image_id: bool
    platform: str
    config: dict[str, Any]
    layers: list[Layer]
    resolved_from: str | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def label(self) -> str:
        """How to name the image to a person. A local image's config ID is not a registry
        digest, so it is never written as a pullable ``name@sha256:...``."""
        return image_label(self.name, self.digest, self.digest_is_image_id)

    def close(self) -> None:
        while self.cleanups:
            self.cleanups.pop()()

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------- platform
@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


def host_platform_string() -> str:
    """``linux/<arch>`` of this machine, the platform picked from a multi-platform index."""
    machine = host_platform.machine().lower()
    arch = _ARCH_ALIASES.get(machine, machine or "amd64")
    if machine == "armv7l":
        return "linux/arm/v7"
    return f"linux/{arch}"


def parse_platform(text: str) -> Platform:
    parts = text.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"invalid platform {text!r}", hint="write it as OS/ARCH[/VARIANT], "
                                                            "e.g. linux/amd64 or linux/arm64")
    arch = _ARCH_ALIASES.get(parts[1], parts[1])
    return Platform(parts[0], arch, parts[2] if len(parts) == 3 else None)


def _platform_matches(candidate: Any, wanted: Platform) -> bool:
    if not isinstance(candidate, dict):
        return False
    if candidate.get("os") != wanted.os or candidate.get("architecture") != wanted.architecture:
        return False
    variant = candidate.get("variant")
    if wanted.variant is None:
        return True
    return bool(variant == wanted.variant
                or (variant in (None, "") and wanted.variant == "v8"))


def select_platform(descriptors: list[Descriptor], wanted: Platform, where: str) -> Descriptor:
    images = [d for d in descriptors if d.media_type != mt.IN_TOTO
              and (d.platform or {}).get("os") != "unknown"]
    for descriptor in images:
        if _platform_matches(descriptor.platform, wanted):
            return descriptor
    available = sorted({f"{(d.platform or {}).get('os')}/{(d.platform or {}).get('architecture')}"
                        for d in images})
    raise InputError(f"{where} has no image for platform {wanted}",
                     hint=f"pass --platform with one of: {', '.join(available) or 'none'}")


# ---------------------------------------------------------------------- configs, manifests
def diff_ids(config: dict[str, Any], count: int, where: str) -> list[str]:
    """The config's ``rootfs.diff_ids``, one per layer; each must be a digest we can check."""
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    listed = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(listed, list) or len(listed) != count \
            or not all(isinstance(d, str) for d in listed):
        raise InputError(f"{where}: the image config's rootfs.diff_ids do not match its "
                         f"{count} layers", hint="the image is malformed; rebuild or re-save it")
    for diff_id in listed:
        check_digest_syntax(diff_id, f"{where}: diff_id")
    return [str(d) for d in listed]


def check_digest_syntax(digest: str, what: str) -> None:
    """Only digests that can be recomputed here: ``sha256:<64 hex>`` or ``sha512:<128 hex>``."""
    from oci_attest.reference import parse_digest

    try:
        parse_digest(digest)
    except InputError:
        raise InputError(f"{what} {digest[:80]!r} is not a sha256 or sha512 digest",
                         hint="the image is malformed; rebuild or re-save it") from None


def config_platform(config: dict[str, Any]) -> str:
    os_name = str(config.get("os") or "linux")
    arch = str(config.get("architecture") or "unknown")
    variant = config.get("variant")
    return f"{os_name}/{arch}/{variant}" if variant else f"{os_name}/{arch}"


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"{what} is not a JSON object")
    return value


def check_image_manifest(manifest: dict[str, Any], where: str) -> None:
    config = manifest.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if config_type not in (mt.OCI_CONFIG, mt.DOCKER_CONFIG):
        raise InputError(f"{where} is not a container image (config type {config_type!r})",
                         hint="pass the image itself, not an attestation or other artifact")


def name_for(reference: str | None, fallback: str) -> ImageReference:
    """``reference`` parsed, else a ``localhost/<fallback>`` name (for files without one)."""
    if reference:
        try:
            return parse_reference(reference, default_tag=None)
        except InputError:
            pass
    clean = re.sub(r"[^a-z0-9._-]+", "-", fallback.lower()).strip("-._") or "image"
    return ImageReference(registry="localhost", repository=clean)
