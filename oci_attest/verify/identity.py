"""Who signed: the identity a Fulcio certificate (or a managed key) binds to a signature.

The cryptographic checks (chain, SCT, log) say *that* a certificate is genuine; the policy then
asks *whose* it is. Keeping the extraction separate from the matching lets the report name the
signer of every attestation, including the ones a policy rejects, which is what a person needs
to see when a signature from the wrong workflow shows up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

_FULCIO = "1.3.6.1.4.1.57264.1."
_OTHERNAME_USERNAME = "1.3.6.1.4.1.57264.1.7"

#: Fulcio certificate extensions by OID suffix: (name, DER-encoded UTF8String?).
#: The 1.1-1.6 extensions predate the DER encoding and hold raw bytes.
FULCIO_EXTENSIONS: dict[str, tuple[str, bool]] = {
    "1": ("issuer_v1", False),
    "2": ("github_workflow_trigger", False),
    "3": ("github_workflow_sha", False),
    "4": ("github_workflow_name", False),
    "5": ("github_workflow_repository", False),
    "6": ("github_workflow_ref", False),
    "8": ("issuer", True),
    "9": ("build_signer_uri", True),
    "10": ("build_signer_digest", True),
    "11": ("runner_environment", True),
    "12": ("source_repository_uri", True),
    "13": ("source_repository_digest", True),
    "14": ("source_repository_ref", True),
    "15": ("source_repository_identifier", True),
    "16": ("source_repository_owner_uri", True),
    "17": ("source_repository_owner_identifier", True),
    "18": ("build_config_uri", True),
    "19": ("build_config_digest", True),
    "20": ("build_trigger", True),
    "21": ("run_invocation_uri", True),
    "22": ("source_repository_visibility", True),
}


@dataclass(frozen=True)
class SignerIdentity:
    """The signer of one attestation, as shown in reports and matched by policies."""

    kind: str  # "certificate" | "key"
    subject: str  # SAN of the certificate, or "sha256:<fingerprint>" of a key
    issuer: str | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.extensions.get(name)

    def describe(self) -> str:
        if self.kind == "key":
            return f"key {self.subject}"
        return f"{self.subject} (issuer {self.issuer or 'unknown'})"

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "subject": self.subject, "issuer": self.issuer,
                "extensions": dict(self.extensions)}


def identity_of_certificate(cert: x509.Certificate) -> SignerIdentity:
    """SAN, OIDC issuer and every Fulcio extension, decoded."""
    extensions: dict[str, str] = {}
    for ext in cert.extensions:
        dotted = ext.oid.dotted_string
        if not dotted.startswith(_FULCIO):
            continue
        known = FULCIO_EXTENSIONS.get(dotted[len(_FULCIO):])
        if known is None or not isinstance(ext.value, x509.UnrecognizedExtension):
            continue
        name, der = known
        value = _der_utf8(ext.value.value) if der else _raw_text(ext.value.value)
        if value is not None:
            extensions[name] = value
    issuer = extensions.get("issuer") or extensions.get("issuer_v1")
    return SignerIdentity(kind="certificate", subject=_san(cert) or "", issuer=issuer,
                          extensions=extensions)


def identity_of_key(public_key_der: bytes) -> SignerIdentity:
    fingerprint = hashlib.sha256(public_key_der).hexdigest()
    return SignerIdentity(kind="key", subject=f"sha256:{fingerprint}")


def key_der(key: object) -> bytes:
    """SubjectPublicKeyInfo DER of a public key (what key fingerprints are taken over)."""
    return key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _san(cert: x509.Certificate) -> str | None:
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return None
    assert isinstance(san, x509.SubjectAlternativeName)
    for name in san:
        if isinstance(name, x509.UniformResourceIdentifier | x509.RFC822Name):
            return str(name.value)
        if isinstance(name, x509.OtherName) and name.type_id.dotted_string == _OTHERNAME_USERNAME:
            decoded = _der_utf8(name.value)
            if decoded is not None:
                return decoded
    return None


def _raw_text(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _der_utf8(value: bytes) -> str | None:
    """Decode a DER UTF8String (tag 0x0c); None for anything else."""
    if len(value) < 2 or value[0] != 0x0C:
        return None
    length = value[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(value) < 2 + count:
            return None
        length = int.from_bytes(value[2:2 + count], "big")
        offset = 2 + count
    if offset + length != len(value):
        return None
    return _raw_text(value[offset:])
