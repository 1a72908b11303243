"""Registries with the OCI 1.1 referrers API, as the spec has them and as they are in the field.

Each test starts its own devstack.referrers registry (in front of the session's distribution
registry) with the deviation it is about: no ``OCI-Subject`` on PUT, 404 for an unknown subject,
a filter that is ignored, pages on another host.
"""

from __future__ import annotations

import json

import pytest

from devstack.faultproxy import Fault, FaultProxy
from devstack.referrers import Options, ReferrersRegistry
from oci_attest.errors import RegistryError
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import RegistryClient, digest_of
from tests.registry.test_client import push_artifact
from tests.registry.test_layouts import fake_bundle

pytestmark = pytest.mark.integration
OTHER_TYPE = "application/vnd.example.signature.v1"


@pytest.fixture()
def api_subject(registry, request):
    """``api_subject(**Options)``: a referrers-API registry with those deviations, a client
    for it and a fresh subject image in it."""
    started = []

    def start(**options):
        api = ReferrersRegistry(f"http://{registry.host}", Options(**options)).start()
        started.append(api)
        client = RegistryClient(api.host)
        _, digest = push_artifact(client, "t/api", "v1", payload=request.node.name.encode())
        return api, client, parse_reference(f"{api.host}/t/api@{digest}")

    yield start
    for api in started:
        api.stop()


def push_referrer(client, ref, artifact_type: str, payload: bytes) -> str:
    """A referrer of another tool (a signature, an SBOM): not a Sigstore bundle."""
    config = client.put_blob(ref.repository, mt.EMPTY_JSON)
    layer = client.put_blob(ref.repository, payload)
    subject = client.get_manifest(ref.repository, ref.digest).descriptor
    raw = json.dumps({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": config.digest, "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": layer.digest, "size": layer.size}],
        "subject": subject.to_json(),
    }).encode()
    digest, headers = client.put_manifest(ref.repository, digest_of(raw), raw, mt.OCI_MANIFEST)
    assert headers.get("OCI-Subject") == ref.digest
    return digest


def fallback_written(api, ref) -> bool:
    return bool(api.requests("PUT", f"/manifests/{layouts.fallback_tag(ref.digest)}$"))


def test_spec_registry_indexes_and_attest_writes_no_fallback_tag(api_subject):
    api, client, ref = api_subject()
    descriptor = layouts.attach_referrer(client, ref, fake_bundle("a"), "p")
    assert not fallback_written(api, ref)
    listed = client.referrers(ref.repository, ref.digest)
    assert [d.digest for d in listed] == [descriptor.digest]
    assert listed[0].artifact_type == mt.SIGSTORE_BUNDLE_V03
    found = layouts.discover(client, ref)
    assert [(f.layout, f.via) for f in found] == [("referrer", "referrers API")]


def test_api_without_oci_subject_header_gets_the_fallback_tag_too(api_subject):
    api, client, ref = api_subject(subject_header="none")
    descriptor = layouts.attach_referrer(client, ref, fake_bundle("a"), "p")
    assert fallback_written(api, ref)
    index = client.get_manifest(ref.repository, layouts.fallback_tag(ref.digest)).json
    assert [d["digest"] for d in index["manifests"]] == [descriptor.digest]
    found = layouts.discover(client, ref)  # listed twice, found once
    assert [(f.layout, f.via) for f in found] == [("referrer", "referrers API")]


def test_oci_subject_naming_another_digest_is_not_trusted(api_subject):
    api, client, ref = api_subject(subject_header="referrer")
    descriptor = layouts.attach_referrer(client, ref, fake_bundle("a"), "p")
    assert fallback_written(api, ref)
    index = client.get_manifest(ref.repository, layouts.fallback_tag(ref.digest)).json
    assert [d["digest"] for d in index["manifests"]] == [descriptor.digest]


def test_404_for_an_unknown_digest_means_no_list_not_an_error(api_subject):
    _, client, ref = api_subject(unknown_subject="404")
    unknown = "sha256:" + "ab" * 32
    assert client.referrers(ref.repository, unknown) is None  # as without the API
    assert client.referrers(ref.repository, ref.digest) == []  # known, nothing refers to it
    assert layouts.discover(client, ref) == []
    layouts.attach_referrer(client, ref, fake_bundle("a"), "p")
    assert [f.via for f in layouts.discover(client, ref)] == ["referrers API"]


def test_an_unknown_digest_gets_an_empty_index(api_subject):
    _, client, ref = api_subject()
    assert client.referrers(ref.repository, "sha256:" + "ab" * 32) == []


