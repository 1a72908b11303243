"""Trusted identities of the verification policy: who may sign, and how a signer is matched.

What a person writes in a policy is normalised leniently (``acme/app``, a git URL, scp-like);
what a certificate says is attacker-chosen text and is parsed strictly. An identity must pin
a signer: an issuer, and a subject, repository or workflow that a stranger cannot also have.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from oci_attest.errors import UsageError
from oci_attest.verify.identity import SignerIdentity
from oci_attest.verify.policy_values import PolicyError


@dataclass(frozen=True)
class IdentityRule:
    """One trusted signer. Every field that is set must hold; unset fields are not checked."""

    issuer: str | None = None
    issuer_regexp: str | None = None
    subject: str | None = None
    subject_regexp: str | None = None
    source_repository: str | None = None
    source_ref: str | None = None
    signer_workflow: str | None = None
    runner_environment: str | None = None
    name: str | None = None
    #: the source commit the certificate was issued for (Fulcio sourceRepositoryDigest)
    source_digest: str | None = None
    #: the organisation or user owning the source repository (gh's ``--owner``)
    owner: str | None = None

    def label(self) -> str:
        if self.name:
            return self.name
        who = self.subject or (f"/{self.subject_regexp}/" if self.subject_regexp else None)
        who = who or self.signer_workflow or self.source_repository or (
            f"any repository of {self.owner}" if self.owner else "any subject")
        issuer = self.issuer or (f"/{self.issuer_regexp}/" if self.issuer_regexp else "?")
        return f"{who} from {issuer}"

    def mismatch(self, identity: SignerIdentity) -> str | None:
        """None when ``identity`` satisfies this rule, else the first reason it does not."""
        if identity.kind != "certificate":
            return "signed with a key, not a certificate identity"
        issuer = identity.issuer or ""
        if self.issuer is not None and issuer != self.issuer:
            return f"issuer is {issuer!r}, not {self.issuer!r}"
        if self.issuer_regexp is not None and not re.fullmatch(self.issuer_regexp, issuer):
            return (f"issuer {issuer!r} does not match /{self.issuer_regexp}/ (the whole "
                    f"value must match; add .* for a prefix)")
        if self.subject is not None and identity.subject != self.subject:
            return f"identity is {identity.subject!r}, not {self.subject!r}"
        if self.subject_regexp is not None and not re.fullmatch(self.subject_regexp,
                                                                identity.subject):
            return (f"identity {identity.subject!r} does not match /{self.subject_regexp}/ "
                    f"(the whole value must match; add .* for a prefix)")
        if self.source_repository is not None:
            actual = identity.get("source_repository_uri")
            if actual is None or certificate_repository(actual) != normalize_repository(
                    self.source_repository):
                return (f"certificate source repository is {actual!r}, not "
                        f"{self.source_repository!r}")
        if self.source_ref is not None:
            actual = identity.get("source_repository_ref")
            if actual != self.source_ref:
                return f"certificate source ref is {actual!r}, not {self.source_ref!r}"
        if self.source_digest is not None:
            actual = identity.get("source_repository_digest")
            if actual is None or actual.lower() != self.source_digest.lower():
                return (f"certificate source commit is {actual!r}, not "
                        f"{self.source_digest!r}")
        if self.owner is not None:
            actual = identity.get("source_repository_owner_uri")
            if actual is None or certificate_owner(actual) != self.owner.lower():
                return (f"certificate source repository owner is {actual!r}, not "
                        f"{self.owner!r}")
        if self.signer_workflow is not None:
            actual = identity.get("build_signer_uri") or identity.subject
            if not signer_workflow_matches(self.signer_workflow, actual):
                return f"signer workflow is {actual!r}, not {self.signer_workflow!r}"
        if self.runner_environment is not None:
            actual = identity.get("runner_environment")
            if actual != self.runner_environment:
                return (f"runner environment is {actual!r}, not "
                        f"{self.runner_environment!r}")
        return None

    def to_json(self) -> dict[str, str]:
        keys = {"issuer": self.issuer, "issuerRegexp": self.issuer_regexp,
                "subject": self.subject, "subjectRegexp": self.subject_regexp,
                "sourceRepository": self.source_repository, "sourceRef": self.source_ref,
                "signerWorkflow": self.signer_workflow,
                "runnerEnvironment": self.runner_environment, "name": self.name,
                "sourceDigest": self.source_digest, "owner": self.owner}
        return {k: v for k, v in keys.items() if v is not None}


def normalize_repository(text: str) -> str:
    """Repository URLs in every spelling (``git+https``, scp-like, ``owner/repo``), normalized.

    Compared case-insensitively: the hosts that matter (GitHub, GitLab) treat repository paths
    that way, and a provenance written by one tool and a certificate by another disagree on
    case more often than on anything else.
    """
    value = text.strip().removeprefix("git+")
    value = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", value)
    slash, at = value.find("/"), value.find("@")
    if at != -1 and (slash == -1 or at < slash):
        value = value[at + 1:]  # user or token before the host
    scp = re.match(r"^([^/:]+):(?!\d+(?:/|$))(.+)$", value)
    if scp:
        value = f"{scp.group(1)}/{scp.group(2)}"  # scp-like host:org/repo
    value = value.split("@", 1)[0]  # a trailing @ref
    value = value.split("#", 1)[0].split("?", 1)[0].rstrip("/").removesuffix(".git")
    first = value.split("/", 1)[0]
    if "." not in first and ":" not in first and first != "localhost":
        value = f"github.com/{value}"
    return value.lower()


_SEGMENT = r"[A-Za-z0-9_.-]+"
_CERT_REPOSITORY = re.compile(rf"https://(?P<host>[A-Za-z0-9.-]+(?::\d+)?)"
                              rf"/(?P<path>{_SEGMENT}(?:/{_SEGMENT})+)")
# The path holds no "@", so the first "@" ends it; a git ref may itself contain "@" (never
# "@{"), so everything after that first "@" is the ref.
_CERT_SIGNER = re.compile(r"https://(?P<host>[A-Za-z0-9.-]+(?::\d+)?)/(?P<path>[^?#@\s]+)"
                          r"(?:@(?P<ref>(?:[^?#@\s]|@(?!\{))+))?")


def certificate_repository(uri: str) -> str | None:
    """``host/owner/name`` (lowercase) from a certificate's source-repository URI, or None.

    The certificate side is parsed strictly, unlike what a person writes in a policy: exactly
    ``https://HOST/OWNER/NAME`` (GitLab: more path segments), nothing after it. Normalising it
    the lenient way would accept ``https://github.com/acme/widget@evil``, ``…#x``, ``…?x=``,
    ``…/`` and ``….git`` for ``acme/widget``. Case is folded: GitHub and GitLab treat
    repository paths case-insensitively.
    """
    match = _CERT_REPOSITORY.fullmatch(uri)
    if match is None:
        return None
    segments = match.group("path").split("/")
    if segments[-1].lower().endswith(".git") or any(s in (".", "..") for s in segments):
        return None
    return f"{match.group('host')}/{match.group('path')}".lower()


def signer_workflow_matches(expected: str, signer_uri: str) -> bool:
    """``org/repo/.github/workflows/x.yml`` matches ``https://github.com/org/repo/...x.yml@ref``.

    With ``@ref`` in ``expected`` the ref must match too; without, any ref does (as in
    ``gh attestation verify --signer-workflow``). Host, owner and repository compare
    case-insensitively (as the forge does); the workflow path is compared exactly, since
    ``RELEASE.yml`` and ``release.yml`` are two different files. The certificate's URI is
    parsed strictly: a query or fragment is a mismatch; the ref is everything after the
    first ``@`` (git refs may contain ``@``, never ``@{``).
    """
    match = _CERT_SIGNER.fullmatch(signer_uri)
    if match is None:
        return False
    expected_path, _, expected_ref = expected.strip().partition("@")
    wanted = re.sub(r"^https?://", "", expected_path).split("/")
    if not ("." in wanted[0] or ":" in wanted[0] or wanted[0] == "localhost"):
        wanted = ["github.com", *wanted]
    actual = [match.group("host"), *match.group("path").split("/")]
    if len(wanted) != len(actual) or len(actual) < 4:
        return False
    if [w.lower() for w in wanted[:3]] != [a.lower() for a in actual[:3]]:
        return False
    if wanted[3:] != actual[3:]:
        return False
    return not expected_ref or expected_ref == (match.group("ref") or "")


def check_identity(rule: IdentityRule, where: str, *, flag_names: bool = False) -> None:
    """Refuse identities that would trust too much: an issuer and a subject are both needed."""
    if rule.issuer is not None and rule.issuer_regexp is not None:
        raise PolicyError(f"{where}: give an issuer or an issuer regexp, not both")
    if rule.subject is not None and rule.subject_regexp is not None:
        raise PolicyError(f"{where}: give a subject or a subject regexp, not both")
    error = UsageError if flag_names else PolicyError
    issuer_probe = matches_anything(rule.issuer_regexp)
    if issuer_probe is not None:
        name = "--certificate-oidc-issuer-regexp" if flag_names else "issuerRegexp"
        raise error(f"{where}: {name} /{rule.issuer_regexp}/ does not pin a signer: it "
                    f"matches {issuer_probe!r}", hint="anchor it to your issuer's URL")
    subject_pins = rule.subject is not None or (rule.subject_regexp is not None
                                                and matches_anything(rule.subject_regexp) is None)
    if rule.issuer is None and rule.issuer_regexp is None:
        what = ("--certificate-oidc-issuer or --certificate-oidc-issuer-regexp" if flag_names
                else "issuer or issuerRegexp")
        raise error(f"{where}: a trusted identity needs {what}",
                    hint="without it any OIDC provider's certificate could match")
    if rule.subject_regexp is not None and not subject_pins and (
            rule.source_repository is None and rule.signer_workflow is None
            and rule.owner is None):
        name = "--certificate-identity-regexp" if flag_names else "subjectRegexp"
        raise error(f"{where}: {name} /{rule.subject_regexp}/ does not pin a signer: it "
                    f"matches {matches_anything(rule.subject_regexp)!r}",
                    hint="anchor it to your repository or workflow, as an empty identity "
                         "would not be accepted either")
    if (not subject_pins and rule.owner is None
            and rule.source_repository is None and rule.signer_workflow is None):
        what = ("--certificate-identity or --certificate-identity-regexp" if flag_names
                else "subject, subjectRegexp, sourceRepository or signerWorkflow")
        raise error(f"{where}: a trusted identity needs {what}",
                    hint="without it every signer of that issuer would be trusted")


#: Values no real identity or issuer pattern should accept: a regexp that matches one of them
#: matches (nearly) anything, so it pins nothing.
_PROBES = ("", "x", "attacker@evil.invalid", "https://evil.invalid/attacker/repo/.github/"
           "workflows/pwn.yml@refs/heads/main", "https://evil.invalid")


def matches_anything(regexp: str | None) -> str | None:
    """The first probe value ``regexp`` fully matches (so it does not pin anyone), else None."""
    if regexp is None:
        return None
    try:
        compiled = re.compile(regexp)
    except re.error:
        return None  # reported by the caller that compiles it
    return next((p for p in _PROBES if compiled.fullmatch(p)), None)


def identities_summary(rules: Sequence[IdentityRule]) -> str:
    return "; ".join(rule.label() for rule in rules) or "none"


_OWNER_URI = re.compile(r"^https://[A-Za-z0-9.-]+(?::[0-9]+)?/([A-Za-z0-9_.-]+)$")


def certificate_owner(uri: str) -> str | None:
    """The owner (lowercase) from a certificate's source-repository-owner URI, parsed as
    strictly as the repository: ``https://HOST/OWNER`` and nothing after it."""
    match = _OWNER_URI.fullmatch(uri)
    return match.group(1).lower() if match else None
