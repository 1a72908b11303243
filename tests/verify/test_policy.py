"""The policy model: strict loading with errors that name the key, and file + flags merging."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from packageurl import PackageURL

from oci_attest.errors import UsageError
from oci_attest.verify.checks import check_denied_components, denied_match
from oci_attest.verify.identity import SignerIdentity
from oci_attest.verify.policy import (
    IdentityRule,
    PolicyError,
    PolicyFlags,
    combine,
    load_policy,
    normalize_repository,
    parse_denied,
    parse_duration,
    parse_policy,
    signer_workflow_matches,
)
from oci_attest.verify.results import Examined
from oci_attest.verify.statements import Component

TEMPLATE = Path(__file__).parents[2] / "templates" / "policy.yaml"
ISSUER = "https://token.actions.githubusercontent.com"
GOOD = {"version": 1, "identities": [{"issuer": ISSUER, "subject": "https://x/y"}]}


def parse(document):
    return parse_policy(document, source="p.yaml")


def test_template_loads_and_is_complete():
    policy = load_policy(TEMPLATE)
    assert policy.identities and policy.provenance.builder_ids
    assert policy.sbom.deny and policy.provenance.max_age == timedelta(days=30)


@pytest.mark.parametrize(("document", "message"), [
    ({"identites": []}, r"identites: unknown key \(did you mean 'identities'\?\)"),
    ({"provenance": {"builderID": ["x"]}},
     r"provenance\.builderID: unknown key \(did you mean 'builderIds'\?\)"),
    ({"provenance": {"builderIds": ["ok", 3]}}, r"provenance\.builderIds\[1\]: expected a "
                                                r"non-empty string"),
    ({"provenance": {"requireCleanTree": "yes"}}, r"provenance\.requireCleanTree: expected "
                                                  r"true or false"),
    ({"provenance": {"maxAge": "30 days"}}, r"provenance\.maxAge: invalid duration"),
    ({"identities": [{"issuer": ISSUER, "subjectRegexp": "(unclosed"}]},
     r"identities\[0\]\.subjectRegexp: invalid regular expression"),
    ({"identities": [{"subject": "https://x"}]}, r"identities\[0\]: a trusted identity needs "
                                                 r"issuer or issuerRegexp"),
    ({"identities": [{"issuer": ISSUER}]}, r"identities\[0\]: a trusted identity needs subject"),
    ({"identities": [{"issuer": ISSUER, "subject": "a", "subjectRegexp": "b"}]},
     r"not both"),
    ({"sbom": {"deny": [{"purl": "pkg:deb/debian/openssl", "versions": "vers:deb/<<3"}]}},
     r"sbom\.deny\[0\]: invalid version range"),
    ({"sbom": {"deny": ["openssl"]}}, r"sbom\.deny\[0\]: 'openssl' is not a package URL"),
    ({"version": 2}, r"version: unsupported policy version 2"),
    ({"trust": {"trustedRoot": "a", "trustConfig": "b"}}, r"trust: give trustedRoot or "
                                                          r"trustConfig, not both"),
    ([1, 2], r"expected a mapping, got list"),
])
def test_errors_name_the_key(document, message):
    with pytest.raises(PolicyError, match=message):
        parse(document)


def test_yaml_syntax_error_is_reported(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("identities: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(path)


def test_relative_trust_paths_are_relative_to_the_policy_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\ntrust:\n  trustedRoot: roots/root.json\n")
    assert load_policy(path).trust.trusted_root == tmp_path / "roots/root.json"


def test_flags_add_an_identity_and_narrow_every_identity():
    base = parse(GOOD)
    policy = combine(base, PolicyFlags(certificate_identity="https://other",
                                       certificate_oidc_issuer=ISSUER,
                                       source_repo="acme/app", builder_ids=("b2",)))
    assert len(policy.identities) == 2
    assert all(rule.source_repository == "acme/app" for rule in policy.identities)
    assert policy.provenance.source_repositories == ("acme/app",)
    assert policy.provenance.builder_ids == ("b2",)
    assert policy.source == "p.yaml + flags"


def test_scalar_flags_override_the_file():
    base = parse({**GOOD, "provenance": {"predicateType": "x", "maxAge": "2d",
                                         "requireCleanTree": True}})
    policy = combine(base, PolicyFlags(predicate_type="https://example.test/y", max_age="1h",
                                       require_clean_tree=False))
    assert policy.provenance.predicate_type == "https://example.test/y"
    assert policy.provenance.max_age == timedelta(hours=1)
    assert policy.provenance.require_clean_tree is False


def test_no_trusted_signer_is_a_usage_error():
    with pytest.raises(UsageError, match="no trusted signer"):
        combine(None, PolicyFlags())
    assert combine(None, PolicyFlags(), key_given=True).identities == ()
    with pytest.raises(UsageError, match="needs --certificate-oidc-issuer"):
        combine(None, PolicyFlags(certificate_identity="x"))


def cert(subject="https://github.com/acme/app/.github/workflows/b.yml@refs/heads/main",
         issuer=ISSUER, **extensions):
    return SignerIdentity(kind="certificate", subject=subject, issuer=issuer,
                          extensions=extensions)


def test_identity_matching_is_exact_and_regexps_are_anchored():
    assert IdentityRule(issuer=ISSUER, subject=cert().subject).mismatch(cert()) is None
    suffixed = cert(issuer=f"{ISSUER}/hammer-time")
    assert "not 'https://token.actions.githubusercontent.com'" in IdentityRule(
        issuer=ISSUER, subject=cert().subject).mismatch(suffixed)
    # An unanchored search would let https://evil.example/?https://github.com/acme/ through.
    rule = IdentityRule(issuer=ISSUER, subject_regexp=r"https://github\.com/acme/.*")
    assert rule.mismatch(cert()) is None
    assert rule.mismatch(cert(subject="https://evil.example/?https://github.com/acme/x"))


@pytest.mark.parametrize("subject", [
    "https://github.com/acme/app/.github/workflows/b.yml@refs/heads/main-evil",
    "https://github.com/acme/app/.github/workflows/b.yml@refs/heads/main\n",
    "evil https://github.com/acme/app/.github/workflows/b.yml@refs/heads/main",
])
def test_subject_regexp_must_match_the_whole_identity(subject):
    """``re.match`` would accept a branch that merely starts with ``main``; ``re.search`` any
    identity that contains the pattern."""
    rule = IdentityRule(issuer=ISSUER, subject_regexp=r"https://github\.com/acme/app/\.github/"
                                                      r"workflows/b\.yml@refs/heads/main")
    assert rule.mismatch(cert()) is None
    assert "does not match" in rule.mismatch(cert(subject=subject))


@pytest.mark.parametrize("issuer", [
    f"{ISSUER}/hammer-time",
    f"{ISSUER}.evil.example",
    f"https://evil.example/{ISSUER}",
])
def test_issuer_regexp_must_match_the_whole_issuer(issuer):
    rule = IdentityRule(issuer_regexp=r"https://token\.actions\.githubusercontent\.com",
                        subject=cert().subject)
    assert rule.mismatch(cert()) is None
    assert "does not match" in rule.mismatch(cert(issuer=issuer))


def test_extension_constraints():
    identity = cert(source_repository_uri="https://github.com/Acme/App",
                    source_repository_ref="refs/heads/main",
                    build_signer_uri="https://github.com/acme/app/.github/workflows/b.yml@refs/"
                                     "heads/main",
                    runner_environment="github-hosted")
    ok = IdentityRule(issuer=ISSUER, source_repository="acme/app", source_ref="refs/heads/main",
                      signer_workflow="acme/app/.github/workflows/b.yml",
                      runner_environment="github-hosted")
    assert ok.mismatch(identity) is None
    assert "runner environment" in IdentityRule(
        issuer=ISSUER, source_repository="acme/app",
        runner_environment="self-hosted").mismatch(identity)
    assert "signer workflow" in IdentityRule(
        issuer=ISSUER, signer_workflow="acme/app/.github/workflows/b.yml@refs/heads/dev"
    ).mismatch(identity)


@pytest.mark.parametrize(("given", "normal"), [
    ("https://github.com/Org/Repo.git", "github.com/org/repo"),
    ("git+https://github.com/org/repo@refs/heads/main", "github.com/org/repo"),
    ("org/repo", "github.com/org/repo"),
    ("git@github.com:org/repo.git", "github.com/org/repo"),
    ("https://user:token@gitlab.example/g/p", "gitlab.example/g/p"),
    ("ssh://git@gitlab.example:2222/g/p.git", "gitlab.example:2222/g/p"),
])
def test_repository_normalization(given, normal):
    assert normalize_repository(given) == normal


def test_signer_workflow_forms():
    uri = "https://github.com/acme/app/.github/workflows/b.yml@refs/tags/v1"
    assert signer_workflow_matches("acme/app/.github/workflows/b.yml", uri)
    assert signer_workflow_matches("github.com/acme/app/.github/workflows/b.yml@refs/tags/v1",
                                   uri)
    assert not signer_workflow_matches("acme/app/.github/workflows/c.yml", uri)


def test_durations():
    assert parse_duration("1w2d", "x") == timedelta(days=9)
    assert parse_duration("90m", "x") == timedelta(minutes=90)
    assert parse_duration("3600", "x") == timedelta(hours=1)
    for bad in ("", "5y", "d", "0d"):
        with pytest.raises(PolicyError):
            parse_duration(bad, "x")


def test_denied_components_follow_each_ecosystem():
    openssl = parse_denied("pkg:deb/debian/openssl@vers:deb/<3.0.15", "x")
    libssl_old = PackageURL.from_string(
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl")
    libssl_new = PackageURL.from_string(
        "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?upstream=openssl%403.0.15-1~deb12u1")
    assert denied_match(openssl, libssl_old)
    assert denied_match(openssl, libssl_new) is None
    assert denied_match(openssl, PackageURL.from_string("pkg:deb/debian/openssl@3.0.2")) \
        is not None
    assert denied_match(openssl, PackageURL.from_string("pkg:rpm/fedora/openssl@1.0")) is None
    pyyaml = parse_denied("pkg:pypi/pyyaml@vers:pypi/<5.4", "x")
    assert denied_match(pyyaml, PackageURL.from_string("pkg:pypi/PyYAML@5.3.1"))
    assert denied_match(pyyaml, PackageURL.from_string("pkg:pypi/py_yaml@5.3")) is None
    assert denied_match(pyyaml, PackageURL.from_string("pkg:pypi/pyyaml@6.0")) is None
    anything = parse_denied("pkg:npm/event-stream", "x")
    assert denied_match(anything, PackageURL.from_string("pkg:npm/event-stream@3.3.6"))
    exact = parse_denied("pkg:npm/event-stream@3.3.6", "x")
    assert denied_match(exact, PackageURL.from_string("pkg:npm/event-stream@3.3.6"))
    assert denied_match(exact, PackageURL.from_string("pkg:npm/event-stream@3.3.5")) is None
    # An unparsable (or missing) version cannot dodge the rule.
    assert "version unknown" in denied_match(openssl,
                                             PackageURL.from_string("pkg:deb/debian/openssl"))
    assert "cannot be compared" in denied_match(
        openssl, PackageURL(type="deb", namespace="debian", name="openssl", version="abc"))


@pytest.mark.parametrize(("rule", "component"), [
    ("pkg:pypi/ruamel-yaml@vers:pypi/<0.18", "pkg:pypi/ruamel.yaml@0.17.21"),
    ("pkg:pypi/ruamel.yaml@vers:pypi/<0.18", "pkg:pypi/ruamel-yaml@0.17.21"),
    ("pkg:pypi/ruamel_yaml@vers:pypi/<0.18", "pkg:pypi/Ruamel.YAML@0.17.21"),
    ("pkg:npm/%40babel/traverse@vers:npm/<7.23.2", "pkg:npm/%40Babel/Traverse@7.23.1"),
])
def test_deny_list_prefilter_folds_names_as_the_ecosystem_does(rule, component):
    """The SBOM scan's cheap text pre-filter must never skip a component the full purl match
    would deny: PyPI spells one name with ``-``, ``_`` or ``.`` in any case."""
    denied = parse_denied(rule, "x")
    examined = Examined(location="sbom", layout="referrer")
    result = check_denied_components([denied], [Component(component, "x")], examined)
    assert not result.passed, result.reason
    assert component in result.reason
    newer = component.replace("0.17.21", "0.18.5").replace("7.23.1", "7.23.2")
    assert check_denied_components([denied], [Component(newer, "x")], examined).passed
