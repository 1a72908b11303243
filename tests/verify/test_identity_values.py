"""Certificate values are parsed strictly before matching, and identity regexps must pin a
signer: the certificate side is attacker-chosen text (any repository can be named anything the
forge allows), so it gets no lenient normalisation."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.verify.checks import check_source_signer
from oci_attest.verify.identity import SignerIdentity
from oci_attest.verify.policy import (
    IdentityRule,
    PolicyError,
    certificate_repository,
    parse_policy,
    signer_workflow_matches,
)

ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/widget/.github/workflows/release.yml@refs/heads/main"


def identity(**extensions: str) -> SignerIdentity:
    return SignerIdentity(kind="certificate", subject=WORKFLOW, issuer=ISSUER,
                          extensions={"build_signer_uri": WORKFLOW, **extensions})


@pytest.mark.parametrize("value", [
    "https://github.com/acme/widget@evil",
    "https://github.com/acme/widget#x",
    "https://github.com/acme/widget?x=/evil",
    "https://github.com/acme/widget/",
    "https://github.com/acme/widget.git",
    "https://github.com/acme/widget/extra",
    "http://github.com/acme/widget",
    "https://evil.example/acme/widget",
    "https://github.com/acme/widget\n",
    "github.com/acme/widget",
])
def test_certificate_repository_that_is_not_exactly_the_repository_is_refused(value):
    rule = IdentityRule(issuer=ISSUER, source_repository="acme/widget")
    assert rule.mismatch(identity(source_repository_uri=value)) is not None, value


@pytest.mark.parametrize("value", ["https://github.com/acme/widget",
                                   "https://github.com/ACME/Widget"])
def test_certificate_repository_accepted_forms(value):
    rule = IdentityRule(issuer=ISSUER, source_repository="acme/widget")
    assert rule.mismatch(identity(source_repository_uri=value)) is None
    assert certificate_repository(value) == "github.com/acme/widget"


def test_provenance_source_against_a_malformed_certificate_repository():
    from oci_attest.verify.results import Examined
    from oci_attest.verify.statements import Provenance, SourceClaim

    class Evidence:
        signer = identity(source_repository_uri="https://github.com/acme/widget@evil")

    examined = Examined(location="x", layout="file")
    examined.evidence = Evidence()  # type: ignore[assignment]
    provenance = Provenance(builder_id=None, build_type=None, sources=(SourceClaim(
        "https://github.com/acme/widget", None, None, "externalParameters.source"),),
        dirty=None, images=(), started=None, finished=None)
    result = check_source_signer(provenance, examined)
    assert result is not None and not result.passed
    assert "not a plain https://HOST/OWNER/NAME URL" in result.reason


@pytest.mark.parametrize(("expected", "actual", "ok"), [
    ("acme/widget/.github/workflows/release.yml", WORKFLOW, True),
    ("ACME/Widget/.github/workflows/release.yml", WORKFLOW, True),
    ("acme/widget/.github/workflows/RELEASE.yml", WORKFLOW, False),
    ("acme/widget/.github/workflows/release.yml",
     WORKFLOW.replace("release.yml", "RELEASE.yml"), False),
    ("acme/widget/.github/workflows/release.yml",
     "https://github.com/acme/widget/.github/workflows/release.yml?x=1@refs/heads/main", False),
    ("acme/widget/.github/workflows/release.yml",
     "https://github.com/acme/widget/.github/workflows/release.yml#x@refs/heads/main", False),
    # a ref may hold "@" (a branch main@evil is not main), never "@{"
    ("acme/widget/.github/workflows/release.yml@refs/heads/main",
     "https://github.com/acme/widget/.github/workflows/release.yml@refs/heads/main@evil", False),
    ("acme/widget/.github/workflows/release.yml",
     "https://github.com/acme/widget/.github/workflows/release.yml@refs/heads/m@{1}", False),
    ("acme/widget/.github/workflows/release.yml",
     "https://github.com/acme/widget/.github/workflows/release.yml/x@refs/heads/main", False),
    ("acme/widget/.github/workflows/release.yml@refs/heads/main", WORKFLOW, True),
])
def test_signer_workflow_path_is_case_exact_and_strict(expected, actual, ok):
    assert signer_workflow_matches(expected, actual) is ok


@pytest.mark.parametrize("regexp", [".*", ".+", "(.*)", ".*|x", "[\\s\\S]*", "(?s).*"])
def test_subject_regexp_matching_everything_is_refused(regexp):
    with pytest.raises(PolicyError, match="does not pin a signer"):
        parse_policy({"version": 1, "identities": [{"issuer": ISSUER, "subjectRegexp": regexp}]},
                     source="p.yaml")


def test_issuer_regexp_matching_everything_is_refused():
    with pytest.raises(PolicyError, match=r"issuerRegexp /\.\*/ does not pin a signer"):
        parse_policy({"version": 1, "identities": [{"issuerRegexp": ".*",
                                                    "subject": WORKFLOW}]}, source="p.yaml")


def test_match_everything_regexp_pinned_by_the_repository_is_allowed():
    policy = parse_policy({"version": 1, "identities": [{
        "issuer": ISSUER, "subjectRegexp": ".*", "sourceRepository": "acme/widget"}]},
        source="p.yaml")
    assert policy.identities[0].mismatch(identity(
        source_repository_uri="https://github.com/other/widget")) is not None


def test_anchored_regexp_is_accepted():
    parse_policy({"version": 1, "identities": [{
        "issuer": ISSUER, "subjectRegexp": r"https://github\.com/acme/.*"}]}, source="p.yaml")


def test_match_everything_identity_flag_is_a_usage_error():
    result = CliRunner().invoke(cli, ["verify", "127.0.0.1:1/x@sha256:" + "a" * 64,
                                      "--certificate-identity-regexp", ".*",
                                      "--certificate-oidc-issuer", ISSUER])
    assert result.exit_code == 2, result.output
    assert "--certificate-identity-regexp /.*/ does not pin a signer" in result.stderr
