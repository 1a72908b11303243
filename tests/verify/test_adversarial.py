"""Adversarial end-to-end verification: the real engine, registry and local Sigstore stack.

Each attack must end in exit 1 with a reason that names the problem; the honest image must
pass, in every layout. Statements are made and signed here (not by ``attest build``) so these
tests exercise the verifier alone.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from devstack.referrers import ReferrersRegistry
from oci_attest.cli import cli
from oci_attest.registry.client import RegistryClient
from tests.fixtures.services import REGISTRY_KINDS, registry_of_kind
from tests.fixtures.verify import (
    CYCLONEDX,
    GITHUB_HOSTED,
    REPOSITORY,
    provenance,
    sbom,
    statement,
)

pytestmark = pytest.mark.integration
#: Layout-sensitive checks run against distribution 2.8 and a registry with the referrers API.
both_registries = pytest.mark.parametrize("registry", REGISTRY_KINDS, indirect=True)


@pytest.fixture()
def registry(request):
    return registry_of_kind(request)


def verify(image: str, *args: str) -> tuple[int, dict, str]:
    result = CliRunner().invoke(cli, ["verify", image, "--format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout), result.stderr


def reasons(report: dict) -> str:
    return " | ".join([c["reason"] for c in report["checks"] if not c["passed"]]
                      + [a["rejection"] or "" for a in report["attestations"]])


#: Without accepted provenance, the presence check fails and so does every configured rule
#: (reported as "could not be evaluated", never left out).
NOT_EVALUATED = ["provenance.present", "provenance.builder-id", "provenance.source-repository",
                 "provenance.clean-tree"]


def failed(report: dict) -> list[str]:
    return [c["name"] for c in report["checks"] if c["enforced"] and not c["passed"]]


@pytest.fixture()
def policy_flags(signer):
    return [*signer.flags(), "--builder-id", GITHUB_HOSTED, "--source-repo", REPOSITORY,
            "--require-clean-tree"]


@pytest.fixture()
def attested(make_image, signer):
    """An honest image: provenance and SBOM, signed by acme/app's workflow, both layouts."""
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance())), layout="both")
    image.attach(signer.sign(statement(image.digest, sbom([
        ("libssl3", "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?upstream=openssl")]),
        CYCLONEDX)), CYCLONEDX)
    return image


@both_registries
def test_honest_image_passes_in_every_layout(attested, policy_flags, registry):
    code, report, stderr = verify(attested.tagged, *policy_flags, "--require-sbom",
                                  "--deny-component", "pkg:deb/debian/openssl@vers:deb/<3.0.15")
    assert code == 0, reasons(report)
    route = "referrers API" if isinstance(registry, ReferrersRegistry) else "fallback tag"
    assert report["discovery"][0] == f"2 bundle referrers (via {route})"
    assert report["digest"] == attested.digest  # the tag was resolved first
    assert attested.digest in stderr
    layouts = {a["layout"] for a in report["attestations"] if a["accepted"]}
    assert layouts == {"referrer", "cosign-att"}
    names = {c["name"] for c in report["checks"] if c["enforced"]}
    assert {"provenance.present", "provenance.builder-id", "provenance.source-repository",
            "provenance.clean-tree", "provenance.source-signer", "provenance.builder-signer",
            "sbom.present", "sbom.denied-components"} <= names
    passing = next(c for c in report["checks"] if c["name"] == "provenance.present")
    assert passing["attestation"] and REPOSITORY in passing["identity"]


def test_cosign_att_alone_is_enough(make_image, signer, policy_flags):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance())), layout="cosign")
    code, report, _ = verify(image.pinned, *policy_flags)
    assert code == 0, reasons(report)
    assert [a["layout"] for a in report["attestations"]] == ["cosign-att"]


def test_rekor_v2_bundle_with_timestamp_passes(make_image, signer, policy_flags):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance()), rekor_version=2))
    code, report, _ = verify(image.pinned, *policy_flags)
    assert code == 0, reasons(report)
    assert report["attestations"][0]["times"][0]["source"] == "timestamp authority"


@both_registries
def test_another_images_attestation_copied_onto_this_one(make_image, signer, policy_flags):
    original, victim = make_image(), make_image()
    bundle = signer.sign(statement(original.digest, provenance()))
    victim.attach(bundle)
    code, report, _ = verify(victim.pinned, *policy_flags)
    assert code == 1
    assert failed(report) == NOT_EVALUATED
    assert f"statement is about {original.digest}, not {victim.digest}" in reasons(report)


