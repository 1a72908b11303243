"""``attest build --scan-vulns``: the built image is scanned before push, a finding at or above
``--fail-on`` stops the run with nothing pushed or signed, and a passing scan is signed and
attached as a cosign vuln/v1 attestation that ``attest verify`` judges.

Real parts throughout: the docker engine builds FROM the devstack Debian 12 base (its glibc
binary packages, libc6 and libc-bin, come from the source package ``glibc``), the suite's
registry, the local Sigstore stack, and an advisory database imported with ``attest vulndb``
from a Debian record written here, modelled on DSA-5514-1 (glibc, "Looney Tunables").
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.registry.client import RegistryClient
from oci_attest.vulns.attestation import COSIGN_VULN_V1

pytestmark = pytest.mark.integration
REPO = "acme/vulns"
RECORD = {
    "id": "DSA-9999-1", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2099-0001"],
    "summary": "glibc: buffer overflow in the dynamic loader (test record)",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                              {"fixed": "2.36-9+deb12u99"}]}]}]}
VEX = {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.test/vex/glibc",
       "author": "security@example.test", "timestamp": "2024-01-01T00:00:00Z", "version": 1,
       "statements": [{"vulnerability": {"name": "CVE-2099-0001"}, "status": "not_affected",
                       "justification": "vulnerable_code_not_in_execute_path"}]}


def attest(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def vulndb(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("vulndb")
    records = directory.parent / "dsa.json"
    records.write_text(json.dumps([RECORD]))
    done = attest("vulndb", "import", records, "--vulndb", directory)
    assert done.exit_code == 0, done.output
    return directory


def project(root: Path, base: str) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(f"FROM {base}\nCOPY msg.txt /msg.txt\n")
    (root / "msg.txt").write_text(f"{root.name}\n")  # distinct content: a distinct digest
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    repo.index.commit("initial")
    repo.create_remote("origin", f"https://github.com/{REPO}.git")
    return root


def build(root: Path, tag: str, signer, out: Path, *extra):
    env = signer.stack.github_actions_env(repository=REPO, ref="refs/heads/main")
    return attest("build", root, "-t", tag, "--no-sbom", "--trust-config", signer.trust_config,
                  "-o", out, *extra, env=env)


def verify_flags(signer) -> list[str]:
    return ["--trust-config", str(signer.trust_config), "--certificate-oidc-issuer",
            signer.issuer, "--certificate-identity", signer.identity(REPO)]


def test_a_vulnerable_build_fails_before_push_and_sign(docker_engine, registry, debian_base,
                                                       signer, vulndb, tmp_path):
    root = project(tmp_path / "failing", debian_base)
    out = tmp_path / "out"
    result = build(root, f"{registry.host}/vulns/failing:1", signer, out, "--scan-vulns",
                   "--fail-on", "high", "--vulndb", vulndb)
    assert result.exit_code == 9, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("attest: vulnerabilities found:")
    assert "at or above high" in last and "nothing was pushed or signed" in last
    assert "DSA-9999-1 (high) in pkg:deb/debian/libc6@" in result.stderr
    assert RegistryClient(registry.host).head_manifest("vulns/failing", "1") is None
    state = json.loads((out / "state.json").read_text())
    assert "build" in state["steps"]
    assert not {"vuln-scan", "push", "describe", "sign", "attach"} & set(state["steps"])
    assert not list(out.glob("*.sigstore.json")) and not list(out.glob("*.intoto.json"))
    record = json.loads((out / "vuln-scan.json").read_text())
    glibc = {f["purl"].split("@")[0] for f in record["findings"] if f["id"] == "DSA-9999-1"}
    assert glibc == {"pkg:deb/debian/libc6", "pkg:deb/debian/libc-bin"}
    # Resuming scans again (the image has not changed) and fails again, still unpushed.
    again = attest("build", "--resume", out)
    assert again.exit_code == 9, again.output
    assert "building the image" not in again.stderr
    assert RegistryClient(registry.host).head_manifest("vulns/failing", "1") is None


def test_scan_is_attached_and_verify_judges_it(docker_engine, registry, debian_base, signer,
                                               vulndb, tmp_path):
    root = project(tmp_path / "passing", debian_base)
    out = tmp_path / "out"
    tag = f"{registry.host}/vulns/passing:1"
    result = build(root, tag, signer, out, "--scan-vulns", "--vulndb", vulndb)
    assert result.exit_code == 0, result.output
    pushed = result.stdout.strip().splitlines()[-1]
    summary = json.loads((out / "summary.json").read_text())
    vuln = next(a for a in summary["attestations"] if a["name"] == "vuln")
    assert vuln["predicateType"] == COSIGN_VULN_V1 and vuln["signed"]
    assert {loc["layout"] for loc in vuln["locations"]} == {"referrer", "cosign-att"}
    statement = json.loads((out / "vuln.intoto.json").read_text())
    assert statement["subject"][0]["digest"]["sha256"] == pushed.split("@sha256:")[1]
    predicate = statement["predicate"]
    assert set(predicate) == {"invocation", "scanner", "metadata"}
    assert set(predicate["scanner"]) == {"uri", "version", "db", "result"}
    assert predicate["scanner"]["db"]["version"] == "2024-01-01T00:00:00Z"
    assert set(predicate["metadata"]) == {"scanStartedOn", "scanFinishedOn"}
    assert predicate["invocation"]["builder.id"] == \
        "https://github.com/actions/runner/github-hosted"
    assert predicate["invocation"]["uri"].startswith("https://github.com/acme/vulns/actions/runs/")
    assert "--scan-vulns" in predicate["invocation"]["parameters"]
    assert {f["id"] for f in predicate["scanner"]["result"]["findings"]} == {"DSA-9999-1"}

    flags = verify_flags(signer)
    failed = attest("verify", pushed, *flags, "--require-vuln-scan", "--vuln-fail-on", "high")
    assert failed.exit_code == 1, failed.output
    assert "FAIL vulnerabilities.fail-on" in failed.stdout
    assert "DSA-9999-1 (high)" in failed.stdout
    assert "PASS vulnerabilities.present" in failed.stdout
    higher = attest("verify", pushed, *flags, "--vuln-fail-on", "critical",
                    "--vuln-max-age", "1d")
    assert higher.exit_code == 0, higher.output
    assert "PASS vulnerabilities.max-age" in higher.stdout
    time.sleep(2)
    stale = attest("verify", pushed, *flags, "--vuln-max-age", "1s")
    assert stale.exit_code == 1, stale.output
    assert "FAIL vulnerabilities.max-age" in stale.stdout
    # The policy file form reads the same.
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""
version: 1
trust: {{trustConfig: {signer.trust_config}}}
identities: [{{issuer: "{signer.issuer}", subject: "{signer.identity(REPO)}"}}]
vulnerabilities: {{maxAge: 7d, failOn: high}}
""")
    by_file = attest("verify", pushed, "--policy", policy)
    assert by_file.exit_code == 1 and "FAIL vulnerabilities.fail-on" in by_file.stdout


