"""Step 2 of bundle verification: the signature over the content.

A DSSE signature covers the pre-authentication encoding (PAE) of payload type and payload, never
the payload alone; a message signature covers the artifact's digest, which must also be the
digest the bundle states. Both are checked with the signer's key before anything the log or a
timestamp says is looked at.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from oci_attest.verify.evidence import ArtifactDigest, EvidenceRejected, Material, PublicKey


def verify_content(material: Material, signer_key: PublicKey,
                   artifact: ArtifactDigest | None) -> str:
    """Check the signature; returns what it covers (``"dsse"`` or ``"message-signature"``)."""
    if material.envelope is not None:
        envelope = material.envelope
        if not signature_ok(signer_key, material.signature,
                            pae(envelope.payload_type, envelope.payload)):
            raise EvidenceRejected("DSSE envelope signature is invalid: it does not verify with "
                                   "the signer's key", step="signature")
        return "dsse"
    if artifact is None:
        raise EvidenceRejected("bundle holds a message signature; the artifact (or its "
                               "digest) is needed to verify it", step="signature")
    digest = material.message_digest
    if digest is not None and (HASH_NAMES.get(digest.algorithm.value) != artifact.algorithm
                               or digest.digest != artifact.value):
        raise EvidenceRejected(f"bundle's messageDigest does not match the artifact "
                               f"({artifact})", step="signature")
    if not signature_ok(signer_key, material.signature, artifact.value,
                        prehashed=artifact.algorithm):
        raise EvidenceRejected(f"signature is invalid for the artifact {artifact}",
                               step="signature")
    return "message-signature"


HASH_NAMES = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what a DSSE signature actually covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def signature_ok(key: PublicKey, signature: bytes, data: bytes, *,
                  prehashed: str | None = None) -> bool:
    algorithms: dict[str, hashes.HashAlgorithm] = {
        "sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            if prehashed:
                return False  # ed25519 signs the message itself, not a digest
            key.verify(signature, data)
            return True
        if prehashed:
            chosen: list[Any] = [Prehashed(algorithms[prehashed])]
        elif isinstance(key, ec.EllipticCurvePublicKey):
            curve_hash = {"secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}.get(
                key.curve.name)
            chosen = [hashes.SHA256()] + ([curve_hash] if curve_hash else [])
        else:
            chosen = [hashes.SHA256()]
        for algorithm in chosen:
            try:
                if isinstance(key, ec.EllipticCurvePublicKey):
                    key.verify(signature, data, ec.ECDSA(algorithm))
                else:
                    key.verify(signature, data, padding.PKCS1v15(), algorithm)
                return True
            except InvalidSignature:
                continue
    except (InvalidSignature, ValueError):
        return False
    return False
