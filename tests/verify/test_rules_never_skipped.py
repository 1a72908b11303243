"""A configured rule is never skipped: whatever predicate type is required, every rule the
policy configures is reported PASS or FAIL, and one that cannot be evaluated is a FAIL.

End to end on the real registry and local Sigstore stack, plus the policy loader's refusal of
rules that would read as configured but check nothing (``maxAge: 0``, empty lists, null).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.verify.policy import PolicyError, ProvenancePolicy, parse_policy
from tests.fixtures.verify import CYCLONEDX, GITHUB_HOSTED, provenance, sbom, statement

VULNS = "https://in-toto.io/attestation/vulns/v0.1"
ISSUER = "https://token.actions.githubusercontent.com"
RULES = ["--builder-id", GITHUB_HOSTED, "--require-clean-tree", "--max-age", "30d"]


def verify(image: str, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["verify", image, "--format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def outcomes(report: dict) -> dict[str, bool]:
    return {c["name"]: c["passed"] for c in report["checks"] if c["enforced"]}


@pytest.mark.integration
def test_vulns_predicate_type_does_not_switch_provenance_rules_off(make_image, signer):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, {"scanner": {"uri": "x"}}, VULNS)), VULNS)
    code, report = verify(image.pinned, *signer.flags(), "--predicate-type", VULNS, *RULES)
    assert code == 1
    checks = outcomes(report)
    assert checks["attestation.present"] is True
    for rule in ("provenance.present", "provenance.builder-id", "provenance.clean-tree",
                 "provenance.max-age"):
        assert checks[rule] is False, rule
    reasons = [c["reason"] for c in report["checks"] if c["name"] == "provenance.clean-tree"]
    assert reasons == [f"could not be evaluated: no verified SLSA provenance for "
                       f"{image.digest}"]


@pytest.mark.integration
def test_vulns_predicate_type_still_judges_the_provenance_that_is_there(make_image, signer):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, {"scanner": {"uri": "x"}}, VULNS)), VULNS)
    image.attach(signer.sign(statement(image.digest, provenance(dirty=True))))
    code, report = verify(image.pinned, *signer.flags(), "--predicate-type", VULNS, *RULES)
    assert code == 1
    checks = outcomes(report)
    assert checks["provenance.clean-tree"] is False
    assert checks["provenance.builder-id"] is True and checks["provenance.max-age"] is True


@pytest.mark.integration
def test_sbom_predicate_type_in_a_policy_file_keeps_provenance_rules(make_image, signer,
                                                                     tmp_path):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, sbom([("a", "pkg:pypi/a@1")]),
                                       CYCLONEDX)), CYCLONEDX)
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nprovenance:\n  predicateType: {CYCLONEDX}\n"
                      f"  builderIds: [{GITHUB_HOSTED}]\n  requireCleanTree: true\n")
    code, report = verify(image.pinned, *signer.flags(), "--policy", str(policy))
    assert code == 1
    checks = outcomes(report)
    assert checks["attestation.present"] is True
    assert checks["provenance.builder-id"] is False and checks["provenance.clean-tree"] is False


@pytest.mark.integration
def test_deny_rule_without_any_sbom_is_reported_as_not_evaluated(make_image, signer):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance())))
    code, report = verify(image.pinned, *signer.flags(), "--deny-component",
                          "pkg:deb/debian/openssl")
    assert code == 1
    denied = [c for c in report["checks"] if c["name"] == "sbom.denied-components"]
    assert [c["passed"] for c in denied] == [False]
    assert denied[0]["reason"].startswith("could not be evaluated")


def test_zero_max_age_is_still_a_configured_rule():
    assert "provenance.max-age" in ProvenancePolicy(max_age=timedelta(0)).configured_rules()


GOOD = {"version": 1, "identities": [{"issuer": ISSUER, "subject": "https://x/y"}]}


@pytest.mark.parametrize(("section", "document", "message"), [
    ("provenance", {"maxAge": 0}, r"provenance\.maxAge: a maximum age must be positive"),
    ("provenance", {"maxAge": "0d"}, r"a maximum age must be positive"),
    ("provenance", {"builderIds": []}, r"provenance\.builderIds: is an empty list"),
    ("provenance", {"builderIds": None}, r"provenance\.builderIds: is null"),
    ("provenance", {"sourceRepositories": []}, r"provenance\.sourceRepositories: is an empty"),
    ("provenance", {"sourceRefs": None}, r"provenance\.sourceRefs: is null"),
    ("provenance", {"baseImages": {"allowedRegistries": []}},
     r"provenance\.baseImages\.allowedRegistries: is an empty list"),
    ("provenance", {"requireCleanTree": None}, r"requireCleanTree: expected true or false"),
    ("sbom", {"deny": []}, r"sbom\.deny: is null or empty"),
    ("sbom", {"deny": None}, r"sbom\.deny: is null or empty"),
    ("sbom", {"predicateTypes": []}, r"sbom\.predicateTypes: is an empty list"),
])
def test_rule_that_would_check_nothing_is_refused(section, document, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy({**GOOD, section: document}, source="p.yaml")


@pytest.mark.parametrize("value", ["0", "0s", "0m"])
def test_zero_max_age_flag_is_refused(value):
    result = CliRunner().invoke(cli, ["verify", "127.0.0.1:1/x@sha256:" + "a" * 64,
                                      "--certificate-identity", "x",
                                      "--certificate-oidc-issuer", ISSUER, "--max-age", value])
    assert result.exit_code == 3, result.output
    assert "a maximum age must be positive" in result.stderr
