"""Log entries bound to their bundle and proof; bundles that mean one thing to every reader.

Real bundles from the local Sigstore stack, altered the way an attacker would (the signed
parts stay intact), and certificates made here for the byte-exact body comparison.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from oci_attest.verify.bundles import ArtifactDigest, EvidenceRejected, verify_bundle
from oci_attest.verify.evidence import Entry, Material
from oci_attest.verify.tlog import check_body
from oci_attest.verify.trust import parse_trusted_root
from tests.fixtures.verify import provenance, statement

DIGEST = "sha256:" + "ab" * 32
WHITESPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20]


def root(stack):
    return parse_trusted_root(json.dumps(stack.trusted_root()).encode(), source="test root")


def certificate_ending_in(last: int) -> x509.Certificate:
    """A leaf whose DER encoding ends in ``last`` (the signature's last byte varies: retry)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "leaf")])
    now = datetime.now(UTC)
    for serial in range(1, 20_000):
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(serial)
                .not_valid_before(now).not_valid_after(now + timedelta(minutes=10))
                .sign(key, hashes.SHA256()))
        if cert.public_bytes(serialization.Encoding.DER)[-1] == last:
            return cert
    raise AssertionError(f"no certificate ending in {last:#04x}")


@pytest.mark.parametrize("last", WHITESPACE, ids=[f"{b:#04x}" for b in WHITESPACE])
def test_rekor_v2_entry_with_der_ending_in_whitespace_matches(last):
    """Rekor v2 records the certificate as raw DER: its last byte must not be stripped."""
    cert = certificate_ending_in(last)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert der[-1] == last
    artifact = ArtifactDigest.parse(DIGEST)
    signature = b"\x30\x06signature"
    body = {"kind": "hashedrekord", "apiVersion": "0.0.2", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_256", "digest": base64.b64encode(artifact.value).decode()},
        "signature": {"content": base64.b64encode(signature).decode(),
                      "verifier": {"x509Certificate": {
                          "rawBytes": base64.b64encode(der).decode()}}}}}}
    entry = Entry(position=0, log_index=0, log_id=b"log", kind="hashedrekord",
                  version="0.0.2", integrated_time=None, body=json.dumps(body).encode(),
                  promise=None, proof=None)
    material = Material(label="bundle v0.3", version="0.3", leaf=cert, key_hint=None,
                        envelope=None, signature=signature, message_digest=None,
                        entries=[entry], timestamps=[], requires_proof=True)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    check_body(entry, material, spki, artifact)  # raises when the log names another signer


def test_log_index_without_a_signed_entry_timestamp_must_match_the_proof(signer):
    raw = signer.sign(statement(DIGEST, provenance()), rekor_version=2)
    verify_bundle(raw, root(signer.stack))  # as signed: valid
    bundle = json.loads(raw)
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    assert "inclusionPromise" not in entry  # Rekor v2: the proof alone binds the index
    entry["logIndex"] = "999999"
    with pytest.raises(EvidenceRejected, match="states log index 999999, but its inclusion "
                                               "proof is for index"):
        verify_bundle(json.dumps(bundle).encode(), root(signer.stack))


@pytest.mark.parametrize("key", ["dsseEnvelope", "verificationMaterial", "mediaType"])
def test_bundle_with_a_key_given_twice_is_rejected(signer, key):
    raw = signer.sign(statement(DIGEST, provenance()))
    decoy = {"dsseEnvelope": {"payload": "e30=", "payloadType": "x", "signatures": []},
             "verificationMaterial": {}, "mediaType": "x"}[key]
    doubled = ('{' + json.dumps(key) + ":" + json.dumps(decoy) + ","
               + raw.decode().lstrip()[1:]).encode()
    with pytest.raises(EvidenceRejected, match=f"duplicate JSON key '{key}'"):
        verify_bundle(doubled, root(signer.stack))


def test_statement_with_two_subject_keys_is_not_evidence(signer):
    """Signed and logged, but a first-key reader sees another image: not evidence."""
    from oci_attest.verify.judge import Evidence, examine
    from oci_attest.verify.policy import IdentityRule, Policy

    payload = ('{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":'
               '{"sha256":"' + "cd" * 32 + '"}}],"subject":[{"name":"x","digest":{"sha256":"'
               + "ab" * 32 + '"}}],"predicateType":"https://slsa.dev/provenance/v1",'
               '"predicate":{"a":1}}').encode()
    policy = Policy(identities=(IdentityRule(issuer=signer.issuer,
                                             subject=signer.identity()),))
    examined = examine(Evidence(location="b", layout="file", bundle=signer.sign(payload)),
                       ArtifactDigest.parse(DIGEST), policy, root(signer.stack))
    assert examined.rejection is not None
    assert "duplicate JSON key 'subject'" in examined.rejection


def test_rekor_v2_entries_record_raw_der(signer):
    """The local Rekor v2 writes the kind checked above, with the certificate as raw DER."""
    bundle = json.loads(signer.sign(statement(DIGEST, provenance()), rekor_version=2))
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    assert (body["kind"], body["apiVersion"]) == ("hashedrekord", "0.0.2")
    recorded = body["spec"]["hashedRekordV002"]["signature"]["verifier"]["x509Certificate"]
    der = base64.b64decode(recorded["rawBytes"])
    assert der == base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    assert x509.load_der_x509_certificate(der)  # DER, not PEM: no byte of it may be dropped