def test_tag_moved_to_another_digest(make_image, attested, signer, policy_flags):
    """The tag that was verified now names an image without (valid) evidence."""
    code, report, _ = verify(attested.tagged, *policy_flags)
    assert code == 0, reasons(report)
    impostor = make_image(tag="impostor")
    client = attested.client
    moved = client.get_manifest(impostor.ref.repository, impostor.digest)
    client.put_manifest(attested.ref.repository, attested.ref.tag, moved.raw, moved.media_type)
    # The attacker also copies the old evidence next to the new digest.
    for found in _bundles_of(attested):
        impostor.attach(found)
    code, report, _stderr = verify(attested.tagged, *policy_flags)
    assert code == 1
    assert report["digest"] == impostor.digest != attested.digest
    assert f"statement is about {attested.digest}, not {impostor.digest}" in reasons(report)


def _bundles_of(image):
    from oci_attest.registry import layouts

    return [f.bundle for f in layouts.discover(image.client, image.ref.without_tag())
            if f.bundle is not None]


def test_payload_changed_after_signing(make_image, signer, policy_flags):
    image = make_image()
    bundle = json.loads(signer.sign(statement(image.digest, provenance())))
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload["predicate"]["runDetails"]["builder"]["id"] = "https://evil.example/builder"
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    image.attach(json.dumps(bundle).encode(), layout="both")
    code, report, _ = verify(image.pinned, *policy_flags)
    assert code == 1
    assert failed(report) == NOT_EVALUATED
    rejections = [a["rejection"] for a in report["attestations"]]
    assert len(rejections) == 2
    assert all("DSSE envelope signature is invalid" in r for r in rejections)


def test_valid_signature_from_the_wrong_identity(make_image, signer, policy_flags):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance(
        source="https://github.com/evil/app")), repository="evil/app"))
    code, report, _ = verify(image.pinned, *policy_flags)
    assert code == 1
    text = reasons(report)
    assert "which is not a trusted identity" in text and "evil/app" in text


def test_statement_claiming_a_builder_it_was_not_built_by(make_image, signer, policy_flags):
    image = make_image()
    # Signed from a self-hosted runner, but the provenance claims a GitHub-hosted one.
    image.attach(signer.sign(statement(image.digest, provenance()),
                             runner_environment="self-hosted"))
    code, report, _ = verify(image.pinned, *policy_flags)
    assert code == 1
    assert "provenance.builder-signer" in failed(report)
    assert ("claims builder https://github.com/actions/runner/github-hosted (github-hosted) but "
            "the signing certificate was issued to a self-hosted runner") in reasons(report)


def test_statement_naming_a_builder_that_is_not_allowed(make_image, signer, policy_flags):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance(
        builder_id="https://evil.example/builder"))))
    code, report, _ = verify(image.pinned, *policy_flags)
    assert code == 1
    assert failed(report) == ["provenance.builder-id"]
    assert "builder https://evil.example/builder is not an allowed builder" in reasons(report)


def test_provenance_naming_another_source_repository(make_image, signer, policy_flags):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance(
        source="https://github.com/evil/fork"))))
    code, report, _ = verify(image.pinned, *policy_flags)
    assert code == 1
    assert set(failed(report)) == {"provenance.source-signer", "provenance.source-repository"}
    text = reasons(report)
    assert "provenance names source https://github.com/evil/fork" in text
    assert "source https://github.com/evil/fork (externalParameters.source) is not allowed" in text


def test_image_with_no_attestations(make_image, signer, policy_flags):
    image = make_image()
    code, report, _ = verify(image.tagged, *policy_flags)
    assert code == 1
    assert report["attestations"] == []
    assert f"no attestations found for {image.digest}" in reasons(report)


def test_image_with_only_unsigned_buildkit_attestations(make_index, signer, policy_flags):
    index = make_index(buildkit_statement=statement("sha256:" + "0" * 64, provenance()))
    code, report, _ = verify(index.pinned, *policy_flags)
    assert code == 1
    assert [a["layout"] for a in report["attestations"]] == ["buildkit"]
    assert report["attestations"][0]["signed"] is False
    assert "only unsigned BuildKit attestations were found" in reasons(report)