def test_discovery_asks_for_bundles_so_other_referrers_do_not_use_up_the_cap(api_subject,
                                                                            monkeypatch):
    api, client, ref = api_subject(page_size=2)
    for i in range(3):
        push_referrer(client, ref, OTHER_TYPE, f"signature {i}".encode())
    layouts.attach_referrer(client, ref, fake_bundle("a"), "p")
    monkeypatch.setattr(layouts, "MAX_REFERRERS", 2)
    found = layouts.discover(client, ref)
    assert [f.predicate_type_hint for f in found] == ["p"]
    asked = api.requests("GET", "/referrers/")
    assert asked and all("artifactType=" in e.path for e in asked)


def test_filter_ignored_by_the_registry_is_applied_here(api_subject):
    api, client, ref = api_subject(apply_filters=False, page_size=2)
    others = {push_referrer(client, ref, OTHER_TYPE, f"signature {i}".encode())
              for i in range(2)}
    ours = layouts.attach_referrer(client, ref, fake_bundle("a"), "p")
    everything = client.referrers(ref.repository, ref.digest)
    assert {d.digest for d in everything} == {*others, ours.digest}
    filtered = client.referrers(ref.repository, ref.digest, mt.SIGSTORE_BUNDLE_V03)
    assert [d.digest for d in filtered] == [ours.digest]
    # The registry really answered unfiltered (without OCI-Filters-Applied).
    assert len(api.requests("GET", r"/referrers/.*artifactType=")) >= 2


def test_discovery_follows_pages_up_to_the_entry_cap(api_subject, monkeypatch):
    api, client, ref = api_subject(page_size=2)
    for i in range(5):
        layouts.attach_referrer(client, ref, fake_bundle(str(i)), f"p{i}")
    assert len(client.referrers(ref.repository, ref.digest)) == 5
    assert len(api.requests("GET", r"/referrers/.*last=")) == 2  # pages 2 and 3
    monkeypatch.setattr(layouts, "MAX_REFERRERS", 3)
    found = layouts.discover(client, ref)
    assert len(found) == 3 and {f.via for f in found} == {"referrers API"}


@pytest.fixture()
def elsewhere(registry):
    """Another host serving the same registry: a page there would even look right."""
    with FaultProxy(f"http://{registry.host}", name="elsewhere") as proxy:
        yield proxy


def test_a_page_on_another_host_is_refused(registry, elsewhere):
    with ReferrersRegistry(f"http://{registry.host}",
                           Options(page_size=1, link_base=elsewhere.url)) as api:
        client = RegistryClient(api.host)
        _, digest = push_artifact(client, "t/api", "hop", payload=b"hop")
        ref = parse_reference(f"{api.host}/t/api@{digest}")
        for i in range(2):
            layouts.attach_referrer(client, ref, fake_bundle(str(i)), f"p{i}")
        with pytest.raises(RegistryError, match="next page is on another host"):
            client.referrers(ref.repository, ref.digest)
        with pytest.raises(RegistryError, match="another host"):
            layouts.discover(client, ref)
    assert elsewhere.exchanges == []


def test_a_tag_list_page_on_another_host_is_refused(registry, elsewhere):
    """The same rule for the tag list, which pages the same way."""
    client = RegistryClient(registry.host)
    push_artifact(client, "t/hop-tags", "v1")
    with FaultProxy(f"http://{registry.host}", name="lister") as lister:
        lister.add(Fault.respond(200, b'{"name":"t/hop-tags","tags":["v1"]}', {
            "Content-Type": "application/json",
            "Link": f'<{elsewhere.url}/v2/t/hop-tags/tags/list?last=v1>; rel="next"'}),
            path="/tags/list", times=None)
        with pytest.raises(RegistryError, match="another host"):
            RegistryClient(lister.host).list_tags("t/hop-tags")
    assert elsewhere.exchanges == []


def test_a_relative_link_is_resolved_against_the_page(registry):
    """``Link: <?last=...>`` (no path) is the same list's next page, not the registry root."""
    client = RegistryClient(registry.host)
    push_artifact(client, "t/rel-tags", "v1")
    push_artifact(client, "t/rel-tags", "v2")
    with FaultProxy(f"http://{registry.host}", name="relative") as proxy:
        proxy.add(Fault.respond(200, b'{"name":"t/rel-tags","tags":["v1"]}', {
            "Content-Type": "application/json", "Link": '<?n=1&last=v1>; rel="next"'}),
            path=r"/tags/list$")
        tags = RegistryClient(proxy.host).list_tags("t/rel-tags")
        assert proxy.requests("GET", r"^/v2/t/rel-tags/tags/list\?n=1&last=v1$")
    assert "v2" in tags


