"""The vocabulary shared by the bundle-verification steps: what is verified, what it proves.

``Material`` is a bundle or cosign layer after parsing (nothing in it is trusted yet);
``VerifiedEvidence`` is what survives every step. Kept apart so that each step module
(``bundle_parse``, ``signature``, ``tlog``, ``timestamps``, ``certificate``) depends only on
these types and not on the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sigstore_models.common import v1 as common_v1
from sigstore_models.rekor import v1 as rekor_v1

from oci_attest.verify.identity import SignerIdentity

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


class EvidenceRejected(Exception):
    """One bundle or layer failed verification; ``reason`` is the one line to show."""

    def __init__(self, reason: str, *, step: str) -> None:
        super().__init__(reason)
        self.reason = " ".join(reason.split())
        self.step = step


@dataclass(frozen=True)
class ArtifactDigest:
    """The digest evidence is checked against (``sha256:<hex>`` or ``sha512:<hex>``)."""

    algorithm: str
    value: bytes

    @classmethod
    def parse(cls, text: str) -> ArtifactDigest:
        algorithm, sep, hexvalue = text.partition(":")
        sizes = {"sha256": 32, "sha384": 48, "sha512": 64}
        if not sep or algorithm not in sizes:
            raise ValueError(f"invalid digest {text!r}: use sha256:<hex> or sha512:<hex>")
        try:
            value = bytes.fromhex(hexvalue)
        except ValueError:
            raise ValueError(f"invalid digest {text!r}: not hexadecimal") from None
        if len(value) != sizes[algorithm] or hexvalue != hexvalue.lower():
            raise ValueError(f"invalid digest {text!r}: wrong length or not lowercase hex")
        return cls(algorithm, value)

    @classmethod
    def of_bytes(cls, data: bytes, algorithm: str = "sha256") -> ArtifactDigest:
        return cls(algorithm, hashlib.new(algorithm, data).digest())

    @property
    def hex(self) -> str:
        return self.value.hex()

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


@dataclass(frozen=True)
class VerifiedTime:
    source: str  # "transparency log" | "timestamp authority"
    time: datetime

    def describe(self) -> str:
        return f"{self.source} time {self.time.isoformat()}"


@dataclass(frozen=True)
class VerifiedEvidence:
    """What a verified bundle proves: this payload (or artifact) was signed by this signer."""

    content: str  # "dsse" | "message-signature"
    payload_type: str | None
    payload: bytes | None
    signer: SignerIdentity
    times: tuple[VerifiedTime, ...]
    log_entries: tuple[str, ...]
    notes: tuple[str, ...] = ()
    certificate: x509.Certificate | None = field(default=None, compare=False)

    @property
    def signed_at(self) -> datetime:
        """The earliest verified time: when the signature existed at the latest."""
        return min(t.time for t in self.times)


@dataclass
class Entry:
    """One transparency log entry as the bundle states it (checked in ``tlog``)."""

    position: int
    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int | None
    body: bytes
    promise: bytes | None
    proof: rekor_v1.InclusionProof | None


@dataclass
class Material:
    """A parsed bundle or cosign layer: everything the later steps check, none of it trusted."""

    label: str
    version: str
    leaf: x509.Certificate | None
    key_hint: str | None
    envelope: Any  # sigstore_models.intoto.Envelope (payload, payload_type, signatures)
    signature: bytes
    message_digest: common_v1.HashOutput | None
    entries: list[Entry]
    timestamps: list[bytes]
    requires_proof: bool


def first_line(error: BaseException) -> str:
    """An exception as one short line (library messages span lines and run long)."""
    text = " ".join(str(a) for a in error.args) if error.args else str(error)
    return " ".join(text.split())[:300]
