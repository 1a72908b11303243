"""The trusted signing job (``attest provenance --regenerate``) trusts nothing it is handed.

A build job (no OIDC permission) builds and pushes with ``--no-sign``; the signing job, in a
simulated GitHub Actions environment whose ID-token endpoint is the local Sigstore stack,
takes only the digest, reads the image from the registry, scans it, makes the SBOM and takes
source and builder facts from its own checkout, CI variables and token. Each claim the build
job could forge (digest, commit, ref, scan result, base image) is forged below: the signing job
refuses (nothing is attached) or ignores it (its own result is what gets signed).
"""

from __future__ import annotations

import json

import git
import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.client import RegistryClient
from tests.fixtures.verify import GITHUB_HOSTED

pytestmark = pytest.mark.integration

REPO = "acme/regen"
FAKE_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
            "QyNTUxOQAAACBxq0yQ0v8r0pW4q1n0Vq8cQ3bq2ZT6rjJ8L9m1n2o3pAAAAJj0K2ZB9Ctm\n"
            "-----END OPENSSH PRIVATE KEY-----\n")


def attest(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def make_project(root, *, with_key=False):
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY msg.txt /msg.txt\n" +
                                     ("COPY id_ed25519 /root/.ssh/id_ed25519\n" if with_key
                                      else ""))
    (root / "msg.txt").write_text(f"{root.name}\n")
    if with_key:
        (root / "id_ed25519").write_text(FAKE_KEY)
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    commit = repo.index.commit("release").hexsha
    repo.create_remote("origin", f"https://github.com/{REPO}.git")
    return root, commit


def build_job(root, tag, debian_base, out, env):
    result = attest("build", root, "--backend", "docker", "-t", tag, "--build-arg",
                    f"BASE={debian_base}", "--no-sign", "-o", out, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def signing_job(root, image, claims, debian_base, signer, env, out=None, extra=()):
    args = ["provenance", "--regenerate", "--image", image, "-C", root,
            "--build-arg", f"BASE={debian_base}", "--trust-config", signer.trust_config]
    for claim in claims:
        args += ["--claims", claim]
    if out:
        args += ["-o", out]
    return attest(*args, *extra, env=env)


@pytest.fixture(scope="module")
def release(docker_engine, registry, debian_base, signer, tmp_path_factory):
    base = tmp_path_factory.mktemp("regen")
    root, commit = make_project(base / "project")
    env = signer.stack.github_actions_env(repository=REPO, ref="refs/heads/main", sha=commit)
    pushed = build_job(root, f"{registry.host}/regen/app:1", debian_base, base / "out", env)
    return {"root": root, "commit": commit, "env": env, "pushed": pushed, "out": base / "out",
            "base": base}


def attached(registry, image):
    return layouts.discover(RegistryClient(registry.host), parse_reference(image))


def forged(release, tmp_path, edit):
    """The build job's provenance with one claim edited; the SBOM statement as written."""
    statement = json.loads((release["out"] / "provenance.intoto.json").read_text())
    edit(statement)
    path = tmp_path / "provenance.intoto.json"
    path.write_text(json.dumps(statement))
    return [path, release["out"] / "sbom.intoto.json"]


def _git(statement):
    return statement["predicate"]["buildDefinition"]["internalParameters"]["git"]


def _deps(statement):
    return statement["predicate"]["buildDefinition"]["resolvedDependencies"]


def set_digest(s):
    s["subject"][0]["digest"]["sha256"] = "0" * 64


def set_commit(s):
    _git(s)["commit"] = "1" * 40
    next(d for d in _deps(s) if d.get("name") == "source")["digest"]["gitCommit"] = "1" * 40


def set_ref(s):
    _git(s)["ref"] = "refs/heads/evil"


def set_base(s):
    image = next(d for d in _deps(s) if d["uri"].startswith("pkg:docker/"))
    name = image["annotations"]["pinned"].split("@")[0]
    image["annotations"]["pinned"] = f"{name}@sha256:{'2' * 64}"
    image["digest"]["sha256"] = "2" * 64


@pytest.mark.parametrize("edit,message", [
    (set_digest, "not sha256:"),
    (set_commit, "claims commit 1111111111"),
    (set_ref, "claims ref refs/heads/evil"),
    (set_base, "claims base image"),
])
def test_forged_claims_are_refused_and_nothing_is_attached(release, registry, debian_base,
                                                           signer, tmp_path, edit, message):
    claims = forged(release, tmp_path, edit)
    result = signing_job(release["root"], release["pushed"], claims, debian_base, signer,
                         release["env"], out=tmp_path / "signed")
    assert result.exit_code == 1, result.output
    assert "the build job's statements disagree" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "signed" / "provenance.sigstore.json").exists()
    assert attached(registry, release["pushed"]) == []


