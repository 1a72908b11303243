"""Identity matching at its edges: each case kills a mutant bench/mutation.py found alive.

Repository URLs reach the policy in every spelling (certificate extensions, provenance,
flags); a normalization that is off by one character lets the wrong repository through or
refuses the right one.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ObjectIdentifier

from devstack.sigstore import der
from devstack.sigstore.principals import principal_for
from oci_attest.verify.identity import (
    SignerIdentity,
    identity_of_certificate,
    identity_of_key,
    key_der,
)
from oci_attest.verify.policy import IdentityRule, normalize_repository, signer_workflow_matches

ISSUER = "https://token.actions.githubusercontent.com"
CALLER = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
REUSABLE = "https://github.com/acme/shared/.github/workflows/build.yml@refs/tags/v2"


@pytest.mark.parametrize(("given", "normal"), [
    ("HTTPS://GitHub.com/Org/Repo", "github.com/org/repo"),
    ("https://ci@gitlab.example/g/p@refs/heads/main", "gitlab.example/g/p"),
    ("x@gitlab.example/g/p", "gitlab.example/g/p"),
    ("git@host.example:repo.git", "host.example/repo"),
    ("https://github.com/org/repo@refs/heads/a@b", "github.com/org/repo"),
    ("https://github.com/org/repo/", "github.com/org/repo"),
    ("https://github.com/org/REPOX/", "github.com/org/repox"),
    ("https://github.com/org/repo?tab=readme", "github.com/org/repo"),
    ("https://github.com/org/repo?a=1?b=2", "github.com/org/repo"),
    ("https://github.com/org/repo#readme", "github.com/org/repo"),
    ("https://github.com/org/repo#a#b", "github.com/org/repo"),
    ("http://gitea:3000/org/repo", "gitea:3000/org/repo"),
    ("http://localhost/org/repo", "localhost/org/repo"),
])
def test_repository_spellings(given, normal):
    assert normalize_repository(given) == normal


def test_signer_workflow_ref_may_contain_at_signs():
    uri = "https://github.com/o/r/.github/workflows/x.yml@refs/heads/a@b"
    assert signer_workflow_matches("o/r/.github/workflows/x.yml@refs/heads/a@b", uri)
    assert not signer_workflow_matches("o/r/.github/workflows/x.yml@refs/heads/a", uri)


def cert(subject=CALLER, issuer=ISSUER, **extensions):
    return SignerIdentity(kind="certificate", subject=subject, issuer=issuer,
                          extensions=extensions)


def test_reasons_name_what_differs():
    key = SignerIdentity(kind="key", subject="sha256:" + "ab" * 32)
    assert IdentityRule(issuer=ISSUER).mismatch(key) == \
        "signed with a key, not a certificate identity"
    assert IdentityRule(issuer=ISSUER).mismatch(cert(issuer=None)) == \
        f"issuer is '', not {ISSUER!r}"


def test_source_repository_must_be_the_certificates():
    rule = IdentityRule(issuer=ISSUER, source_repository="acme/app")
    assert rule.mismatch(cert(source_repository_uri="https://github.com/acme/app")) is None
    assert "certificate source repository is 'https://github.com/evil/app'" in rule.mismatch(
        cert(source_repository_uri="https://github.com/evil/app"))
    assert "certificate source repository is None" in rule.mismatch(cert())


def test_signer_workflow_is_the_build_signer_not_the_caller():
    """With a reusable workflow the SAN names the caller and Build Signer URI the workflow
    that really signed: --signer-workflow is about the latter."""
    identity = cert(build_signer_uri=REUSABLE)
    assert IdentityRule(issuer=ISSUER,
                        signer_workflow="acme/shared/.github/workflows/build.yml").mismatch(
        identity) is None
    assert "signer workflow is" in IdentityRule(
        issuer=ISSUER, signer_workflow="acme/app/.github/workflows/release.yml").mismatch(
        identity)
    # Without the extension (older certificates) the SAN is the signer.
    assert IdentityRule(issuer=ISSUER,
                        signer_workflow="acme/app/.github/workflows/release.yml").mismatch(
        cert()) is None


# ------------------------------------------------------------ identity out of a certificate
def _issue(stack, san, extensions):
    return stack.ca.issue(san, extensions, ec.generate_private_key(ec.SECP256R1()).public_key())


def _utf8(text: str) -> bytes:
    return der.utf8(text)


def test_github_certificate_identity_has_every_extension(sigstore_stack):
    issuer = sigstore_stack.issuer("github")
    principal = principal_for("github", issuer, sigstore_stack.claims("github"))
    identity = identity_of_certificate(_issue(sigstore_stack, principal.san,
                                              principal.extensions))
    assert identity.kind == "certificate" and identity.issuer == issuer
    assert identity.subject == sigstore_stack.expected_identity("github")
    assert identity.get("issuer_v1") == issuer
    assert identity.get("source_repository_uri") == "https://github.com/attest-dev/demo"
    assert identity.get("source_repository_ref") == "refs/heads/main"
    assert identity.get("build_signer_uri") == identity.subject
    assert identity.get("runner_environment") == "github-hosted"
    assert identity.get("github_workflow_repository") == "attest-dev/demo"


def test_extension_values_are_decoded_strictly(sigstore_stack):
    def oid(n: int) -> ObjectIdentifier:
        return ObjectIdentifier(f"1.3.6.1.4.1.57264.1.{n}")

    long_ref = "refs/heads/" + "a" * 300  # long-form DER length (2 bytes)
    extensions = [
        (oid(1), b"https://issuer.v1.example"),  # only the raw v1 issuer: the fallback
        (oid(14), _utf8(long_ref)),
        (oid(12), b"\x13\x05https"),  # PrintableString, not UTF8String: ignored
        (oid(13), _utf8("abc")[:-1]),  # length says 3, 2 bytes follow: ignored
        (oid(15), b"\x0c\x80"),  # indefinite length: ignored
        (oid(16), b"\x0c\x85" + b"\x00" * 5),  # 5 length bytes: ignored
        (oid(17), b"\x0c"),  # too short: ignored
        (oid(2), b"\xff\xfe"),  # raw bytes that are not UTF-8: ignored
        (oid(99), _utf8("unknown")),  # not a known Fulcio extension: ignored
        (oid(22), _utf8("")),  # empty but well-formed
    ]
    identity = identity_of_certificate(_issue(
        sigstore_stack, x509.RFC822Name("ci@attest.test"), extensions))
    assert identity.subject == "ci@attest.test"
    assert identity.issuer == "https://issuer.v1.example"
    assert dict(identity.extensions) == {"issuer_v1": "https://issuer.v1.example",
                                         "source_repository_ref": long_ref,
                                         "source_repository_visibility": ""}


def test_username_other_name_is_the_subject(sigstore_stack):
    other = x509.OtherName(ObjectIdentifier("1.3.6.1.4.1.57264.1.7"), _utf8("octocat!gh"))
    identity = identity_of_certificate(_issue(sigstore_stack, other, []))
    assert identity.subject == "octocat!gh" and identity.issuer is None
    odd = x509.OtherName(ObjectIdentifier("1.2.3.4"), _utf8("someone"))
    assert identity_of_certificate(_issue(sigstore_stack, odd, [])).subject == ""


def test_key_identity_is_the_spki_fingerprint():
    spki = key_der(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert spki[0] == 0x30  # DER SubjectPublicKeyInfo
    identity = identity_of_key(spki)
    assert identity.kind == "key" and identity.issuer is None
    assert identity.subject == "sha256:" + hashlib.sha256(spki).hexdigest()
    assert identity.describe() == f"key {identity.subject}"
    assert identity.to_json() == {"kind": "key", "subject": identity.subject, "issuer": None,
                                  "extensions": {}}
    assert cert(issuer=None).describe() == f"{CALLER} (issuer unknown)"


def test_v2_issuer_wins_over_v1_and_long_form_lengths_are_read(sigstore_stack):
    def oid(n: int) -> ObjectIdentifier:
        return ObjectIdentifier(f"1.3.6.1.4.1.57264.1.{n}")

    identity = identity_of_certificate(_issue(sigstore_stack, x509.RFC822Name("ci@attest.test"), [
        (oid(1), b"https://old.example"), (oid(8), _utf8("https://new.example")),
        (oid(14), b"\x0c\x81\x00"),  # an empty string, its length in long form
        (oid(12), b"\x0c\x84\x00\x00\x00\x03abc"),  # a length in four bytes (BER)
    ]))
    assert identity.issuer == "https://new.example"
    assert identity.get("source_repository_ref") == ""
    assert identity.get("source_repository_uri") == "abc"
