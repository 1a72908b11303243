"""Bundles an attacker can forge with real keys, forged here with the local Sigstore stack.

Each forged bundle is validly logged, signed and certified in every respect but one, and a
control bundle made the same way without that one flaw verifies: so each test fails if the
verifier stops making the check it is about (these checks were covered only by the external
conformance vectors before).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sigstore._utils import sha256_digest
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.sign import SigningContext
from sigstore_models.common.v1 import HashOutput, MessageSignature

from devstack.sigstore.principals import principal_for
from oci_attest.verify.bundles import ArtifactDigest, EvidenceRejected, verify_bundle
from oci_attest.verify.trust import parse_trusted_root
from tests.fixtures.verify import provenance, statement

ARTIFACT = b"the release artifact\n"


def trust(stack):
    return parse_trusted_root(json.dumps(stack.trusted_root()).encode(), source="test root")


def certificate(stack, email: str, key: ec.EllipticCurvePrivateKey, **validity) -> x509.Certificate:
    """A certificate from the stack's CA for ``email`` and ``key``, exactly as its Fulcio
    issues them (SCT included); ``validity`` as for ``CertificateAuthority.issue``."""
    principal = principal_for("email", stack.issuer("email"),
                              stack.claims("email", identity=email))
    return stack.ca.issue(principal.san, principal.extensions, key.public_key(), **validity)


def log_and_bundle(stack, logged: x509.Certificate, shown: x509.Certificate,
                   key: ec.EllipticCurvePrivateKey, artifact: bytes = ARTIFACT) -> bytes:
    """Sign ``artifact`` with ``key``, log the signature in the stack's Rekor v1 under the
    ``logged`` certificate, and return a bundle that presents the ``shown`` one."""
    context = SigningContext.from_trust_config(
        ClientTrustConfig.from_json(stack.trust_config_json(rekor_version=1, tsa=False)))
    hashed = sha256_digest(artifact)
    signature = key.sign(hashed.digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    entry = context._rekor.create_entry(context._rekor._build_hashed_rekord_request(
        hashed_input=hashed, signature=signature, certificate=logged))
    content = MessageSignature(
        message_digest=HashOutput(algorithm=hashed.algorithm,
                                  digest=base64.b64encode(hashed.digest)),
        signature=base64.b64encode(signature))
    return Bundle._from_parts(shown, content, entry, []).to_json().encode()


def verify(stack, bundle: bytes):
    return verify_bundle(bundle, trust(stack), artifact=ArtifactDigest.of_bytes(ARTIFACT))


# ---------------------------------------------------------------- a log entry for another cert
def test_log_entry_naming_another_certificate_is_refused(sigstore_stack):
    """Fulcio certifies the same key for two identities; the signature is logged under the
    first certificate and the bundle presents the second. Signature, log entry, SET and both
    certificates are valid, but the log never recorded the identity the bundle claims."""
    key = ec.generate_private_key(ec.SECP256R1())
    logged = certificate(sigstore_stack, "someone@attest.test", key)
    claimed = certificate(sigstore_stack, "release-bot@attest.test", key)
    control = verify(sigstore_stack, log_and_bundle(sigstore_stack, claimed, claimed, key))
    assert control.signer.subject == "release-bot@attest.test"
    forged = log_and_bundle(sigstore_stack, logged, claimed, key)
    with pytest.raises(EvidenceRejected,
                       match="log entry 0 does not match the bundle: it records a different "
                             "certificate"):
        verify(sigstore_stack, forged)


# ------------------------------------------------------------------ a bad checkpoint signature
def _resign_checkpoint(bundle: bytes, signer: ec.EllipticCurvePrivateKey) -> bytes:
    """The checkpoint note re-signed by ``signer`` under the log's own key hint: the form of
    a checkpoint that an attacker without the log's key would have to present."""
    document = json.loads(bundle)
    proof = document["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    note, _, signature_lines = proof["checkpoint"]["envelope"].partition("\n\n")
    dash, origin, blob = signature_lines.strip().split(" ")
    hint = base64.b64decode(blob)[:4]
    forged = signer.sign(f"{note}\n".encode(), ec.ECDSA(hashes.SHA256()))  # note ends in \n
    proof["checkpoint"]["envelope"] = (f"{note}\n\n{dash} {origin} "
                                       f"{base64.b64encode(hint + forged).decode()}\n")
    return json.dumps(document).encode()


@pytest.mark.parametrize("rekor_version", [1, 2])
def test_checkpoint_signed_by_another_key_is_refused(signer, rekor_version):
    bundle = signer.sign(statement("sha256:" + "ab" * 32, provenance()),
                         rekor_version=rekor_version)
    material = trust(signer.stack)
    assert verify_bundle(bundle, material).signer.subject == signer.identity()
    # Re-signing with the log's real key keeps it valid: only the signature is at stake.
    log = signer.stack.rekor.v1 if rekor_version == 1 else signer.stack.rekor.v2
    assert verify_bundle(_resign_checkpoint(bundle, log.key), material)
    forged = _resign_checkpoint(bundle, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(EvidenceRejected, match=r"signed checkpoint is invalid: .*signature"):
        verify_bundle(forged, material)


# ------------------------------------------------- a certificate expired before the signature
def test_certificate_expired_before_the_signing_time_is_refused(sigstore_stack):
    """The CA issues a one-second certificate; the signature is made and logged after it has
    expired (Rekor does not check certificate lifetimes, so the entry and its SET are valid)."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = sigstore_stack.started_at
    expired = certificate(sigstore_stack, "release-bot@attest.test", key, valid_from=start,
                          lifetime=timedelta(seconds=1))
    time.sleep(max(0.0, (expired.not_valid_after_utc - start).total_seconds() + 2
                   - (time.time() - start.timestamp())))
    with pytest.raises(EvidenceRejected,
                       match=r"signing certificate \(valid .*\) was not valid at the "
                             r"transparency log time"):
        verify(sigstore_stack, log_and_bundle(sigstore_stack, expired, expired, key))
    current = certificate(sigstore_stack, "release-bot@attest.test", key)
    assert verify(sigstore_stack, log_and_bundle(sigstore_stack, current, current, key))
