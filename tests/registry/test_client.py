"""The registry client against a real distribution registry."""

import json

import pytest

from oci_attest.errors import RegistryError
from oci_attest.reference import parse_reference
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import RegistryClient, digest_of

pytestmark = pytest.mark.integration


def push_artifact(client, repository, tag, payload=b"hello"):
    config = client.put_blob(repository, mt.EMPTY_JSON)
    layer = client.put_blob(repository, payload)
    manifest = {
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": config.digest, "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": layer.digest, "size": layer.size}],
    }
    raw = json.dumps(manifest).encode()
    digest, _ = client.put_manifest(repository, tag, raw, mt.OCI_MANIFEST)
    return raw, digest


def test_manifests_round_trip_byte_for_byte(registry):
    client = RegistryClient(registry.host)
    raw, digest = push_artifact(client, "t/roundtrip", "v1")
    fetched = client.get_manifest("t/roundtrip", "v1")
    assert fetched.raw == raw and fetched.digest == digest == digest_of(raw)
    assert client.get_manifest("t/roundtrip", digest).raw == raw
    resolved = client.resolve(parse_reference(f"{registry.host}/t/roundtrip:v1"))
    assert resolved.digest == digest
    assert "v1" in client.list_tags("t/roundtrip")


def test_blobs_are_verified_and_streamed(registry):
    client = RegistryClient(registry.host)
    data = bytes(range(256)) * 10_000
    descriptor = client.put_blob("t/blobs", data)
    assert client.get_blob("t/blobs", descriptor.digest) == data
    with client.open_blob("t/blobs", descriptor.digest) as reader:
        chunks = []
        while chunk := reader.read(65536):
            chunks.append(chunk)
    assert b"".join(chunks) == data


def test_missing_things_are_registry_errors_with_hints(registry):
    client = RegistryClient(registry.host)
    with pytest.raises(RegistryError) as caught:
        client.resolve(parse_reference(f"{registry.host}/t/absent:nope"))
    assert caught.value.exit_code == 8 and caught.value.hint  # not 5: retrying will not help
    assert client.head_manifest("t/absent", "nope") is None


def test_distribution_has_no_referrers_api(registry):
    client = RegistryClient(registry.host)
    _, digest = push_artifact(client, "t/ref", "v1")
    assert client.referrers("t/ref", digest) is None


def test_unreachable_registry_is_a_registry_error(monkeypatch):
    monkeypatch.setenv("ATTEST_RETRY_ATTEMPTS", "2")
    from devstack.services import free_port
    client = RegistryClient(f"127.0.0.1:{free_port()}")
    with pytest.raises(RegistryError, match="kept failing"):
        client.head_manifest("x/y", "latest")


def test_retry_after_is_honoured_over_the_plain_backoff(registry):
    """A 429 asking for a second's patience gets it, though the backoff alone would be ~10 ms.

    The wait is measured where it happens: between the arrivals of the two requests at a real
    HTTP proxy in front of the registry.
    """
    from devstack.faultproxy import Fault, FaultProxy
    from oci_attest._internal.retry import RetryPolicy

    push_artifact(RegistryClient(registry.host), "t/retry-after", "v1")
    with FaultProxy(f"http://{registry.host}", name="registry") as proxy:
        proxy.add(Fault.http(429, retry_after="1"), r"^/v2/t/retry-after/manifests/v1$",
                  method="GET", times=1)
        client = RegistryClient(proxy.host, retry=RetryPolicy(attempts=3, base_delay=0.01,
                                                              max_delay=0.02))
        assert client.get_manifest("t/retry-after", "v1").digest
        tries = proxy.requests("GET", r"^/v2/t/retry-after/manifests/v1$")
    assert [t.status for t in tries] == [429, 200]
    assert tries[1].received - tries[0].received >= 0.95
