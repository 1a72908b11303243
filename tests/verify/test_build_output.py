"""What ``attest build`` produces verifies, is judged truthfully, and promotes.

A FROM-scratch project built as a GitHub Actions job (ambient credentials from the local
stack's OIDC issuer), then verified with a strict policy, then promoted; and a dirty tree built
by the same workflow is refused by a policy that requires a clean one.
"""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from tests.fixtures.verify import GITHUB_HOSTED

pytestmark = pytest.mark.integration

REPO = "acme/built"


def attest(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM scratch\nCOPY msg.txt /msg.txt\n")
    (root / "msg.txt").write_text(f"{tmp_path.name}\n")
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    repo.index.commit("initial")
    repo.create_remote("origin", f"https://github.com/{REPO}.git")
    return root


def strict_policy(tmp_path: Path, signer) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"""
version: 1
trust:
  trustConfig: {signer.trust_config}
identities:
  - issuer: {signer.issuer}
    signerWorkflow: {REPO}/.github/workflows/build.yml
    sourceRepository: {REPO}
    runnerEnvironment: github-hosted
provenance:
  builderIds: [{GITHUB_HOSTED}]
  sourceRepositories: [github.com/{REPO}]
  sourceRefs: [refs/heads/main]
  requireCleanTree: true
  baseImages:
    requireDigest: true
  maxAge: 1d
sbom:
  required: true
""")
    return path


def build(root: Path, tag: str, signer, tmp_path: Path):
    env = signer.stack.github_actions_env(repository=REPO, ref="refs/heads/main")
    result = attest("build", root, "-t", tag, "--trust-config", signer.trust_config,
                    "-o", tmp_path / f"out-{tag.rsplit(':', 1)[1]}", env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_attest_build_output_verifies_and_promotes(docker_engine, registry, signer, tmp_path):
    root = project(tmp_path)
    pushed = build(root, f"{registry.host}/built/app:1", signer, tmp_path)
    policy = strict_policy(tmp_path, signer)
    result = attest("verify", f"{registry.host}/built/app:1", "--policy", policy,
                    "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["digest"] == pushed.split("@", 1)[1]
    accepted = {(a["layout"], a["predicateType"]) for a in report["attestations"]
                if a["accepted"]}
    assert accepted == {("referrer", "https://slsa.dev/provenance/v1"),
                        ("referrer", "https://cyclonedx.org/bom"),
                        ("cosign-att", "https://slsa.dev/provenance/v1"),
                        ("cosign-att", "https://cyclonedx.org/bom")}
    promoted = attest("promote", f"{registry.host}/built/app:1",
                      f"{registry.host}/released/app:1", "--policy", policy)
    assert promoted.exit_code == 0, promoted.output
    assert promoted.stdout.strip() == f"{registry.host}/released/app@{report['digest']}"


def test_dirty_tree_build_is_refused(docker_engine, registry, signer, tmp_path):
    root = project(tmp_path)
    (root / "msg.txt").write_text("changed after the commit\n")
    build(root, f"{registry.host}/built/dirty:1", signer, tmp_path)
    policy = strict_policy(tmp_path, signer)
    result = attest("verify", f"{registry.host}/built/dirty:1", "--policy", policy)
    assert result.exit_code == 1
    assert "FAIL provenance.clean-tree" in result.stdout
    assert "built from a dirty tree" in result.stdout
    refused = attest("promote", f"{registry.host}/built/dirty:1",
                     f"{registry.host}/released/dirty:1", "--policy", policy)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "nothing was copied" in refused.stderr


def test_a_clean_secret_scan_can_be_required(docker_engine, registry, signer, tmp_path):
    root = project(tmp_path)
    env = signer.stack.github_actions_env(repository=REPO, ref="refs/heads/main")
    scanned = attest("build", root, "-t", f"{registry.host}/built/scanned:1", "--scan-secrets",
                     "--no-sbom", "--trust-config", signer.trust_config, env=env)
    assert scanned.exit_code == 0, scanned.output
    unscanned = attest("build", root, "-t", f"{registry.host}/built/unscanned:1", "--no-sbom",
                       "--trust-config", signer.trust_config, env=env)
    assert unscanned.exit_code == 0, unscanned.output
    flags = ["--trust-config", signer.trust_config, "--certificate-oidc-issuer", signer.issuer,
             "--certificate-identity", signer.identity(REPO), "--require-secret-scan"]
    passed = attest("verify", f"{registry.host}/built/scanned:1", *flags)
    assert passed.exit_code == 0, passed.output
    assert "PASS provenance.secret-scan" in passed.stdout
    failed = attest("verify", f"{registry.host}/built/unscanned:1", *flags)
    assert failed.exit_code == 1
    assert "records no secret scan" in failed.stdout
