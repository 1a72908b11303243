"""An attacker floods an image with referrers: verification reads each thing once, stops
listing at the entry cap, and fails closed at the byte cap instead of running out of memory.
(Memory and time are measured by bench/referrer_flood.py, not asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from devstack.faultproxy import Fault
from devstack.referrerflood import flood
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import RegistryClient
from oci_attest.verify.policy import PolicyFlags, combine
from tests.registry.test_client import push_artifact
from tests.registry.test_layouts import fake_bundle

pytestmark = pytest.mark.integration

IDENTITY = ["--certificate-identity", "x@example.com",
            "--certificate-oidc-issuer", "https://issuer.example"]


@pytest.fixture()
def target(registry_proxy, monkeypatch, request):
    monkeypatch.setenv("ATTEST_RETRY_ATTEMPTS", "2")
    registry_proxy.clear()
    registry_proxy.reset_log()
    client = RegistryClient(registry_proxy.host)
    repository = f"flood/{request.node.name.replace('_', '-')[:40]}"
    _, digest = push_artifact(client, repository, "v1", payload=request.node.name.encode())
    yield client, parse_reference(f"{registry_proxy.host}/{repository}@{digest}")
    registry_proxy.clear()


@pytest.fixture(scope="module")
def sigstore_trust(sigstore_trust_config):
    from oci_attest.verify.trust import load_trust

    return load_trust(trusted_root=None, trust_config=sigstore_trust_config, offline=True)


def _policy():
    return combine(None, PolicyFlags(certificate_identity="x@example.com",
                                     certificate_oidc_issuer="https://issuer.example"),
                   key_given=False)


def test_many_referrers_sharing_one_blob_read_it_once(target, registry_proxy, sigstore_trust):
    from oci_attest.verify.image import verify_image

    client, subject = target
    flood(client, subject, 40, 2 * 1024 * 1024)
    registry_proxy.reset_log()
    result = verify_image(str(subject), _policy(), trust=sigstore_trust)
    assert not result.verdict.passed
    blob_reads = [e for e in registry_proxy.requests("GET", "/blobs/")]
    assert len(blob_reads) == 1, [e.path for e in blob_reads]
    # The judged attestations keep no bytes once examined.
    # only the (small, read-capped) manifests promotion copies are kept, never bundle bytes
    assert all(f.bundle is None and f.envelope is None for f in result.found)


def test_duplicate_index_entries_are_read_once(target, registry_proxy):
    client, subject = target
    [one] = flood(client, subject, 1, 1024)
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [one.to_json()] * 50}
    digest = subject.digest
    assert digest is not None
    registry_proxy.add(Fault.respond(200, json.dumps(index).encode(),
                                     {"Content-Type": mt.OCI_INDEX}),
                       rf"/manifests/{layouts.fallback_tag(digest)}$", method="GET|HEAD",
                       times=None)
    registry_proxy.reset_log()
    found = layouts.discover(client, subject)
    assert len(found) == 1
    assert len(registry_proxy.requests("GET", f"/manifests/{one.digest}")) == 1


def test_the_byte_cap_fails_the_verification_with_exit_3(target, registry_proxy,
                                                         sigstore_trust_config):
    client, subject = target
    flood(client, subject, 12, 1024 * 1024, shared_blob=False)
    env = {**os.environ, "ATTEST_MAX_READ_BYTES": str(4 * 1024 * 1024)}
    done = subprocess.run(
        [sys.executable, "-m", "oci_attest", "verify", str(subject), *IDENTITY,
         "--trust-config", str(sigstore_trust_config)],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 3, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("attest:")]
    assert len(errors) == 1 and "4194304 bytes" in errors[0] and "ATTEST_MAX_READ_BYTES" in \
        errors[0], done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "oci_attest", "verify", str(subject), *IDENTITY,
         "--trust-config", str(sigstore_trust_config), "--max-read-bytes", "2000000"],
        capture_output=True, text=True, env={**os.environ}, timeout=300)
    assert done.returncode == 3 and "2000000 bytes" in done.stderr, done.stderr


def test_the_referrers_pager_stops_at_the_entry_cap(target, registry_proxy):
    client, subject = target
    digest = subject.digest
    per_page = 400
    for page in range(1, 6):
        entries = [{"mediaType": mt.OCI_MANIFEST, "digest": f"sha256:{page:02d}{n:062x}",
                    "size": 10, "artifactType": "application/x-other"}
                   for n in range(per_page)]
        headers = {"Content-Type": mt.OCI_INDEX}
        if page < 5:
            headers["Link"] = f'</v2/{subject.repository}/referrers/{digest}?p={page + 1}>; ' \
                              'rel="next"'
        path = rf"/referrers/{digest}\?p={page}$" if page > 1 else rf"/referrers/{digest}$"
        registry_proxy.add(Fault.respond(200, json.dumps({
            "schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}).encode(),
            headers), path, method="GET", times=None)
    listed = layouts.referrer_descriptors(client, subject.repository, digest)
    assert {via for _, via in listed} == {"referrers API"}
    assert len(listed) == layouts.MAX_REFERRERS
    pages = registry_proxy.requests("GET", "/referrers/")
    assert len(pages) == 3, [e.path for e in pages]


def test_a_dangling_referrer_entry_is_skipped_not_fatal(target, registry_proxy):
    """Anyone who can push can list a referrer that does not exist; it must not stop the
    verification (nor make it exit "not found") while real evidence sits next to it."""
    client, subject = target
    digest = subject.digest
    assert digest is not None
    good = layouts.attach_referrer(client, subject, fake_bundle("good"), "https://x.example/g")
    dangling = {"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + "d" * 64, "size": 100,
                "artifactType": mt.SIGSTORE_BUNDLE_V03}
    index = client.get_manifest(subject.repository, layouts.fallback_tag(digest))
    entries = [dangling, *json.loads(index.raw)["manifests"]]
    registry_proxy.add(Fault.respond(200, json.dumps({
        "schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}).encode(),
        {"Content-Type": mt.OCI_INDEX}), rf"/manifests/{layouts.fallback_tag(digest)}$",
        method="GET|HEAD", times=None)
    found = layouts.discover(client, subject)
    assert [f.descriptor.digest for f in found] == [good.digest]
