"""The producer steps on their own and the pipeline's recovery, on real parts."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from click.testing import CliRunner
from cryptography import x509
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier, policy

from devstack.referrers import ReferrersRegistry
from oci_attest.cli import cli
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.client import RegistryClient
from tests.fixtures.services import REGISTRY_KINDS, registry_of_kind

pytestmark = pytest.mark.integration
IDENTITY = "release-bot@attest.test"


@pytest.fixture()
def registry(request):
    """Distribution, or (for tests parametrized with it) a registry with the referrers API."""
    return registry_of_kind(request)


def attest(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def verified_statement(trust_config, bundle_json, identity, issuer):
    trust = ClientTrustConfig.from_json(trust_config.read_text())
    _, payload = Verifier(trusted_root=trust.trusted_root).verify_dsse(
        Bundle.from_json(bundle_json), policy.Identity(identity=identity, issuer=issuer))
    return json.loads(payload)


def test_provenance_for_release_files(scratch_project, sigstore_stack, sigstore_trust_config,
                                      tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "app-1.0.tar.gz").write_bytes(b"release bytes")
    result = attest("provenance", "--subject", dist / "app-1.0.tar.gz", "-C", scratch_project,
                    "--trust-config", sigstore_trust_config,
                    "--identity-token", sigstore_stack.mint_token(IDENTITY))
    assert result.exit_code == 0, result.output
    bundle = (dist / "app-1.0.tar.gz.sigstore.json").read_bytes()
    statement = verified_statement(sigstore_trust_config, bundle, IDENTITY,
                                   sigstore_stack.issuer())
    assert statement["subject"] == [{"name": "app-1.0.tar.gz", "digest": {
        "sha256": hashlib.sha256(b"release bytes").hexdigest()}}]
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert deps[0]["uri"] == "git+https://github.example.test/acme/scratch@refs/heads/main"


@pytest.mark.parametrize("registry", REGISTRY_KINDS, indirect=True)
def test_unsigned_build_then_sign_then_attach(scratch_project, registry, sigstore_stack,
                                              sigstore_trust_config, tmp_path):
    out = tmp_path / "out"
    built = attest("build", scratch_project, "-t", f"{registry.host}/split/app:1", "--no-sign",
                   "--no-sbom", "-o", out)
    assert built.exit_code == 0, built.output
    assert "NOT signed" in built.stderr
    image = parse_reference(built.stdout.strip().splitlines()[-1])
    client = RegistryClient(registry.host)
    assert layouts.discover(client, image) == []

    signed = attest("sign", out / "provenance.intoto.json", "--trust-config",
                    sigstore_trust_config, "--identity-token", sigstore_stack.mint_token(IDENTITY))
    assert signed.exit_code == 0, signed.output
    bundle = out / "provenance.sigstore.json"
    assert bundle.exists()

    attached = attest("attach", f"{registry.host}/split/app:1", bundle)
    assert attached.exit_code == 0, attached.output
    assert attached.stdout.strip() == image.pinned()
    assert {f.layout for f in layouts.discover(client, image)} == {"referrer", "cosign-att"}
    # With the referrers API, the registry indexes the referrer: no fallback tag is written.
    fallback = client.head_manifest(image.repository, layouts.fallback_tag(image.digest))
    assert (fallback is None) is isinstance(registry, ReferrersRegistry)


def test_attach_refuses_evidence_about_another_image(scratch_project, registry, sigstore_stack,
                                                     sigstore_trust_config, tmp_path):
    out = tmp_path / "out"
    assert attest("build", scratch_project, "-t", f"{registry.host}/split/one:1", "--no-sbom",
                  "--trust-config", sigstore_trust_config, "--identity-token",
                  sigstore_stack.mint_token(IDENTITY), "-o", out).exit_code == 0
    (scratch_project / "msg.txt").write_text("another image\n")
    other = attest("build", scratch_project, "-t", f"{registry.host}/split/two:1", "--no-sbom",
                   "--no-sign")
    assert other.exit_code == 0, other.output
    refused = attest("attach", f"{registry.host}/split/two:1", out / "provenance.sigstore.json")
    assert refused.exit_code == 1
    assert "about another artifact" in refused.stderr


def test_a_failed_signing_step_resumes_without_rebuilding(scratch_project, registry,
                                                         sigstore_stack, sigstore_trust_config,
                                                         tmp_path):
    out = tmp_path / "out"
    expired = sigstore_stack.mint_token(IDENTITY, lifetime=-60)
    failed = attest("build", scratch_project, "-t", f"{registry.host}/resume/app:1", "--no-sbom",
                    "--trust-config", sigstore_trust_config, "--identity-token", expired,
                    "-o", out)
    assert failed.exit_code == 6, failed.output
    assert "expired" in failed.stderr and f"--resume {out}" in failed.stderr
    assert expired not in failed.stderr
    state = json.loads((out / "state.json").read_text())
    pushed = state["steps"]["push"][f"{registry.host}/resume/app:1"]
    resumed = attest("build", "--resume", out, "--identity-token",
                     sigstore_stack.mint_token(IDENTITY))
    assert resumed.exit_code == 0, resumed.output
    assert "building the image" not in resumed.stderr
    assert "pushing" not in resumed.stderr
    assert resumed.stdout.strip().endswith(pushed)
    found = layouts.discover(RegistryClient(registry.host),
                             parse_reference(f"{registry.host}/resume/app@{pushed}"))
    assert len(found) == 2
    again = attest("build", "--resume", out)
    assert again.exit_code == 0 and "signing provenance" not in again.stderr


def test_github_actions_run_uses_ambient_credentials(scratch_project, registry, sigstore_stack,
                                                     sigstore_trust_config, tmp_path):
    env = sigstore_stack.github_actions_env(repository="acme/scratch", ref="refs/heads/main")
    out = tmp_path / "out"
    result = attest("build", scratch_project, "-t", f"{registry.host}/gha/app:1", "--no-sbom",
                    "--trust-config", sigstore_trust_config, "-o", out, env=env)
    assert result.exit_code == 0, result.output
    statement = json.loads((out / "provenance.intoto.json").read_text())
    run = statement["predicate"]["runDetails"]
    assert run["builder"]["id"] == "https://github.com/actions/runner/github-hosted"
    assert run["metadata"]["invocationId"] == (
        f"https://github.com/acme/scratch/actions/runs/{env['GITHUB_RUN_ID']}/attempts/"
        f"{env['GITHUB_RUN_ATTEMPT']}")
    identity = sigstore_stack.expected_identity("github", repository="acme/scratch",
                                                ref="refs/heads/main")
    bundle = json.loads((out / "provenance.sigstore.json").read_text())
    cert = x509.load_der_x509_certificate(
        base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"]))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    assert uris == [identity]
    assert identity.startswith("https://github.com/acme/scratch/.github/workflows/")


def test_gitlab_run_uses_sigstore_id_token(scratch_project, registry, sigstore_stack,
                                           sigstore_trust_config, tmp_path):
    env = sigstore_stack.gitlab_env()
    out = tmp_path / "out"
    result = attest("build", scratch_project, "-t", f"{registry.host}/gitlab/app:1", "--no-sbom",
                    "--trust-config", sigstore_trust_config, "-o", out, env=env)
    assert result.exit_code == 0, result.output
    statement = json.loads((out / "provenance.intoto.json").read_text())
    assert statement["predicate"]["buildDefinition"]["internalParameters"]["ci"]["platform"] == \
        "gitlab-ci"
    assert "/-/runners/" in statement["predicate"]["runDetails"]["builder"]["id"]


def test_bad_inputs_exit_with_documented_codes(scratch_project, registry, tmp_path):
    assert attest("build", scratch_project).exit_code == 2  # no -t
    bad = attest("build", scratch_project, "-t", "Bad Ref")
    assert bad.exit_code == 3 and "Traceback" not in bad.output
    unreachable = attest("build", scratch_project, "-t", "127.0.0.1:9/x/y:1", "--no-sign",
                         "--no-sbom", env={"ATTEST_RETRY_ATTEMPTS": "1"})
    assert unreachable.exit_code == 5, unreachable.output
    (scratch_project / "dirty.txt").write_text("x")
    dirty = attest("build", scratch_project, "-t", f"{registry.host}/x/y:1", "--require-clean")
    assert dirty.exit_code == 3 and "uncommitted" in dirty.stderr


def test_a_failure_before_the_build_leaves_nothing_to_resume(scratch_project, registry):
    (scratch_project / "Dockerfile").write_text("FROM ${UNSET}\n")
    import glob
    import tempfile
    before = set(glob.glob(f"{tempfile.gettempdir()}/attest-build-*"))
    result = attest("build", scratch_project, "-t", f"{registry.host}/x/early:1")
    assert result.exit_code == 3
    assert "--resume" not in result.stderr
    assert set(glob.glob(f"{tempfile.gettempdir()}/attest-build-*")) == before
