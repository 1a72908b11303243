"""What a registry stores, as attest handles it: descriptors, manifests kept byte for byte, and
digest checks. Everything read from a registry is refused unless it hashes to the digest it was
asked for by; nothing here talks to the network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oci_attest.errors import DigestMismatch, InputError
from oci_attest.reference import parse_digest
from oci_attest.registry import media_types as mt

#: distribution refuses manifests above 4 MiB; so do we, before parsing a hostile one.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
#: Attestation blobs (bundles, statements, SBOMs) we are willing to hold in memory.
MAX_SMALL_BLOB_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor (the fields attest uses, plus anything else verbatim)."""

    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                                "size": self.size}
        if self.artifact_type:
            data["artifactType"] = self.artifact_type
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        if self.platform:
            data["platform"] = dict(self.platform)
        return data

    @classmethod
    def from_json(cls, data: Any) -> Descriptor:
        if not isinstance(data, dict):
            raise InputError("descriptor is not a JSON object")
        try:
            media_type = data["mediaType"]
            digest = parse_digest(str(data["digest"]))
            size = data["size"]
        except KeyError as error:
            raise InputError(f"malformed descriptor: no {error}") from None
        if not isinstance(media_type, str) or not media_type or len(media_type) > 255:
            raise InputError(f"descriptor {digest} has a malformed mediaType")
        if isinstance(size, bool) or not isinstance(size, int):
            raise InputError(f"descriptor {digest} has a size that is not an integer")
        if size < 0:
            raise InputError(f"descriptor {digest} has a negative size")
        annotations = data.get("annotations") or {}
        platform = data.get("platform")
        if not isinstance(annotations, dict) or (platform is not None
                                                 and not isinstance(platform, dict)):
            raise InputError(f"descriptor {digest} has malformed annotations or platform")
        artifact_type = data.get("artifactType")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise InputError(f"descriptor {digest} has a malformed artifactType")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            artifact_type=str(artifact_type) if artifact_type else None,
            annotations={str(k): str(v) for k, v in annotations.items()},
            platform=platform,
        )


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry stored it; ``digest`` is of ``raw``, verified."""

    raw: bytes
    media_type: str
    digest: str

    @property
    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.raw)
        except (ValueError, RecursionError):
            raise InputError(f"manifest {self.digest} is not valid JSON") from None
        if not isinstance(data, dict):
            raise InputError(f"manifest {self.digest} is not a JSON object")
        return data

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.raw))

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEX_TYPES

    def layers(self) -> list[Descriptor]:
        return [Descriptor.from_json(d) for d in as_list(self.json.get("layers"), "layers")]

    def manifests(self) -> list[Descriptor]:
        return [Descriptor.from_json(d) for d in as_list(self.json.get("manifests"), "manifests")]

    def config(self) -> Descriptor:
        return Descriptor.from_json(self.json.get("config"))


def as_list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"manifest field {name!r} is not a list")
    return value


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify_digest(data: bytes, digest: str, what: str) -> None:
    """Refuse content that does not hash to the digest it was asked for by."""
    algorithm = digest.split(":", 1)[0]
    if algorithm not in ("sha256", "sha512"):
        raise DigestMismatch(f"{what}: unsupported digest algorithm in {digest}")
    actual = digest_of(data, algorithm)
    if actual != digest:
        raise DigestMismatch(
            f"{what}: content hashes to {actual}, not {digest}",
            hint="the registry or something between us served altered content; do not use it",
        )
