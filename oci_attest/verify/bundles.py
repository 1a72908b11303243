"""Verify one piece of Sigstore evidence: a bundle, or a cosign ``.att`` layer, against a root.

Why not just ``sigstore.verify.Verifier``: it is the reference for what must be checked and we
reuse its checks (certificate chain construction, SCT verification, Merkle inclusion, signed
checkpoints, keyrings), but its orchestration refuses evidence that is valid:

* log entries of kind ``intoto`` 0.0.2 (npm provenance, the SLSA GitHub generators): the body
  differs, the certificate/SCT/SET/proof checks do not;
* bundles from instances without a transparency log (GitHub's private instance: TSA only);
* cosign's ``.att`` layout, which carries a signed entry timestamp but no inclusion proof;
* bundles signed with a managed key;
* a timestamp equal to the end of a TSA's validity (validity periods are closed intervals).

It also accepts a little it should not (trusted-root validity windows of log keys and CAs are
not applied) and often rejects for a secondary reason. So the steps are orchestrated here, in
an order chosen so that the first failing step names the actual problem:

1. parse (JSON, media type, structure), with the bundle's own chain never trusted;
2. the signature over the content (DSSE PAE or the artifact digest);
3. each log entry: from a log in the trusted root, its body consistent with the bundle,
   inclusion proof and signed checkpoint, signed entry timestamp;
4. verified times: log integrated times (under a verified SET, inside the log key's validity)
   and RFC 3161 timestamps from trusted TSAs (inside the TSA's validity, end inclusive);
5. the certificate: valid at every verified time, chaining to a trusted CA whose validity
   covers that time, its SCT (when the root lists CT logs), key usage.

Every failure raises :class:`EvidenceRejected` with one line naming what is wrong. Each step
lives in its own module so that each security-relevant check can be read alone:
``bundle_parse`` (1), ``signature`` (2), ``tlog`` (3), ``timestamps`` (4), ``certificate`` (5);
this module only orders them. The shared vocabulary is in ``evidence``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from oci_attest.verify.bundle_parse import BUNDLE_VERSIONS, parse_bundle, parse_cosign_layer
from oci_attest.verify.certificate import check_certificate
from oci_attest.verify.evidence import (
    ArtifactDigest,
    EvidenceRejected,
    Material,
    PublicKey,
    VerifiedEvidence,
    VerifiedTime,
    first_line,
)
from oci_attest.verify.identity import identity_of_certificate, identity_of_key, key_der
from oci_attest.verify.signature import verify_content
from oci_attest.verify.timestamps import MAX_TIMESTAMPS, verified_times
from oci_attest.verify.tlog import check_log_entries
from oci_attest.verify.trust import TrustMaterial

__all__ = ["BUNDLE_VERSIONS", "MAX_TIMESTAMPS", "ArtifactDigest", "EvidenceRejected",
           "PublicKey", "VerifiedEvidence", "VerifiedTime", "load_public_key", "verify_bundle",
           "verify_cosign_layer"]


# ------------------------------------------------------------------------------ entry points
def verify_bundle(raw: bytes, trust: TrustMaterial, *, key: PublicKey | None = None,
                  artifact: ArtifactDigest | None = None) -> VerifiedEvidence:
    """Verify a Sigstore bundle (v0.1-v0.3). ``artifact`` is required for message signatures."""
    with _malformed_is_rejected():
        material = parse_bundle(raw)
        return _verify(material, trust, key=key, artifact=artifact)


def verify_cosign_layer(envelope_json: bytes, annotations: Mapping[str, str],
                        trust: TrustMaterial) -> VerifiedEvidence:
    """Verify one layer of a cosign ``sha256-<hex>.att`` manifest the way cosign does (see
    :func:`~oci_attest.verify.bundle_parse.parse_cosign_layer` for what it is made of)."""
    material = parse_cosign_layer(envelope_json, annotations)
    with _malformed_is_rejected():
        return _verify(material, trust, key=None, artifact=None)


@contextmanager
def _malformed_is_rejected() -> Iterator[None]:
    """Hostile input must end as a rejection, never as a crash.

    cryptography and the timestamp decoder parse lazily, so a corrupt extension, key or
    timestamp can surface as ``ValueError`` deep inside a check; whatever the check, the
    evidence is unusable and is reported as such.
    """
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError, OverflowError,
            UnicodeDecodeError) as error:
        raise EvidenceRejected(f"malformed evidence: {type(error).__name__}: "
                               f"{first_line(error)[:200]}", step="malformed") from None


def _verify(material: Material, trust: TrustMaterial, *, key: PublicKey | None,
            artifact: ArtifactDigest | None) -> VerifiedEvidence:
    notes: list[str] = []
    # (1) who signs: the certificate, or the managed key the caller vouches for.
    if material.leaf is None:
        if key is None:
            hint = f" (hint {material.key_hint!r})" if material.key_hint else ""
            raise EvidenceRejected(f"bundle is signed with a managed key{hint} but no key was "
                                   f"given to verify it with (--key)", step="key")
        signer_key: PublicKey = key
        signer = identity_of_key(key_der(key))
    else:
        if key is not None:
            raise EvidenceRejected("a key was given (--key) but the bundle is signed with a "
                                   "certificate; verify it by identity instead", step="key")
        leaf_key = material.leaf.public_key()
        if not isinstance(leaf_key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
                          | rsa.RSAPublicKey):
            raise EvidenceRejected("signing certificate has an unsupported key type",
                                   step="signature")
        signer_key = leaf_key
        signer = identity_of_certificate(material.leaf)

    # (2) the signature over the content.
    content = verify_content(material, signer_key, artifact)
    # (3) transparency log entries.
    entry_logs = check_log_entries(material, trust, key_der(signer_key), artifact)
    # (4) verified times.
    times = verified_times(material, entry_logs, trust)
    # (5) the certificate.
    if material.leaf is not None:
        check_certificate(material.leaf, times, trust, notes)

    return VerifiedEvidence(
        content=content,
        payload_type=material.envelope.payload_type if material.envelope is not None else None,
        payload=material.envelope.payload if material.envelope is not None else None,
        signer=signer, times=tuple(times),
        log_entries=tuple(f"{log.base_url} index {entry.log_index}"
                          for entry, log in entry_logs),
        notes=tuple(notes), certificate=material.leaf)


def load_public_key(pem: bytes) -> PublicKey:
    """A managed verification key from PEM (the ``--key`` file)."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
                      | rsa.RSAPublicKey):
        raise ValueError("unsupported key type (use ECDSA, Ed25519 or RSA)")
    return key
