"""The shipped GitHub Actions template, run: build -> sign -> verify under a simulated GitHub
environment, against the test registry and the local Sigstore stack, with the shipped policy.

Only what names the public services is substituted: the registry (`REGISTRY`), the token
issuer in the policy and the Sigstore trust root (`trust.trustConfig`,
`ATTEST_TRUST_CONFIG`), and the base image registry in `allowedRegistries`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import git
import pytest
import yaml

from tests.templates.github_sim import Runner, local_path_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REPO = "acme/app"
REF = "refs/tags/v1.0.0"


def shipped_policy(signer, registry_host: str) -> str:
    policy = yaml.safe_load((ROOT / "templates" / "policy.yaml").read_text())
    for identity in policy["identities"]:
        if identity["issuer"] == "https://token.actions.githubusercontent.com":
            identity["issuer"] = signer.issuer
    policy["provenance"]["baseImages"]["allowedRegistries"].append(registry_host)
    policy["trust"] = {"trustConfig": str(signer.trust_config)}
    return yaml.safe_dump(policy)


@pytest.fixture()
def project(tmp_path, registry, debian_base, signer):
    root = tmp_path / "app"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "release.yml").write_text(
        (ROOT / "templates" / "github-actions.yml").read_text())
    (root / ".github" / "attest-policy.yaml").write_text(shipped_policy(signer, registry.host))
    (root / "Dockerfile").write_text(f"FROM {debian_base}\nCOPY app.txt /app.txt\n")
    (root / "app.txt").write_text(f"release 1.0.0 ({tmp_path.name})\n")
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    commit = repo.index.commit("release 1.0.0").hexsha
    repo.create_tag("v1.0.0")
    return root, commit


def run_workflow(project, registry, signer, tmp_path, after_job=None, **overrides):
    root, commit = project
    env = signer.stack.github_actions_env(repository=REPO, ref=REF, sha=commit,
                                          workflow_path=".github/workflows/release.yml")
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    base = local_path_env({
        **env, "GITHUB_ACTOR": "attest-bot", "DOCKER_CONFIG": str(docker_config),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "ATTEST_TRUST_CONFIG": str(signer.trust_config)})
    runner = Runner(root / ".github" / "workflows" / "release.yml", root, base,
                    tmp_path / "runner", origin=f"https://github.com/{REPO}",
                    env_overrides={"REGISTRY": registry.host, **overrides},
                    secrets={"GITHUB_TOKEN": "ghs_simulatedRegistryToken0000000000"},
                    after_job=after_job)
    return runner.run()


def test_template_flow_builds_signs_and_verifies_with_the_shipped_policy(
        project, registry, signer, tmp_path):
    results = run_workflow(project, registry, signer, tmp_path)
    failed = [r for r in results.values() if r.failed_step]
    assert not failed, "\n".join(failed[0].log)
    assert list(results) == ["build", "sign", "verify"]
    image = results["build"].outputs["image"]
    assert image.startswith(f"{registry.host}/acme/app@sha256:")
    verify_log = results["verify"].log[-1]
    assert "exit 0" in verify_log and "PASS" in verify_log
    # The build job had no OIDC endpoint; the signing job produced what was signed.
    for line in results["build"].log:
        assert "ghs_simulatedRegistryToken" not in line


def test_a_compromised_build_job_cannot_get_its_claims_signed(project, registry, signer,
                                                             tmp_path):
    """The attack of the issue: the build job's output claims another commit and a clean scan
    that never ran. The sign job refuses; verify never runs; nothing is attached."""
    def forge(job, artifacts):
        if job != "build":
            return
        path = artifacts / "build-claims" / "provenance.intoto.json"
        statement = json.loads(path.read_text())
        internal = statement["predicate"]["buildDefinition"]["internalParameters"]
        internal["git"]["commit"] = "f" * 40
        internal["secretScan"] = {"clean": True, "findings": 0}
        path.write_text(json.dumps(statement))

    results = run_workflow(project, registry, signer, tmp_path, after_job=forge)
    assert results["sign"].failed_step == "Establish, sign and attach provenance and SBOM"
    assert results["sign"].returncode == 1
    assert "claims commit ffffffffff" in results["sign"].log[-1]
    assert "verify" not in results
    from oci_attest.reference import parse_reference
    from oci_attest.registry import layouts
    from oci_attest.registry.client import RegistryClient

    image = parse_reference(results["build"].outputs["image"])
    assert layouts.discover(RegistryClient(registry.host), image) == []
