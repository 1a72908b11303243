"""The ``vulnerabilities`` rule of ``attest verify``: a verified vuln/v1 scan of the digest, no
older than ``maxAge``, with no active finding at or above ``failOn``.

Real images in the suite's registry, statements signed by the local Sigstore stack and attached
like ``attest build`` attaches them. Validly signed scans that say the wrong thing (backdated,
a result attest cannot read) must fail, never pass by silence.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.verify.policy import PolicyError, parse_policy
from oci_attest.vulns.attestation import COSIGN_VULN_V1
from tests.fixtures.verify import provenance, statement

DSA = {"id": "DSA-9999-1", "aliases": ["CVE-2099-0001"],
       "purl": "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12&upstream=glibc",
       "package": "glibc", "version": "2.36-9+deb12u4", "fixed": ["2.36-9+deb12u99"],
       "severity": "high", "cvss": 7.8, "status": "affected", "justification": None}


def scan(finished: datetime, findings: list[dict] | None = None) -> dict:
    moment = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"invocation": {"parameters": ["--scan-vulns"], "uri": "", "event_id": "",
                           "builder.id": ""},
            "scanner": {"uri": "https://github.com/attest-build/attest", "version": "0.1.0",
                        "db": {"uri": "https://osv.dev", "version": "2024-01-01T00:00:00Z"},
                        "result": {"findings": [DSA] if findings is None else findings}},
            "metadata": {"scanStartedOn": moment, "scanFinishedOn": moment}}


def verify(image: str, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["verify", image, "--format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def checks(report: dict) -> dict[str, tuple[bool, str]]:
    return {c["name"]: (c["passed"], c["reason"]) for c in report["checks"] if c["enforced"]
            and c["name"].startswith("vulnerabilities.")}


@pytest.fixture()
def scanned(make_image, signer):
    """An image with a signed provenance, plus whatever scans a test attaches."""
    image = make_image("verify/vulns")
    image.attach(signer.sign(statement(image.digest, provenance())))
    return image


@pytest.mark.integration
def test_no_scan_fails_every_configured_vulnerability_rule(scanned, signer):
    code, report = verify(scanned.pinned, *signer.flags(), "--build-type",
                          provenance()["buildDefinition"]["buildType"],
                          "--vuln-max-age", "7d", "--vuln-fail-on", "high")
    assert code == 1
    outcome = checks(report)
    assert set(outcome) == {"vulnerabilities.present", "vulnerabilities.max-age",
                            "vulnerabilities.fail-on"}
    assert not any(passed for passed, _ in outcome.values())
    assert "build with `attest build --scan-vulns`" in outcome["vulnerabilities.present"][1]
    assert outcome["vulnerabilities.fail-on"][1].startswith("could not be evaluated")


@pytest.mark.integration
def test_backdated_scan_fails_max_age_and_findings_fail_the_threshold(scanned, signer):
    old = datetime.now(UTC) - timedelta(days=30)
    scanned.attach(signer.sign(statement(scanned.digest, scan(old), COSIGN_VULN_V1)),
                   COSIGN_VULN_V1)
    code, report = verify(scanned.pinned, *signer.flags(), "--vuln-max-age", "7d",
                          "--vuln-fail-on", "high")
    assert code == 1
    outcome = checks(report)
    assert outcome["vulnerabilities.present"][0] is True
    passed, reason = outcome["vulnerabilities.max-age"]
    assert passed is False and "scan finished" in reason and "older than" in reason
    passed, reason = outcome["vulnerabilities.fail-on"]
    assert passed is False and "DSA-9999-1 (high)" in reason
    # A higher threshold and a longer age: the same evidence passes.
    code, report = verify(scanned.pinned, *signer.flags(), "--vuln-max-age", "60d",
                          "--vuln-fail-on", "critical")
    assert code == 0, report
    outcome = checks(report)
    assert outcome["vulnerabilities.max-age"][0] is True
    assert outcome["vulnerabilities.fail-on"] == (
        True, "no active finding at or above critical (1 findings, 0 waived)")


@pytest.mark.integration
def test_newest_scan_is_judged_and_waived_findings_do_not_count(scanned, signer):
    now = datetime.now(UTC)
    waived = {**DSA, "status": "not_affected",
              "justification": "vulnerable_code_not_in_execute_path"}
    scanned.attach(signer.sign(statement(scanned.digest, scan(now - timedelta(days=2)),
                                         COSIGN_VULN_V1)), COSIGN_VULN_V1)
    scanned.attach(signer.sign(statement(scanned.digest, scan(now, [waived]),
                                         COSIGN_VULN_V1)), COSIGN_VULN_V1)
    code, report = verify(scanned.pinned, *signer.flags(), "--vuln-fail-on", "low",
                          "--vuln-max-age", "1d")
    assert code == 0, report
    outcome = checks(report)
    assert outcome["vulnerabilities.fail-on"] == (
        True, "no active finding at or above low (1 findings, 1 waived)")
    assert outcome["vulnerabilities.max-age"][0] is True
    assert "the newest of" in outcome["vulnerabilities.present"][1]


@pytest.mark.integration
def test_signed_scan_in_another_format_is_not_read_as_clean(scanned, signer):
    other = scan(datetime.now(UTC))
    other["scanner"]["result"] = {"matches": [{"vulnerability": {"id": "CVE-2099-0001",
                                                                 "severity": "High"}}]}
    scanned.attach(signer.sign(statement(scanned.digest, other, COSIGN_VULN_V1)),
                   COSIGN_VULN_V1)
    code, report = verify(scanned.pinned, *signer.flags(), "--vuln-fail-on", "high")
    assert code == 1
    passed, reason = checks(report)["vulnerabilities.fail-on"]
    assert passed is False and reason.startswith("could not be evaluated")


@pytest.mark.integration
def test_scan_by_an_untrusted_signer_is_not_evidence(scanned, signer):
    scanned.attach(signer.sign(statement(scanned.digest, scan(datetime.now(UTC), []),
                                         COSIGN_VULN_V1), repository="evil/fork"),
                   COSIGN_VULN_V1)
    code, report = verify(scanned.pinned, *signer.flags(), "--require-vuln-scan")
    assert code == 1
    passed, reason = checks(report)["vulnerabilities.present"]
    assert passed is False and "no verified vulnerability scan" in reason
    assert "not a trusted identity" in reason


def test_policy_file_vulnerabilities_section():
    policy = parse_policy({"vulnerabilities": {"maxAge": "7d", "failOn": "high"}},
                          source="p.yaml")
    assert policy.vulnerabilities.required and policy.vulnerabilities.fail_on == "high"
    assert policy.vulnerabilities.max_age == timedelta(days=7)
    assert policy.vulnerabilities.configured_rules() == (
        "vulnerabilities.present", "vulnerabilities.max-age", "vulnerabilities.fail-on")
    assert parse_policy({"vulnerabilities": None}, source="p.yaml").vulnerabilities.required
    assert not parse_policy({}, source="p.yaml").vulnerabilities.required
    for bad, message in (({"failOn": "severe"}, "failOn 'severe'"),
                         ({"maxAge": "0d"}, "must be positive"),
                         ({"failon": "high"}, "unknown key")):
        with pytest.raises(PolicyError, match=message):
            parse_policy({"vulnerabilities": bad}, source="p.yaml")