def test_a_vex_waiver_is_recorded_and_passes_the_gate(docker_engine, registry, debian_base,
                                                      signer, vulndb, tmp_path):
    root = project(tmp_path / "waived", debian_base)
    vex = tmp_path / "glibc.openvex.json"
    vex.write_text(json.dumps(VEX))
    out = tmp_path / "out"
    result = build(root, f"{registry.host}/vulns/waived:1", signer, out, "--scan-vulns",
                   "--fail-on", "high", "--vulndb", vulndb, "--vex", vex)
    assert result.exit_code == 0, result.output
    pushed = result.stdout.strip().splitlines()[-1]
    findings = json.loads((out / "vuln.intoto.json").read_text())["predicate"]["scanner"][
        "result"]["findings"]
    assert findings and {f["status"] for f in findings} == {"not_affected"}
    assert {f["justification"] for f in findings} == {"vulnerable_code_not_in_execute_path"}
    passed = attest("verify", pushed, *verify_flags(signer), "--vuln-fail-on", "high",
                    "--vuln-max-age", "7d")
    assert passed.exit_code == 0, passed.output
    assert "PASS vulnerabilities.fail-on" in passed.stdout


def test_missing_database_is_bad_input_before_the_build(registry, tmp_path):
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM scratch\n")
    out = tmp_path / "out"
    result = attest("build", root, "-t", f"{registry.host}/vulns/nodb:1", "--scan-vulns",
                    "--vulndb", tmp_path / "empty", "-o", out)
    assert result.exit_code == 3, result.output
    assert "no advisory database at" in result.stderr and "attest vulndb import" in result.stderr
    assert not (out / "state.json").exists()
    usage = attest("build", root, "-t", f"{registry.host}/vulns/nodb:1", "--fail-on", "high")
    assert usage.exit_code == 2 and "add --scan-vulns" in usage.stderr


def test_an_edited_scan_statement_is_not_signed_on_resume(docker_engine, registry, debian_base,
                                                          vulndb, sigstore_stack,
                                                          sigstore_trust_config, tmp_path):
    """The vuln statement is derived again from vuln-scan.json before signing: waiving a
    finding by editing the statement in the state directory is refused."""
    from oci_attest.build.docker_engine import DockerEngineBackend
    from oci_attest.pipeline import BuildOptions, Pipeline, start_run

    root = project(tmp_path / "resumed", debian_base)
    out = tmp_path / "out"
    options = BuildOptions(context=str(root), tags=[f"{registry.host}/vulns/resumed:1"],
                           sbom=False, trust_config=str(sigstore_trust_config), attach="none",
                           scan_vulns=True, vulndb=str(vulndb))
    pipeline = Pipeline(start_run(options, out), options, DockerEngineBackend)
    for step in (pipeline._collect, pipeline._build, pipeline._check_build,
                 pipeline._scan_vulns, pipeline._push, pipeline._describe):
        step()
    path = out / "vuln.intoto.json"
    original = path.read_bytes()
    statement = json.loads(original)
    for finding in statement["predicate"]["scanner"]["result"]["findings"]:
        finding["status"] = "not_affected"
    path.write_text(json.dumps(statement))
    token = sigstore_stack.mint_token("release-bot@attest.test")
    refused = attest("build", "--resume", out, "--identity-token", token)
    assert refused.exit_code == 3, refused.output
    assert "vuln.intoto.json does not match the run's recorded facts" in refused.stderr
    assert "derived from vuln-scan.json" in refused.stderr
    assert not list(out.glob("*.sigstore.json"))
    path.write_bytes(original)
    signed = attest("build", "--resume", out, "--identity-token", token)
    assert signed.exit_code == 0, signed.output
    assert (out / "vuln.sigstore.json").is_file()
