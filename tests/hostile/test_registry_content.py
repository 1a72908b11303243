"""Hostile registry answers: content that does not match its digest, malformed or huge
manifests, lying headers, endless pages. Served by the fault proxy in front of the real
registry (crafted bytes on chosen requests, the real registry for everything else)."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack.faultproxy import Fault
from oci_attest.cli import cli
from oci_attest.errors import DigestMismatch, InputError, RegistryError
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import MAX_MANIFEST_BYTES, Descriptor, RegistryClient, digest_of
from tests.registry.test_client import push_artifact
from tests.registry.test_layouts import fake_bundle

pytestmark = pytest.mark.integration


@pytest.fixture()
def hostile(registry_proxy, monkeypatch):
    monkeypatch.setenv("ATTEST_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("ATTEST_ATTACH_SETTLE", "0.01")
    registry_proxy.clear()
    client = RegistryClient(registry_proxy.host)
    raw, digest = push_artifact(client, "hostile/img", "v1", payload=b"hostile image")
    yield registry_proxy, client, raw, digest
    registry_proxy.clear()


def serve(proxy, path, body, *, method="GET", content_type=mt.OCI_MANIFEST, headers=None):
    proxy.add(Fault.respond(200, body, {"Content-Type": content_type, **(headers or {})}),
              path, method=method, times=None)


def test_a_manifest_that_does_not_match_its_digest_is_refused(hostile):
    proxy, client, raw, digest = hostile
    serve(proxy, rf"/manifests/{digest}$", raw + b"\n")
    with pytest.raises(DigestMismatch):
        client.get_manifest("hostile/img", digest)


def test_a_tag_whose_digest_header_lies_is_refused(hostile):
    proxy, client, raw, _ = hostile
    serve(proxy, r"/manifests/v1$", raw, headers={"Docker-Content-Digest": "sha256:" + "0" * 64})
    with pytest.raises(DigestMismatch):
        client.get_manifest("hostile/img", "v1")


def test_a_blob_that_does_not_match_its_digest_is_refused(hostile):
    proxy, client, raw, _ = hostile
    layer = json.loads(raw)["layers"][0]
    serve(proxy, rf"/blobs/{layer['digest']}$", b"tampered image", content_type="text/plain")
    with pytest.raises(DigestMismatch):
        client.get_blob("hostile/img", layer["digest"])
    with client.open_blob("hostile/img", layer["digest"]) as reader, \
            pytest.raises(DigestMismatch):
        while reader.read(4):
            pass


def test_a_blob_longer_than_its_descriptor_is_cut_off(hostile):
    proxy, client, raw, _ = hostile
    layer = json.loads(raw)["layers"][0]
    serve(proxy, rf"/blobs/{layer['digest']}$", b"x" * 10_000_000,
          content_type="application/octet-stream")
    tracemalloc.start()
    try:
        with client.open_blob("hostile/img", layer["digest"], size=layer["size"]) as reader, \
                pytest.raises(DigestMismatch):
            while reader.read(65536):
                pass
        assert tracemalloc.get_traced_memory()[1] < 8 * 1024 * 1024
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("body", [
    b"not json at all", b"[1, 2, 3]", b"[" * 100_000 + b"]" * 100_000,
    json.dumps({"schemaVersion": 2, "layers": "nope"}).encode(),
    json.dumps({"schemaVersion": 2, "layers": [{"digest": "sha256:zz", "size": -1}]}).encode(),
    json.dumps({"schemaVersion": 2, "config": {"mediaType": 1, "digest": "x", "size": 1e999}})
    .encode().replace(b"1e999", b"Infinity"),
])
def test_malformed_manifests_are_input_errors(hostile, body):
    proxy, client, _, _ = hostile
    serve(proxy, r"/manifests/bad$", body)
    with pytest.raises(InputError):
        manifest = client.get_manifest("hostile/img", "bad")
        manifest.layers()
        manifest.config()


def test_a_huge_manifest_is_refused_without_buffering_it(hostile):
    proxy, client, _, _ = hostile
    serve(proxy, r"/manifests/huge$", b" " * (MAX_MANIFEST_BYTES + 1))
    with pytest.raises(InputError, match="allowed"):
        client.get_manifest("hostile/img", "huge")


def test_lying_head_headers_are_registry_errors(hostile):
    proxy, client, _, _ = hostile
    proxy.add(Fault.respond(200, b"", {"Docker-Content-Digest": "sha256:../../etc",
                                       "Content-Length": "12"}),
              r"/manifests/lying$", method="HEAD", times=None)
    with pytest.raises(RegistryError):
        client.head_manifest("hostile/img", "lying")


def test_endless_tag_pages_stop(hostile):
    proxy, client, _, _ = hostile
    serve(proxy, r"/tags/list", b'{"tags": ["a"]}', content_type="application/json",
          headers={"Link": '</v2/hostile/img/tags/list?n=1>; rel="next"'})
    with pytest.raises(RegistryError, match="do not end"):
        client.list_tags("hostile/img")


def test_discovery_skips_hostile_referrers_and_keeps_the_good_one(hostile):
    proxy, client, _, digest = hostile
    ref = parse_reference(f"{proxy.host}/hostile/img@{digest}")
    good = layouts.attach_referrer(client, ref, fake_bundle("good"), "https://x.example/good")
    # Referrers that must not count: about another image, pointing at missing or tampered
    # content, and index entries that are not descriptors at all.
    _, other = push_artifact(client, "hostile/img", "other", payload=b"other image")
    elsewhere = layouts.attach_referrer(client, parse_reference(
        f"{proxy.host}/hostile/img@{other}"), fake_bundle("elsewhere"), "https://x.example/o")
    tampered = layouts.attach_referrer(client, parse_reference(
        f"{proxy.host}/hostile/img@{other}"), fake_bundle("tampered"), "https://x.example/t")
    index = client.get_manifest("hostile/img", layouts.fallback_tag(digest))
    entries = json.loads(index.raw)["manifests"] + [
        elsewhere.to_json(), tampered.to_json(), {"digest": "nope"}, "a string", None,
        {"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": True}]
    raw = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                      "manifests": entries}).encode()
    serve(proxy, rf"/manifests/{layouts.fallback_tag(digest)}$", raw, method="GET|HEAD",
          content_type=mt.OCI_INDEX)  # a registry would refuse to store this index itself
    serve(proxy, rf"/manifests/{tampered.digest}$", b'{"artifactType": "tampered"}')
    serve(proxy, r"/manifests/sha256-[0-9a-f]{64}\.att$", b"{not json")
    found = layouts.discover(client, ref)
    assert [(f.layout, f.descriptor.digest) for f in found] == [("referrer", good.digest)]


def test_cli_reports_tampered_content_in_one_line(hostile):
    proxy, _client, raw, digest = hostile
    serve(proxy, rf"/manifests/{digest}$", raw + b" ")
    result = CliRunner().invoke(cli, ["scan-secrets", f"{proxy.host}/hostile/img@{digest}"])
    assert result.exit_code == 5, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith("attest: digest mismatch:")
    assert digest_of(raw) == digest


@settings(max_examples=400, deadline=None)
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                              st.text(max_size=20),
                              st.just("sha256:" + "a" * 64)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(
                        st.sampled_from(["mediaType", "digest", "size", "annotations",
                                         "platform", "artifactType", "x"]), inner, max_size=6)),
                    max_leaves=20))
def test_descriptor_parsing_raises_only_input_errors(document):
    try:
        descriptor = Descriptor.from_json(document)
    except InputError:
        return
    assert descriptor.size >= 0 and descriptor.digest.startswith("sha256:")
    assert Descriptor.from_json(descriptor.to_json()) == descriptor
