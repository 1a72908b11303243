"""`attest mirror` between two real registries, signing with the local Sigstore stack."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.faultproxy import Fault, FaultProxy
from oci_attest.mirror.evidence import MIRROR_BUILD_TYPE
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.client import RegistryClient
from tests.fixtures.verify import provenance, statement

pytestmark = pytest.mark.integration

MIRROR_IDENTITY = "mirror-bot@attest.test"


def attest(*args: str, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "oci_attest", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


@pytest.fixture()
def signing(sigstore_stack, sigstore_trust_config):
    """The mirror job's signing flags, and the flags that verify its evidence."""
    token = sigstore_stack.mint_token(MIRROR_IDENTITY)
    sign = ["--trust-config", str(sigstore_trust_config), "--identity-token", token]
    verify = ["--trust-config", str(sigstore_trust_config),
              "--certificate-identity", MIRROR_IDENTITY,
              "--certificate-oidc-issuer", str(sigstore_stack.issuer()),
              "--build-type", MIRROR_BUILD_TYPE]
    return sign, verify


def _statements(client, ref):
    """The in-toto statement (a dict) inside every bundle or envelope found for ``ref``."""
    statements = []
    for found in layouts.discover(client, ref):
        envelope = (json.loads(found.bundle)["dsseEnvelope"] if found.bundle is not None
                    else json.loads(found.envelope or b"{}"))
        if "payload" in envelope:
            statements.append((found.layout, json.loads(base64.b64decode(envelope["payload"]))))
    return statements


