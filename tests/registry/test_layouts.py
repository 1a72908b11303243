"""Attaching and discovering attestations in a real registry, in both layouts."""

import base64
import json
import threading

import pytest

from devstack.referrers import ReferrersRegistry
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import RegistryClient
from tests.fixtures.services import REGISTRY_KINDS, registry_of_kind
from tests.registry.test_client import push_artifact

pytestmark = pytest.mark.integration
#: Run a test against distribution 2.8 (fallback tag) and the referrers API.
both_registries = pytest.mark.parametrize("registry", REGISTRY_KINDS, indirect=True)


@pytest.fixture()
def registry(request):
    return registry_of_kind(request)


def has_api(registry) -> bool:
    return isinstance(registry, ReferrersRegistry)


def fake_bundle(marker: str) -> bytes:
    """Bundle-shaped JSON; these tests are about storage, signatures are tested elsewhere."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=t"))
            .issuer_name(x509.Name.from_rfc4514_string("CN=t")).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now)
            .sign(key, hashes.SHA256()))
    del name
    payload = base64.b64encode(json.dumps({"marker": marker}).encode()).decode()
    return json.dumps({
        "mediaType": mt.SIGSTORE_BUNDLE_V03,
        "verificationMaterial": {
            "certificate": {"rawBytes": base64.b64encode(cert.public_bytes(Encoding.DER)).decode()},
            "tlogEntries": [{"logIndex": "7", "logId": {"keyId": base64.b64encode(b"\x01" * 32).decode()},
                             "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                             "integratedTime": "1700000000",
                             "inclusionPromise": {"signedEntryTimestamp": "c2V0"},
                             "canonicalizedBody": "Ym9keQ=="}],
        },
        "dsseEnvelope": {"payload": payload, "payloadType": mt.IN_TOTO,
                         "signatures": [{"sig": "c2ln", "keyid": ""}]},
    }).encode()


@pytest.fixture()
def subject(registry, request):
    client = RegistryClient(registry.host)
    _, digest = push_artifact(client, "t/subject", "v1", payload=request.node.name.encode())
    return client, parse_reference(f"{registry.host}/t/subject@{digest}")


@both_registries
def test_referrer_layout_round_trip(subject, registry):
    client, ref = subject
    bundle = fake_bundle("one")
    descriptor = layouts.attach_referrer(client, ref, bundle, "https://slsa.dev/provenance/v1")
    if has_api(registry):
        # The registry indexes the subject itself: no fallback tag is written.
        assert client.head_manifest(ref.repository, layouts.fallback_tag(ref.digest)) is None
        listed = client.referrers(ref.repository, ref.digest)
        assert listed is not None
        entry = listed[0].to_json()
    else:
        index = client.get_manifest(ref.repository, layouts.fallback_tag(ref.digest))
        entry = index.json["manifests"][0]
    assert entry["digest"] == descriptor.digest
    assert entry["artifactType"] == mt.SIGSTORE_BUNDLE_V03
    assert entry["annotations"][mt.ANNOTATION_BUNDLE_PREDICATE] == "https://slsa.dev/provenance/v1"
    referrer = client.get_manifest(ref.repository, descriptor.digest).json
    assert referrer["subject"]["digest"] == ref.digest
    assert referrer["config"]["mediaType"] == mt.OCI_EMPTY
    found = [f for f in layouts.discover(client, ref) if f.layout == "referrer"]
    assert [f.bundle for f in found] == [bundle]
    assert [f.via for f in found] == ["referrers API" if has_api(registry) else "fallback tag"]


@both_registries
def test_cosign_att_layout_appends(subject):
    client, ref = subject
    layouts.attach_cosign_att(client, ref, fake_bundle("a"), "https://slsa.dev/provenance/v1")
    layouts.attach_cosign_att(client, ref, fake_bundle("b"), "https://cyclonedx.org/bom")
    manifest = client.get_manifest(ref.repository, layouts.cosign_att_tag(ref.digest)).json
    assert len(manifest["layers"]) == 2
    annotations = manifest["layers"][0]["annotations"]
    assert annotations[mt.ANNOTATION_COSIGN_SIGNATURE] == ""
    assert annotations[mt.ANNOTATION_COSIGN_CERTIFICATE].startswith("-----BEGIN CERTIFICATE")
    set_payload = json.loads(annotations[mt.ANNOTATION_COSIGN_BUNDLE])["Payload"]
    assert set_payload["logIndex"] == 7 and set_payload["logID"] == "01" * 32
    found = [f for f in layouts.discover(client, ref) if f.layout == "cosign-att"]
    assert {f.predicate_type_hint for f in found} == {"https://slsa.dev/provenance/v1",
                                                      "https://cyclonedx.org/bom"}


@both_registries
def test_existing_referrers_are_kept(subject, registry):
    client, ref = subject
    for i in range(3):  # more than one page of the API's answer
        layouts.attach_referrer(client, ref, fake_bundle(str(i)), f"p{i}")
    found = [f for f in layouts.discover(client, ref) if f.layout == "referrer"]
    assert {f.predicate_type_hint for f in found} == {"p0", "p1", "p2"}
    if has_api(registry):
        pages = registry.requests("GET", f"/referrers/{ref.digest}.*[?&]last=")
        assert pages, "the second page was never asked for"
        assert client.head_manifest(ref.repository, layouts.fallback_tag(ref.digest)) is None


@both_registries
def test_concurrent_writers_both_land(subject, registry):
    _, ref = subject
    errors = []

    def attach(i):
        try:
            client = RegistryClient(registry.host)
            layouts.attach_referrer(client, ref, fake_bundle(f"c{i}"), f"p{i}")
            layouts.attach_cosign_att(client, ref, fake_bundle(f"c{i}"), f"p{i}")
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=attach, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    found = layouts.discover(RegistryClient(registry.host), ref)
    for layout in ("referrer", "cosign-att"):
        assert {f.predicate_type_hint for f in found if f.layout == layout} == \
            {f"p{i}" for i in range(4)}


def test_a_referrer_naming_another_subject_is_ignored(subject, registry):
    """Fallback tag only: a registry with the API lists referrers by their own subject."""
    client, ref = subject
    _, other = push_artifact(client, "t/subject", "other", payload=b"other image")
    other_ref = parse_reference(f"{registry.host}/t/subject@{other}")
    descriptor = layouts.attach_referrer(client, other_ref, fake_bundle("x"), "p")
    # Someone copies the other image's referrer into this image's fallback index.
    layouts.add_to_fallback_index(client, ref.repository, ref.digest, descriptor)
    assert [f for f in layouts.discover(client, ref) if f.layout == "referrer"] == []
