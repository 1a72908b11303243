"""``attest tree``, ``attest report`` and the job summaries on an image made by ``attest build``
(examples/hello on the devstack Debian base, signed by the local Sigstore stack)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from tests.build.conftest import git_project
from tests.report.browser import Browser

pytestmark = pytest.mark.integration

IDENTITY = "release-bot@attest.test"


@pytest.fixture(scope="module")
def built(registry, debian_base, sigstore_stack, sigstore_trust_config, tmp_path_factory):
    root, _ = git_project("hello", tmp_path_factory.mktemp("ux"))
    summary = tmp_path_factory.mktemp("ux-summary") / "summary.md"
    summary.write_text("earlier step\n")
    result = CliRunner().invoke(cli, [
        "build", str(root), "-t", f"{registry.host}/ux/hello:1", "--network", "host",
        "--build-arg", f"BASE={debian_base}", "--trust-config", str(sigstore_trust_config),
        "--identity-token", sigstore_stack.mint_token(IDENTITY)],
        env={"GITHUB_STEP_SUMMARY": str(summary)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    flags = ["--trust-config", str(sigstore_trust_config), "--certificate-identity", IDENTITY,
             "--certificate-oidc-issuer", str(sigstore_stack.issuer())]
    return {"image": result.stdout.strip().splitlines()[-1], "summary": summary,
            "flags": flags}


def test_build_and_verify_append_a_job_summary(built):
    text = built["summary"].read_text()
    assert text.startswith("earlier step\n")  # appended, never replaced
    assert "### attest build" in text and "https://slsa\\.dev/provenance/v1" not in text
    assert "slsa-provenance" in text or "provenance" in text
    result = CliRunner().invoke(cli, ["verify", built["image"], *built["flags"],
                                      "--require-sbom"],
                                env={"GITHUB_STEP_SUMMARY": str(built["summary"])})
    assert result.exit_code == 0, result.output
    text = built["summary"].read_text()
    assert "### attest verify: PASS" in text
    assert "| PASS | sbom\\.present |" in text


def test_tree_on_a_built_image_verifies_both_layouts(built):
    result = CliRunner().invoke(cli, ["tree", built["image"], "--format", "json",
                                      *built["flags"]])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)["attestations"]
    assert sorted((a["layout"], a["predicateType"]) for a in entries if a["verified"]) == [
        ("cosign-att", "https://cyclonedx.org/bom"),
        ("cosign-att", "https://slsa.dev/provenance/v1"),
        ("referrer", "https://cyclonedx.org/bom"),
        ("referrer", "https://slsa.dev/provenance/v1")]
    assert all(a["signer"].startswith(IDENTITY) for a in entries)


def test_report_on_a_built_image_lists_debian_packages(built, tmp_path):
    output = tmp_path / "built-report.html"
    result = CliRunner().invoke(cli, ["report", built["image"], *built["flags"], "-o",
                                      str(output)])
    assert result.exit_code == 0, result.output
    browser = Browser(tmp_path)
    try:
        browser.open(output.as_uri() + "#filter=libc6")
        print(f"\nbuilt-image report screenshot: {browser.screenshot(tmp_path / 'built.png')}")
        rows = browser.evaluate("Array.from(document.querySelectorAll('#components tbody tr'))"
                                ".filter(r => !r.hidden).map(r => [r.cells[0].textContent,"
                                " r.cells[1].textContent, r.cells[4].textContent])")
        # one row although the SBOM is attached twice (referrer and .att)
        assert [row[:2] for row in rows].count(["deb", "libc6"]) == 1
        cards = browser.evaluate("document.querySelectorAll('#provenance .card').length")
        assert cards == 1
        assert all(row[2].startswith("0 (sha256:") for row in rows)  # the base layer
        assert browser.evaluate("document.querySelectorAll('#components tbody tr').length") > 50
        assert browser.problems() == []
    finally:
        browser.close()


def test_report_lists_the_findings_of_the_verified_sbom(built, tmp_path):
    """With an advisory database the verified SBOM's components are matched as `attest scan`
    does; the record (modelled on DSA-5514-1, glibc in Debian 12) carries a hostile summary."""
    import json

    record = {"id": "DSA-9999-1", "modified": "2024-01-01T00:00:00Z",
              "aliases": ["CVE-2099-0001"], "summary": "glibc <img src=x onerror=alert(1)>",
              "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                            "ranges": [{"type": "ECOSYSTEM", "events": [
                                {"introduced": "0"}, {"fixed": "2.36-9+deb12u99"}]}]}]}
    (tmp_path / "records.json").write_text(json.dumps([record]))
    vulndb = tmp_path / "vulndb"
    imported = CliRunner().invoke(cli, ["vulndb", "import", str(tmp_path / "records.json"),
                                        "--vulndb", str(vulndb)])
    assert imported.exit_code == 0, imported.output
    output = tmp_path / "findings-report.html"
    result = CliRunner().invoke(cli, ["report", built["image"], *built["flags"], "--vulndb",
                                      str(vulndb), "-o", str(output)])
    assert result.exit_code == 0, result.output
    browser = Browser(tmp_path)
    try:
        browser.open(output.as_uri())
        rows = browser.evaluate("Array.from(document.querySelectorAll('#vulns tbody tr'))"
                                ".map(r => [r.cells[0].textContent, r.cells[2].textContent,"
                                " r.cells[4].textContent, r.cells[6].textContent])")
        assert ["DSA-9999-1", "glibc", "2.36-9+deb12u99",
                "glibc <img src=x onerror=alert(1)>"] in rows  # shown as text
        assert browser.evaluate("document.querySelectorAll('img').length") == 0
        assert browser.problems() == []
    finally:
        browser.close()
    missing = CliRunner().invoke(cli, ["report", built["image"], *built["flags"], "--vulndb",
                                       str(tmp_path / "none"), "-o", str(output)])
    assert missing.exit_code == 3 and "no advisory database" in missing.stderr
