"""Bundle and cosign-layer verification against the local stack: the checks sigstore skips."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from oci_attest.registry.layouts import cosign_layer_from_bundle
from oci_attest.verify.bundles import EvidenceRejected, verify_bundle, verify_cosign_layer
from oci_attest.verify.trust import parse_trusted_root
from tests.fixtures.verify import provenance, statement

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def signed(signer):
    return signer.sign(statement(DIGEST, provenance()))


def root(stack, mutate=None):
    document = stack.trusted_root()
    if mutate:
        mutate(document)
    return parse_trusted_root(json.dumps(document).encode(), source="test root")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_verifies_and_names_the_signer(signer, signed):
    evidence = verify_bundle(signed, root(signer.stack))
    assert evidence.signer.subject == signer.identity()
    assert evidence.signer.get("source_repository_uri") == "https://github.com/acme/app"
    assert {t.source for t in evidence.times} == {"transparency log", "timestamp authority"}


def test_log_key_validity_window_is_enforced(signer, signed):
    def expire_logs(document):
        for log in document["tlogs"]:
            log["publicKey"]["validFor"]["end"] = iso(datetime.now(UTC) - timedelta(days=1))

    with pytest.raises(EvidenceRejected, match="outside the validity of its log key"):
        verify_bundle(signed, root(signer.stack, expire_logs))


def test_ca_validity_window_is_enforced(signer, signed):
    def expire_ca(document):
        document["certificateAuthorities"][0]["validFor"]["end"] = iso(
            datetime.now(UTC) - timedelta(days=1))

    with pytest.raises(EvidenceRejected, match="whose validity in the trusted root does not "
                                               "cover"):
        verify_bundle(signed, root(signer.stack, expire_ca))


def test_tsa_validity_end_is_inclusive(signer, signed):
    from rfc3161_client import decode_timestamp_response

    bundle = json.loads(signed)
    token = bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
    gen_time = decode_timestamp_response(base64.b64decode(token["signedTimestamp"])) \
        .tst_info.gen_time

    def end_at(moment):
        def mutate(document):
            document["timestampAuthorities"][0]["validFor"]["end"] = moment.isoformat()
        return mutate

    verify_bundle(signed, root(signer.stack, end_at(gen_time)))
    with pytest.raises(EvidenceRejected, match="outside the authority's validity"):
        verify_bundle(signed, root(signer.stack, end_at(gen_time - timedelta(seconds=1))))


def test_root_without_ct_logs_skips_the_sct_and_says_so(signer, signed):
    def drop_ct(document):
        document["ctlogs"] = []

    evidence = verify_bundle(signed, root(signer.stack, drop_ct))
    assert any("no SCT checked" in note for note in evidence.notes)


def test_cosign_layer_round_trip_and_tampering(signer, signed):
    trust = root(signer.stack)
    envelope, annotations = cosign_layer_from_bundle(signed, "https://slsa.dev/provenance/v1")
    evidence = verify_cosign_layer(envelope, annotations, trust)
    assert [t.source for t in evidence.times] == ["transparency log"]

    other = signer.sign(statement(DIGEST, provenance(ref="refs/heads/other")))
    _other_envelope, other_annotations = cosign_layer_from_bundle(other, "x")
    # This envelope with another entry's SET: the log body does not record it.
    with pytest.raises(EvidenceRejected, match="does not match the bundle"):
        verify_cosign_layer(envelope, {**annotations, "dev.sigstore.cosign/bundle":
                                       other_annotations["dev.sigstore.cosign/bundle"]}, trust)
    # A SET whose signed payload was edited.
    forged = json.loads(annotations["dev.sigstore.cosign/bundle"])
    forged["Payload"]["integratedTime"] += 1
    with pytest.raises(EvidenceRejected, match="signed entry timestamp"):
        verify_cosign_layer(envelope, {**annotations, "dev.sigstore.cosign/bundle":
                                       json.dumps(forged)}, trust)
    # The envelope's payload edited after signing.
    edited = json.loads(envelope)
    edited["payload"] = base64.b64encode(b'{"_type": "x"}').decode()
    with pytest.raises(EvidenceRejected, match="DSSE envelope signature is invalid"):
        verify_cosign_layer(json.dumps(edited).encode(), annotations, trust)
    with pytest.raises(EvidenceRejected, match="no certificate annotation"):
        verify_cosign_layer(envelope, {k: v for k, v in annotations.items()
                                       if k != "dev.sigstore.cosign/certificate"}, trust)


def test_bundle_from_another_instance_is_refused(signer, signed):
    from oci_attest.verify.trust import load_trust

    with pytest.raises(EvidenceRejected, match="not in the trusted root"):
        verify_bundle(signed, load_trust(offline=True))