def test_dirty_tree_old_build_and_base_images(make_image, signer, policy_flags):
    image = make_image()
    old = datetime.now(UTC) - timedelta(days=40)
    image.attach(signer.sign(statement(image.digest, provenance(
        dirty=True, finished=old, base_images=[
            {"uri": "pkg:docker/evil.example/base@1?platform=linux%2Famd64",
             "digest": {"sha256": "cd" * 32}, "name": "evil.example/base:1"},
            {"uri": "pkg:docker/debian@bookworm?platform=linux%2Famd64",
             "name": "debian:bookworm"}]))))
    code, report, _ = verify(image.pinned, *policy_flags, "--max-age", "30d",
                             "--allowed-base-registry", "docker.io", "--require-pinned-base")
    assert code == 1
    assert set(failed(report)) == {"provenance.clean-tree", "provenance.max-age",
                                   "provenance.base-image-registries",
                                   "provenance.base-images-pinned"}
    text = reasons(report)
    assert "built from a dirty tree" in text
    assert "older than the maximum age 30d" in text
    assert "evil.example/base:1 comes from evil.example" in text
    assert "debian:bookworm is not pinned" in text


def test_base_image_of_unknown_origin_is_not_from_an_allowed_registry(make_image, signer,
                                                                      policy_flags):
    """A base image whose purl cannot be parsed has no known registry: an allow-list of
    registries must refuse it, not wave it through because there is nothing to compare."""
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance(base_images=[
        {"uri": "pkg:docker/evil base@1?x", "digest": {"sha256": "cd" * 32},
         "name": "evil.example/base:1"}]))))
    code, report, _ = verify(image.pinned, *policy_flags, "--allowed-base-registry", "docker.io")
    assert code == 1
    assert failed(report) == ["provenance.base-image-registries"]
    assert "comes from an unknown registry, which is not allowed (docker.io)" in reasons(report)


def test_sbom_denied_component_and_missing_sbom(make_image, signer, policy_flags):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance())))
    code, report, _ = verify(image.pinned, *policy_flags, "--require-sbom")
    assert code == 1 and failed(report) == ["sbom.present"]
    image.attach(signer.sign(statement(image.digest, sbom([
        ("libssl3", "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?upstream=openssl"),
        ("pyyaml", "pkg:pypi/PyYAML@6.0.1")]), CYCLONEDX)), CYCLONEDX)
    code, report, _ = verify(image.pinned, *policy_flags, "--require-sbom", "--deny-component",
                             "pkg:deb/debian/openssl@vers:deb/<3.0.15")
    assert code == 1 and failed(report) == ["sbom.denied-components"]
    assert "libssl3@3.0.11-1~deb12u2" in reasons(report)
    assert "version 3.0.11-1~deb12u2 is in pkg:deb/debian/openssl@vers:deb/<3.0.15" in \
        reasons(report)


def test_policy_file_with_several_identities(make_image, signer, tmp_path):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance(
        source="https://github.com/acme/other")), repository="acme/other"))
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""
version: 1
trust:
  trustConfig: {signer.trust_config}
identities:
  - name: app release workflow
    issuer: {signer.issuer}
    subject: {signer.identity()}
  - name: other repository
    issuer: {signer.issuer}
    subjectRegexp: 'https://github\\.com/acme/other/\\.github/workflows/.*'
    sourceRepository: acme/other
provenance:
  builderIds: [{GITHUB_HOSTED}]
  sourceRepositories: ["github.com/acme/*"]
  sourceRefs: ["refs/heads/main"]
  requireCleanTree: true
""")
    code, report, _ = verify(image.pinned, "--policy", str(policy))
    assert code == 0, reasons(report)
    accepted = [a for a in report["attestations"] if a["accepted"]]
    assert accepted[0]["trustedIdentity"] == "other repository"
    # Flags narrow every identity of the file: now nothing from acme/other is trusted.
    code, report, _ = verify(image.pinned, "--policy", str(policy), "--source-repo", "acme/app")
    assert code == 1
    assert "certificate source repository is 'https://github.com/acme/other'" in reasons(report)


def test_registry_unreachable_is_not_a_verdict(signer):
    from devstack.services import free_port

    result = CliRunner().invoke(cli, ["verify", f"127.0.0.1:{free_port()}/app:1",
                                      *signer.flags()])
    assert result.exit_code == 5, result.output
    assert result.stdout == ""


def test_multi_platform_verify_by_platform(make_index, signer, policy_flags):
    index = make_index()
    manifest = RegistryClient(index.ref.registry).get_manifest(index.ref.repository, index.digest)
    amd64 = manifest.manifests()[0].digest
    platform_image = index.ref.with_digest(amd64)
    from tests.fixtures.verify import Image

    Image(ref=platform_image, client=index.client).attach(
        signer.sign(statement(amd64, provenance())))
    code, report, _ = verify(index.pinned, *policy_flags, "--platform", "linux/amd64")
    assert code == 0, reasons(report)
    assert report["digest"] == amd64
    code, report, _ = verify(index.pinned, *policy_flags)
    assert code == 1  # the index itself carries no evidence