def test_a_tag_instead_of_a_digest_is_refused(release, debian_base, signer):
    result = signing_job(release["root"], release["pushed"].split("@")[0] + ":1", [],
                         debian_base, signer, release["env"])
    assert result.exit_code == 2
    assert "has no digest" in result.stderr


def test_own_context_must_agree_with_itself(release, debian_base, signer):
    env = dict(release["env"], GITHUB_SHA="3" * 40)
    result = signing_job(release["root"], release["pushed"], [], debian_base, signer, env)
    assert result.exit_code == 1
    assert "the CI says 333333333333" in result.stderr


def test_forged_clean_scan_of_an_image_with_a_secret_is_refused(
        docker_engine, registry, debian_base, signer, tmp_path):
    root, commit = make_project(tmp_path / "leaky", with_key=True)
    env = signer.stack.github_actions_env(repository=REPO, ref="refs/heads/main", sha=commit)
    pushed = build_job(root, f"{registry.host}/regen/leaky:1", debian_base, tmp_path / "out",
                       env)
    statement = json.loads((tmp_path / "out" / "provenance.intoto.json").read_text())
    statement["predicate"]["buildDefinition"]["internalParameters"]["secretScan"] = {
        "clean": True, "findings": 0, "scanner": "attest-secrets"}
    (tmp_path / "out" / "provenance.intoto.json").write_text(json.dumps(statement))
    result = signing_job(root, pushed, [tmp_path / "out" / "provenance.intoto.json"],
                         debian_base, signer, env)
    assert result.exit_code == 7, result.output
    assert "nothing was signed" in result.stderr
    assert "root/.ssh/id_ed25519" in result.stderr and "b3BlbnNzaC1rZXkt" not in result.output
    assert attached(registry, pushed) == []


def test_signing_job_signs_only_what_it_established_and_it_verifies(
        release, registry, debian_base, signer, tmp_path):
    # A forged scan result on a clean image is ignored: what is signed is the job's own scan.
    def fake_scan(s):
        s["predicate"]["buildDefinition"]["internalParameters"]["secretScan"] = {
            "clean": True, "findings": 0, "filesScanned": 999999}
    claims = forged(release, tmp_path, fake_scan)
    result = signing_job(release["root"], release["pushed"], claims, debian_base, signer,
                         release["env"], out=tmp_path / "signed", extra=["--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["image"] == release["pushed"]
    assert any("secret-scan" in line for line in summary["ignored"])
    provenance = json.loads((tmp_path / "signed" / "provenance.intoto.json").read_text())
    definition = provenance["predicate"]["buildDefinition"]
    scan = definition["internalParameters"]["secretScan"]
    assert scan["clean"] is True and scan["filesScanned"] != 999999
    assert definition["internalParameters"]["git"]["commit"] == release["commit"]
    assert definition["internalParameters"]["backend"] == "regenerated-by-signing-job"
    assert provenance["predicate"]["runDetails"]["builder"]["id"] == GITHUB_HOSTED
    assert provenance["subject"][0]["digest"]["sha256"] == release["pushed"].split(":")[-1]
    found = attached(registry, release["pushed"])
    assert {f.layout for f in found} == {"referrer", "cosign-att"}
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""
version: 1
trust:
  trustConfig: {signer.trust_config}
identities:
  - issuer: {signer.issuer}
    sourceRepository: {REPO}
    runnerEnvironment: github-hosted
provenance:
  builderIds: [{GITHUB_HOSTED}]
  sourceRepositories: [github.com/{REPO}]
  sourceRefs: [refs/heads/main]
  requireCleanTree: true
  requireSecretScan: true
  baseImages:
    requireDigest: true
sbom:
  required: true
""")
    verdict = attest("verify", release["pushed"], "--policy", policy)
    assert verdict.exit_code == 0, verdict.output


def test_malformed_and_oversized_claims_are_refused_in_one_line(release, debian_base, signer,
                                                               tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text('{"_type": "nope"}')
    result = signing_job(release["root"], release["pushed"], [bad], debian_base, signer,
                         release["env"])
    assert result.exit_code == 3 and "unknown statement type" in result.stderr
    assert "Traceback" not in result.output
    import oci_attest.regenerate as regenerate_module

    monkeypatch.setattr(regenerate_module, "MAX_CLAIM_BYTES", 10)
    result = signing_job(release["root"], release["pushed"], [bad], debian_base, signer,
                         release["env"])
    assert result.exit_code == 1 and "larger than 10 bytes" in result.stderr