def test_promote_into_an_api_without_oci_subject_writes_the_fallback_tag(registry, api_subject):
    """Promote follows the same rule as attach: no ``OCI-Subject``, so the fallback tag too
    (it used to ask the API once per referrer instead, and skip the tag)."""
    from oci_attest.promote import Copier

    source = RegistryClient(registry.host)
    _, digest = push_artifact(source, "t/promote-src", "v1", payload=b"promoted")
    ref = parse_reference(f"{registry.host}/t/promote-src@{digest}")
    ours = layouts.attach_referrer(source, ref, fake_bundle("a"), "p")
    api, client, _ = api_subject(subject_header="none")
    copier = Copier(source, "t/promote-src", client, "t/promote-dst")
    copier.copy_image(digest)
    copier.copy_all_attached(digest)
    index = client.get_manifest("t/promote-dst", layouts.fallback_tag(digest)).json
    assert [d["digest"] for d in index["manifests"]] == [ours.digest]
    assert not api.requests("GET", "/t/promote-dst/referrers/")
    found = layouts.discover(client, parse_reference(f"{api.host}/t/promote-dst@{digest}"))
    assert [(f.layout, f.via) for f in found] == [("referrer", "referrers API")]


def test_a_later_page_that_vanishes_is_an_error_not_a_missing_api(api_subject):
    """404 on page 2 is a broken listing: falling back to the (absent) tag would quietly drop
    everything page 1 listed."""
    api, _, ref = api_subject(page_size=1)
    client = RegistryClient(api.host)
    for i in range(2):
        layouts.attach_referrer(client, ref, fake_bundle(str(i)), f"p{i}")
    with FaultProxy(api.url, name="vanishing") as proxy:
        proxy.add(Fault.http(404), path=r"/referrers/.*last=", times=None)
        through = RegistryClient(proxy.host)
        with pytest.raises(RegistryError, match="page 2 of the registry's referrers list"):
            through.referrers(ref.repository, ref.digest)
        with pytest.raises(RegistryError):
            layouts.discover(through, ref)


def test_referrers_attached_before_the_registry_had_the_api_are_still_found(registry,
                                                                            api_subject):
    """Attached while the registry had no API (only the fallback tag lists them); the API,
    enabled later, does not list them. They are found through the tag, the rest through the
    API, each once."""
    _, client, ref = api_subject()
    before = RegistryClient(registry.host)  # the same storage, without the API
    old = layouts.attach_referrer(before, ref, fake_bundle("before"), "p-before")
    new = layouts.attach_referrer(client, ref, fake_bundle("after"), "p-after")
    assert [d.digest for d in client.referrers(ref.repository, ref.digest)] == [new.digest]
    found = {f.descriptor.digest: f.via for f in layouts.discover(client, ref)}
    assert found == {new.digest: "referrers API", old.digest: "fallback tag"}


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"manifests": 5}'])
def test_a_malformed_list_is_a_registry_error(api_subject, body):
    """A registry with the API that answers garbage is a registry problem (exit 5), not bad
    input from the user (exit 3) and not a registry without the API."""
    api, _, ref = api_subject()
    with FaultProxy(api.url, name="garbage") as proxy:
        proxy.add(Fault.respond(200, body, {"Content-Type": mt.OCI_INDEX}), path="/referrers/",
                  times=None)
        with pytest.raises(RegistryError) as caught:
            layouts.discover(RegistryClient(proxy.host), ref)
    assert caught.value.exit_code == 5


@pytest.mark.parametrize("with_api", [False, True], ids=["distribution", "referrers-api"])
def test_a_dangling_fallback_entry_hides_nothing(registry, api_subject, with_api):
    """The fallback tag lists a referrer that is no longer stored (deleted, expired): it is
    skipped with a warning; the others are still found, and promoted."""
    from oci_attest.promote import Copier

    api, client, ref = api_subject()
    if not with_api:
        client = RegistryClient(registry.host)
    ours = layouts.attach_referrer(client, ref, fake_bundle("kept"), "p")
    gone = layouts.attach_referrer(RegistryClient(registry.host), ref, fake_bundle("gone"), "p")
    RegistryClient(registry.host).delete_manifest(ref.repository, gone.digest)
    found = layouts.discover(client, ref)
    assert [f.descriptor.digest for f in found] == [ours.digest]
    copier = Copier(client, ref.repository, client, "t/dangling-copy")
    copier.copy_image(ref.digest)
    copier.copy_all_attached(ref.digest)
    assert copier.stats.referrers == 1
    copied = layouts.discover(client, parse_reference(f"{api.host}/t/dangling-copy@{ref.digest}"))
    assert [f.descriptor.digest for f in copied] == [ours.digest]