def test_mirror_copies_by_digest_with_upstream_evidence_and_attaches_its_own(
        make_image, signer, second_registry, signing):
    upstream = make_image("upstream/app", tag="1.0")
    upstream.attach(signer.sign(statement(upstream.digest, provenance())), layout="both")
    sign_flags, verify_flags = signing
    destination = f"{second_registry.host}/mirror/app"

    done = attest("mirror", upstream.tagged, destination, *sign_flags, "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["destination"] == f"{destination}:1.0@{upstream.digest}"
    dst_client = RegistryClient(second_registry.host)
    assert dst_client.resolve(parse_reference(f"{destination}:1.0")).digest == upstream.digest
    copied = dst_client.get_manifest("mirror/app", upstream.digest)
    assert copied.raw == upstream.client.get_manifest("upstream/app", upstream.digest).raw

    # The upstream attestation came along and still verifies under the upstream signer.
    upstream_check = attest("verify", f"{destination}:1.0", *signer.flags())
    assert upstream_check.returncode == 0, upstream_check.stdout + upstream_check.stderr

    # The mirror's own evidence verifies under the mirror job's identity, SBOM included.
    mirror_check = attest("verify", f"{destination}:1.0", *verify_flags, "--require-sbom",
                          "--format", "json")
    assert mirror_check.returncode == 0, mirror_check.stdout + mirror_check.stderr
    verdict = json.loads(mirror_check.stdout)
    accepted = [a for a in verdict["attestations"] if a["accepted"]]
    assert {a["predicateType"] for a in accepted} == {"https://slsa.dev/provenance/v1",
                                                     "https://cyclonedx.org/bom"}
    ours = [s for _, s in _statements(dst_client, parse_reference(f"{destination}@"
                                                                  f"{upstream.digest}"))
            if s["predicateType"] == "https://slsa.dev/provenance/v1"
            and s["predicate"]["buildDefinition"]["buildType"] == MIRROR_BUILD_TYPE]
    assert len(ours) == 2  # referrer and cosign .att layouts
    dependency = ours[0]["predicate"]["buildDefinition"]["resolvedDependencies"][0]
    assert dependency == {"uri": f"oci://{upstream.tagged}@{upstream.digest}",
                          "name": "upstream",
                          "digest": {"sha256": upstream.digest.split(":", 1)[1]}}

    # A second run finds the tag already mirrored and changes nothing.
    before = len(layouts.discover(dst_client, parse_reference(f"{destination}@"
                                                              f"{upstream.digest}")))
    again = attest("mirror", upstream.tagged, destination, *sign_flags)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    after = len(layouts.discover(dst_client, parse_reference(f"{destination}@"
                                                             f"{upstream.digest}")))
    assert after == before


def test_a_failing_upstream_policy_copies_nothing(make_image, signer, second_registry, signing):
    unsigned = make_image("upstream/unsigned", tag="2")
    sign_flags, _ = signing
    destination = f"{second_registry.host}/mirror/refused"
    done = attest("mirror", unsigned.tagged, destination, *signer.flags(), *sign_flags[2:])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nothing was copied" in done.stderr
    assert RegistryClient(second_registry.host).list_tags("mirror/refused") == []


def test_an_index_is_mirrored_whole_with_evidence_on_every_platform(make_index,
                                                                    second_registry, signing):
    index = make_index("upstream/multi")
    sign_flags, verify_flags = signing
    destination = f"{second_registry.host}/mirror/multi"
    done = attest("mirror", f"{index.ref.name}:{index.ref.tag}", destination, *sign_flags)
    assert done.returncode == 0, done.stderr
    dst_client = RegistryClient(second_registry.host)
    top = dst_client.get_manifest("mirror/multi", index.digest)
    assert top.is_index and top.raw == index.client.get_manifest("upstream/multi",
                                                                 index.digest).raw
    for platform in ("linux/amd64", "linux/arm64"):
        checked = attest("verify", f"{destination}:{index.ref.tag}", "--platform", platform,
                         *verify_flags, "--require-sbom")
        assert checked.returncode == 0, checked.stdout + checked.stderr
    whole = attest("verify", f"{destination}:{index.ref.tag}", *verify_flags)
    assert whole.returncode == 0, whole.stdout + whole.stderr


def test_config_sync_plans_mirrors_moves_and_resumes_without_copying_twice(
        make_image, registry, second_registry, signing, tmp_path):
    sign_flags, verify_flags = signing
    v1 = make_image("upstream/synced", tag="1.27.0")
    v2 = make_image("upstream/synced", tag="1.27.1")
    make_image("upstream/synced", tag="1.26.9")  # not matched by the pattern
    with FaultProxy(f"http://{second_registry.host}", name="mirror-dst") as proxy:
        config = tmp_path / "mirrors.yaml"
        config.write_text(
            "mirrors:\n"
            f"  - source: {registry.host}/upstream/synced\n"
            f"    destination: {proxy.host}/mirror/synced\n"
            "    tags: ['1.27.*']\n")
        planned = attest("mirror", "--config", str(config), "--dry-run", "--format", "json")
        assert planned.returncode == 0, planned.stderr
        assert [(p["source"].rsplit(":", 1)[1], p["action"])
                for p in json.loads(planned.stdout)] == [("1.27.0", "mirror"),
                                                         ("1.27.1", "mirror")]
        # The first sync dies when it tags 1.27.1: everything before the tag is already there.
        proxy.add(Fault.http(500), r"/v2/mirror/synced/manifests/1\.27\.1$", method="PUT",
                  times=None)
        failed = attest("mirror", "--config", str(config), *sign_flags)
        assert failed.returncode == 5, failed.stderr
        assert "1 of 2 mirror copies failed" in failed.stderr
        proxy.clear()
        proxy.reset_log()
        resumed = attest("mirror", "--config", str(config), *sign_flags)
        assert resumed.returncode == 0, resumed.stderr
        image_blobs = {d.digest for d in v2.client.get_manifest("upstream/synced",
                                                                v2.digest).layers()}
        uploads = [e for e in proxy.requests(method="PUT") if "/blobs/uploads/" in e.path
                   and any(b in e.path for b in image_blobs)]
        assert uploads == []  # the layers copied before the fault are not copied again
        assert "up to date: " in resumed.stderr  # 1.27.0 was complete
        for tagged in ("1.27.0", "1.27.1"):
            checked = attest("verify", f"{proxy.host}/mirror/synced:{tagged}", *verify_flags)
            assert checked.returncode == 0, checked.stdout + checked.stderr

        # The upstream tag moves: only that tag is mirrored again.
        moved = make_image("upstream/synced")
        manifest = moved.client.get_manifest("upstream/synced", moved.digest)
        moved.client.put_manifest("upstream/synced", "1.27.0", manifest.raw, manifest.media_type)
        replanned = attest("mirror", "--config", str(config), "--dry-run", "--format", "json")
        assert [p["action"] for p in json.loads(replanned.stdout)] == ["mirror", "skip"]
        synced = attest("mirror", "--config", str(config), *sign_flags)
        assert synced.returncode == 0, synced.stderr
        dst = RegistryClient(second_registry.host)
        assert dst.resolve(parse_reference(f"{second_registry.host}/mirror/synced:1.27.0")
                           ).digest == moved.digest
        assert v1.digest != moved.digest


def test_bad_config_is_an_input_error(tmp_path):
    config = tmp_path / "mirrors.yaml"
    config.write_text("mirrors:\n  - source: a.example/x\n    destination: b.example/y\n"
                      "    tags: ['1']\n    tag: oops\n")
    done = attest("mirror", "--config", str(config), "--dry-run")
    assert done.returncode == 3
    assert "unknown key 'tag'" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["mirror", "--config"], ["admit", "check", "-", "--config"]])
def test_a_config_that_is_not_text_is_bad_input_not_a_crash(tmp_path, command):
    config = tmp_path / "config.yaml"
    config.write_bytes(b"\xff\xfe\x00binary")
    done = subprocess.run([sys.executable, "-m", "oci_attest", *command, str(config)],
                          capture_output=True, text=True, input="", timeout=120)
    assert done.returncode == 3, done.stderr
    assert "is not UTF-8 text" in done.stderr and "Traceback" not in done.stderr
