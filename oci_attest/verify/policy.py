"""The verification policy: who may sign, what the provenance must say, what the SBOM may hold.

One model serves the policy file (YAML, see ``docs/policy.md``) and the command-line flags, so
that ``attest verify --policy prod.yaml --builder-id X`` means exactly "the file, plus this".
Loading is strict: an unknown key, a wrong type, a regular expression that does not compile or
a version range that does not parse is an error naming the key (``provenance.builderIds[1]``),
because a policy that silently ignores a misspelt rule passes images it was written to stop.

Combination rules (file + flags):

* the identity flags (``--certificate-identity[-regexp]``, ``--certificate-oidc-issuer[-regexp]``)
  add one trusted identity to the file's list;
* the certificate-extension flags (``--source-repo``, ``--source-ref``, ``--signer-workflow``,
  ``--runner-environment``) narrow *every* trusted identity; ``--source-repo`` and
  ``--source-ref`` also narrow the provenance's source;
* list flags (``--builder-id``, ``--allowed-base-registry``, ``--deny-component``) extend the
  file's lists; scalar flags (``--predicate-type``, ``--max-age``, booleans) override it.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from packageurl import PackageURL

from oci_attest._internal.yaml_errors import yaml_problem
from oci_attest.errors import InputError, UsageError
from oci_attest.verify.identity import SignerIdentity

if TYPE_CHECKING:
    from univers.version_range import VersionRange

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
ANY_PREDICATE = "any"
CYCLONEDX_TYPES = ("https://cyclonedx.org/bom",)
SPDX_TYPES = ("https://spdx.dev/Document",)
DEFAULT_SBOM_TYPES = CYCLONEDX_TYPES + SPDX_TYPES
POLICY_VERSION = 1
GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"
#: ``--type`` shorthands as cosign and gh spell them (cosign's bare ``slsaprovenance`` is v0.2)
PREDICATE_SHORTHANDS = {
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "cyclonedx": "https://cyclonedx.org/bom",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
}


def expand_predicate_type(text: str, flag: str = "--type") -> str:
    """A predicate type URI, ``any``, or a shorthand; anything else is a usage error (a typo
    must not turn into a type no attestation has, i.e. a silent FAIL)."""
    if text == ANY_PREDICATE or ":" in text:  # a URI: https://…, urn:…
        return text
    known = PREDICATE_SHORTHANDS.get(text.lower())
    if known is None:
        raise UsageError(f"unknown {flag} {text!r}",
                         hint=f"use a predicate type URI or one of "
                              f"{', '.join(sorted(PREDICATE_SHORTHANDS))}")
    return known


class PolicyError(InputError):
    """The policy file (or a policy flag) is wrong; the message names the key."""

    kind = "invalid policy"


# ------------------------------------------------------------------------------- identities
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
            if actual is None or normalize_repository(actual) != normalize_repository(
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
            if actual is None or actual.rstrip("/").rsplit("/", 1)[-1].lower() \
                    != self.owner.lower():
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


def signer_workflow_matches(expected: str, signer_uri: str) -> bool:
    """``org/repo/.github/workflows/x.yml`` matches ``https://github.com/org/repo/...x.yml@ref``.

    With ``@ref`` in ``expected`` the ref must match too; without, any ref does (as in
    ``gh attestation verify --signer-workflow``).
    """
    expected_path, _, expected_ref = expected.partition("@")
    actual_path, _, actual_ref = signer_uri.partition("@")
    if normalize_repository(expected_path) != normalize_repository(actual_path):
        return False
    return not expected_ref or expected_ref == actual_ref


# ------------------------------------------------------------------------------ provenance
@dataclass(frozen=True)
class ProvenancePolicy:
    predicate_type: str = SLSA_PROVENANCE_V1
    builder_ids: tuple[str, ...] = ()
    source_repositories: tuple[str, ...] = ()
    source_refs: tuple[str, ...] = ()
    require_clean_tree: bool = False
    allowed_base_registries: tuple[str, ...] = ()
    require_pinned_base_images: bool = False
    max_age: timedelta | None = None
    signer_consistency: bool = True
    require_secret_scan: bool = False
    source_commits: tuple[str, ...] = ()

    @property
    def checks_anything(self) -> bool:
        """True when a rule beyond the default signer cross-checks is configured."""
        return bool(self.builder_ids or self.source_repositories or self.source_refs
                    or self.require_clean_tree or self.allowed_base_registries
                    or self.require_pinned_base_images or self.max_age
                    or self.require_secret_scan or self.source_commits)


def repository_allowed(pattern: str, repository: str) -> bool:
    """Glob match on normalized repositories (``github.com/acme/*``)."""
    return fnmatch.fnmatchcase(normalize_repository(repository), normalize_repository(pattern))


def ref_allowed(pattern: str, ref: str) -> bool:
    return fnmatch.fnmatchcase(ref, pattern)


# ------------------------------------------------------------------------------------ SBOM
@dataclass(frozen=True)
class DeniedComponent:
    """A package that must not be in the image, optionally only within a version range."""

    purl: PackageURL
    versions: VersionRange | None
    text: str
    reason: str | None = None

    def describe(self) -> str:
        return self.text + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class SbomPolicy:
    required: bool = False
    predicate_types: tuple[str, ...] = DEFAULT_SBOM_TYPES
    deny: tuple[DeniedComponent, ...] = ()


# ----------------------------------------------------------------------------------- trust
@dataclass(frozen=True)
class TrustSettings:
    trusted_root: Path | None = None
    trust_config: Path | None = None
    offline: bool = False


@dataclass(frozen=True)
class Policy:
    """A complete, validated policy."""

    identities: tuple[IdentityRule, ...] = ()
    provenance: ProvenancePolicy = field(default_factory=ProvenancePolicy)
    sbom: SbomPolicy = field(default_factory=SbomPolicy)
    trust: TrustSettings = field(default_factory=TrustSettings)
    source: str = "flags"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "identities": [i.to_json() for i in self.identities],
            "provenance": {
                "predicateType": self.provenance.predicate_type,
                "builderIds": list(self.provenance.builder_ids),
                "sourceRepositories": list(self.provenance.source_repositories),
                "sourceRefs": list(self.provenance.source_refs),
                "requireCleanTree": self.provenance.require_clean_tree,
                "requireSecretScan": self.provenance.require_secret_scan,
                "baseImages": {
                    "allowedRegistries": list(self.provenance.allowed_base_registries),
                    "requireDigest": self.provenance.require_pinned_base_images},
                "maxAge": format_duration(self.provenance.max_age)
                if self.provenance.max_age else None,
                "signerConsistency": self.provenance.signer_consistency,
            },
            "sbom": {"required": self.sbom.required,
                     "predicateTypes": list(self.sbom.predicate_types),
                     "deny": [d.describe() for d in self.sbom.deny]},
        }


# ---------------------------------------------------------------------------- overrides
@dataclass(frozen=True)
class PolicyFlags:
    """What the command line says; ``None`` means "not given"."""

    certificate_identity: str | None = None
    certificate_identity_regexp: str | None = None
    certificate_oidc_issuer: str | None = None
    certificate_oidc_issuer_regexp: str | None = None
    source_repo: str | None = None
    source_ref: str | None = None
    signer_workflow: str | None = None
    runner_environment: str | None = None
    predicate_type: str | None = None
    builder_ids: tuple[str, ...] = ()
    require_clean_tree: bool | None = None
    require_secret_scan: bool | None = None
    allowed_base_registries: tuple[str, ...] = ()
    require_pinned_base_images: bool | None = None
    max_age: str | None = None
    require_sbom: bool | None = None
    deny_components: tuple[str, ...] = ()
    trusted_root: Path | None = None
    trust_config: Path | None = None
    offline: bool | None = None
    source_digest: str | None = None
    owner: str | None = None

    @property
    def names_identity(self) -> bool:
        return any(v is not None for v in (
            self.certificate_identity, self.certificate_identity_regexp,
            self.certificate_oidc_issuer, self.certificate_oidc_issuer_regexp))


def combine(policy: Policy | None, flags: PolicyFlags, *, key_given: bool = False) -> Policy:
    """File policy plus flags (see the module docstring for the rules); validates the result."""
    base = policy or Policy()
    identities = list(base.identities)
    if flags.names_identity:
        rule = IdentityRule(
            issuer=flags.certificate_oidc_issuer,
            issuer_regexp=_regexp(flags.certificate_oidc_issuer_regexp,
                                  "--certificate-oidc-issuer-regexp"),
            subject=flags.certificate_identity,
            subject_regexp=_regexp(flags.certificate_identity_regexp,
                                   "--certificate-identity-regexp"),
            owner=flags.owner, name="command-line identity")
        _check_identity(rule, "the identity flags", flag_names=True)
        identities.append(rule)
    elif flags.owner is not None and not identities:
        # gh attestation verify --owner ORG: any workflow of ORG's repositories on GitHub
        identities.append(IdentityRule(issuer=GITHUB_ACTIONS_ISSUER, owner=flags.owner,
                                       name=f"GitHub Actions of {flags.owner}"))
    narrowed = {k: v for k, v in {
        "source_repository": flags.source_repo, "source_ref": flags.source_ref,
        "signer_workflow": flags.signer_workflow,
        "runner_environment": flags.runner_environment,
        "source_digest": flags.source_digest, "owner": flags.owner}.items() if v is not None}
    if narrowed:
        identities = [replace(rule, **narrowed) for rule in identities]
    if not identities and not key_given:
        raise UsageError(
            "no trusted signer: give --certificate-identity (or -regexp) with "
            "--certificate-oidc-issuer (or -regexp), a policy file with identities, or --key",
            hint="attest never accepts a signature without knowing whose it must be")
    provenance = base.provenance
    source_repositories = provenance.source_repositories
    if flags.source_repo is not None:
        source_repositories = (*source_repositories, flags.source_repo)
    source_refs = provenance.source_refs
    if flags.source_ref is not None:
        source_refs = (*source_refs, flags.source_ref)
    max_age = provenance.max_age
    if flags.max_age is not None:
        max_age = parse_duration(flags.max_age, "--max-age")
    provenance = replace(
        provenance,
        predicate_type=(expand_predicate_type(flags.predicate_type) if flags.predicate_type
                        else provenance.predicate_type),
        builder_ids=(*provenance.builder_ids, *flags.builder_ids),
        source_repositories=source_repositories,
        source_refs=source_refs,
        require_clean_tree=_pick(flags.require_clean_tree, provenance.require_clean_tree),
        require_secret_scan=_pick(flags.require_secret_scan, provenance.require_secret_scan),
        allowed_base_registries=(*provenance.allowed_base_registries,
                                 *flags.allowed_base_registries),
        require_pinned_base_images=_pick(flags.require_pinned_base_images,
                                          provenance.require_pinned_base_images),
        max_age=max_age,
        source_commits=(*provenance.source_commits,
                        *((flags.source_digest,) if flags.source_digest else ())),
    )
    sbom = replace(
        base.sbom,
        required=_pick(flags.require_sbom, base.sbom.required),
        deny=(*base.sbom.deny, *(parse_denied(text, "--deny-component")
                                 for text in flags.deny_components)),
    )
    trust = base.trust
    if flags.trusted_root is not None or flags.trust_config is not None:
        trust = replace(trust, trusted_root=flags.trusted_root, trust_config=flags.trust_config)
    if flags.offline is not None:
        trust = replace(trust, offline=flags.offline or trust.offline)
    if trust.trusted_root is not None and trust.trust_config is not None:
        raise UsageError("--trusted-root and --trust-config are alternatives; give one")
    source = base.source if policy is not None else "flags"
    if policy is not None and (flags != PolicyFlags()):
        source = f"{base.source} + flags"
    return Policy(identities=tuple(identities), provenance=provenance, sbom=sbom, trust=trust,
                  source=source)


def _pick(flag: bool | None, current: bool) -> bool:
    return current if flag is None else flag


# ------------------------------------------------------------------------------- loading
_TOP_KEYS = ("version", "identities", "provenance", "sbom", "trust")
_IDENTITY_KEYS = {"name": "name", "issuer": "issuer", "issuerRegexp": "issuer_regexp",
                  "subject": "subject", "subjectRegexp": "subject_regexp",
                  "sourceRepository": "source_repository", "sourceRef": "source_ref",
                  "signerWorkflow": "signer_workflow", "runnerEnvironment": "runner_environment",
                  "sourceDigest": "source_digest", "owner": "owner"}
_PROVENANCE_KEYS = ("predicateType", "builderIds", "sourceRepositories", "sourceRefs",
                    "requireCleanTree", "requireSecretScan", "baseImages", "maxAge",
                    "signerConsistency")
_BASE_IMAGE_KEYS = ("allowedRegistries", "requireDigest")
_SBOM_KEYS = ("required", "predicateTypes", "deny")
_DENY_KEYS = ("purl", "versions", "reason")
_TRUST_KEYS = ("trustedRoot", "trustConfig", "offline")


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; relative trust paths are relative to the file."""
    try:
        text = path.read_text()
    except OSError as error:
        raise InputError(f"cannot read policy {path}: {error.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"{path}: not valid YAML: {yaml_problem(error)}") from None
    return parse_policy(document, source=str(path), base_dir=path.parent)


def parse_policy(document: Any, *, source: str, base_dir: Path | None = None) -> Policy:
    where = _Where(source)
    top = where.mapping(document, "", _TOP_KEYS)
    version = top.get("version", POLICY_VERSION)
    if version != POLICY_VERSION:
        raise where.error("version", f"unsupported policy version {version!r} (this attest "
                                     f"reads version {POLICY_VERSION})")
    identities = tuple(_parse_identity(where, item, f"identities[{i}]")
                       for i, item in enumerate(where.sequence(top.get("identities", []),
                                                               "identities")))
    provenance = _parse_provenance(where, top.get("provenance", {}))
    sbom = _parse_sbom(where, top.get("sbom", {}))
    trust = _parse_trust(where, top.get("trust", {}), base_dir)
    return Policy(identities=identities, provenance=provenance, sbom=sbom, trust=trust,
                  source=source)


class _Where:
    """Error helper: every message starts with the file and the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, message: str) -> PolicyError:
        return PolicyError(f"{self.source}: {key}: {message}" if key
                           else f"{self.source}: {message}",
                           hint="see docs/policy.md for every key and its type")

    def mapping(self, value: Any, key: str, allowed: Sequence[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping, got {type(value).__name__}")
        for name in value:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                suggestion = f" (did you mean {close[0]!r}?)" if close else ""
                path = f"{key}.{name}" if key else str(name)
                raise self.error(path, f"unknown key{suggestion}; allowed: "
                                       f"{', '.join(allowed)}")
        return value

    def sequence(self, value: Any, key: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {type(value).__name__}")
        return value

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "expected a non-empty string")
        return value.strip()

    def strings(self, value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        return tuple(self.string(v, f"{key}[{i}]")
                     for i, v in enumerate(self.sequence(value, key)))

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value


def _parse_identity(where: _Where, value: Any, key: str) -> IdentityRule:
    document = where.mapping(value, key, tuple(_IDENTITY_KEYS))
    fields = {_IDENTITY_KEYS[k]: where.string(v, f"{key}.{k}") for k, v in document.items()}
    for regexp_key in ("issuerRegexp", "subjectRegexp"):
        if regexp_key in document:
            _regexp(fields[_IDENTITY_KEYS[regexp_key]], f"{where.source}: {key}.{regexp_key}")
    rule = IdentityRule(**fields)
    _check_identity(rule, f"{where.source}: {key}")
    return rule


def _check_identity(rule: IdentityRule, where: str, *, flag_names: bool = False) -> None:
    """Refuse identities that would trust too much: an issuer and a subject are both needed."""
    if rule.issuer is not None and rule.issuer_regexp is not None:
        raise PolicyError(f"{where}: give an issuer or an issuer regexp, not both")
    if rule.subject is not None and rule.subject_regexp is not None:
        raise PolicyError(f"{where}: give a subject or a subject regexp, not both")
    if rule.issuer is None and rule.issuer_regexp is None:
        what = ("--certificate-oidc-issuer or --certificate-oidc-issuer-regexp" if flag_names
                else "issuer or issuerRegexp")
        raise (UsageError if flag_names else PolicyError)(
            f"{where}: a trusted identity needs {what}",
            hint="without it any OIDC provider's certificate could match")
    if (rule.subject is None and rule.subject_regexp is None and rule.owner is None
            and rule.source_repository is None and rule.signer_workflow is None):
        what = ("--certificate-identity or --certificate-identity-regexp" if flag_names
                else "subject, subjectRegexp, sourceRepository or signerWorkflow")
        raise (UsageError if flag_names else PolicyError)(
            f"{where}: a trusted identity needs {what}",
            hint="without it every signer of that issuer would be trusted")


def _regexp(text: str | None, where: str) -> str | None:
    if text is None:
        return None
    try:
        re.compile(text)
    except re.error as error:
        raise PolicyError(f"{where}: invalid regular expression {text!r}: {error}") from None
    return text


def _parse_provenance(where: _Where, value: Any) -> ProvenancePolicy:
    document = where.mapping(value, "provenance", _PROVENANCE_KEYS)
    base_images = where.mapping(document.get("baseImages", {}), "provenance.baseImages",
                                _BASE_IMAGE_KEYS)
    max_age = None
    if "maxAge" in document:
        max_age = parse_duration(str(document["maxAge"]), f"{where.source}: provenance.maxAge")
    return ProvenancePolicy(
        predicate_type=where.string(document.get("predicateType", SLSA_PROVENANCE_V1),
                                    "provenance.predicateType"),
        builder_ids=where.strings(document.get("builderIds", []), "provenance.builderIds"),
        source_repositories=where.strings(document.get("sourceRepositories", []),
                                          "provenance.sourceRepositories"),
        source_refs=where.strings(document.get("sourceRefs", []), "provenance.sourceRefs"),
        require_clean_tree=where.boolean(document.get("requireCleanTree", False),
                                         "provenance.requireCleanTree"),
        allowed_base_registries=where.strings(base_images.get("allowedRegistries", []),
                                              "provenance.baseImages.allowedRegistries"),
        require_pinned_base_images=where.boolean(base_images.get("requireDigest", False),
                                                 "provenance.baseImages.requireDigest"),
        max_age=max_age,
        signer_consistency=where.boolean(document.get("signerConsistency", True),
                                         "provenance.signerConsistency"),
        require_secret_scan=where.boolean(document.get("requireSecretScan", False),
                                          "provenance.requireSecretScan"),
    )


def _parse_sbom(where: _Where, value: Any) -> SbomPolicy:
    document = where.mapping(value, "sbom", _SBOM_KEYS)
    deny: list[DeniedComponent] = []
    for i, item in enumerate(where.sequence(document.get("deny", []), "sbom.deny")):
        key = f"sbom.deny[{i}]"
        if isinstance(item, str):
            deny.append(parse_denied(item, f"{where.source}: {key}"))
            continue
        entry = where.mapping(item, key, _DENY_KEYS)
        purl_text = where.string(entry.get("purl"), f"{key}.purl")
        versions = entry.get("versions")
        text = purl_text + (f"@{where.string(versions, f'{key}.versions')}" if versions else "")
        denied = parse_denied(text, f"{where.source}: {key}")
        reason = entry.get("reason")
        if reason is not None:
            denied = replace(denied, reason=where.string(reason, f"{key}.reason"))
        deny.append(denied)
    types = where.strings(document.get("predicateTypes", list(DEFAULT_SBOM_TYPES)),
                          "sbom.predicateTypes")
    return SbomPolicy(required=where.boolean(document.get("required", False), "sbom.required"),
                      predicate_types=types, deny=tuple(deny))


def _parse_trust(where: _Where, value: Any, base_dir: Path | None) -> TrustSettings:
    document = where.mapping(value, "trust", _TRUST_KEYS)

    def path(key: str) -> Path | None:
        if key not in document:
            return None
        given = Path(where.string(document[key], f"trust.{key}"))
        return given if given.is_absolute() or base_dir is None else base_dir / given

    settings = TrustSettings(trusted_root=path("trustedRoot"), trust_config=path("trustConfig"),
                             offline=where.boolean(document.get("offline", False),
                                                   "trust.offline"))
    if settings.trusted_root is not None and settings.trust_config is not None:
        raise where.error("trust", "give trustedRoot or trustConfig, not both")
    return settings


# ---------------------------------------------------------------------------- value parsers
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, where: str) -> timedelta:
    """``30d``, ``12h``, ``1w2d``, ``90m``; a bare number is seconds."""
    compact = text.strip().lower().replace(" ", "")
    if compact.isdigit():
        return timedelta(seconds=int(compact))
    if not compact or _DURATION.sub("", compact):
        raise PolicyError(f"{where}: invalid duration {text!r}",
                          hint="write it like 30d, 12h, 1w2d or 90m")
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(compact))
    if seconds <= 0:
        raise PolicyError(f"{where}: a maximum age must be positive")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_denied(text: str, where: str) -> DeniedComponent:
    """``pkg:deb/debian/openssl@vers:deb/<3.0.15``: a purl whose version is a ``vers`` range.

    Without ``@vers:...`` every version is denied. A plain version (``@1.2.3``) means exactly
    that version.
    """
    value = text.strip()
    if not value.startswith("pkg:"):
        raise PolicyError(f"{where}: {text!r} is not a package URL (pkg:TYPE/NAMESPACE/NAME)")
    versions: VersionRange | None = None
    purl_text = value
    marker = value.find("@vers:")
    if marker != -1:
        purl_text, range_text = value[:marker], value[marker + 1:]
        try:
            versions = _version_range(range_text)
        except Exception as error:  # univers raises several types for a bad range
            raise PolicyError(f"{where}: invalid version range {range_text!r}: {error}",
                              hint="use a vers: range, e.g. vers:deb/<3.0.15 or "
                                   "vers:pypi/>=1.0|<1.4") from None
    try:
        purl = PackageURL.from_string(purl_text)
    except ValueError as error:
        raise PolicyError(f"{where}: invalid package URL {purl_text!r}: {error}") from None
    if purl.version and versions is None:
        try:
            versions = _version_range(f"vers:{_vers_scheme(purl.type)}/{purl.version}")
        except Exception as error:
            raise PolicyError(f"{where}: cannot read version {purl.version!r} of {purl_text!r} "
                              f"as a {purl.type} version: {error}") from None
    bare = PackageURL(type=purl.type, namespace=purl.namespace, name=purl.name,
                      qualifiers=purl.qualifiers, subpath=purl.subpath)
    return DeniedComponent(purl=bare, versions=versions, text=value)


_VERS_SCHEMES = {"deb": "deb", "pypi": "pypi", "npm": "npm", "maven": "maven",
                 "golang": "golang", "cargo": "cargo", "gem": "gem", "apk": "apk", "rpm": "rpm",
                 "nuget": "nuget", "composer": "composer", "alpm": "alpm", "hex": "hex",
                 "conan": "conan"}


def _version_range(text: str) -> VersionRange:
    """univers is untyped (and slow to import): one lazy call site for it."""
    from univers.version_range import VersionRange

    parse: Any = VersionRange.from_string
    result: VersionRange = parse(text)
    return result


def _vers_scheme(purl_type: str) -> str:
    return _VERS_SCHEMES.get(purl_type, "generic")


def identities_summary(rules: Sequence[IdentityRule]) -> str:
    return "; ".join(rule.label() for rule in rules) or "none"


def flags_from_mapping(values: Mapping[str, Any]) -> PolicyFlags:
    """Build :class:`PolicyFlags` from click's parameter dict (names match the fields)."""
    known = {f for f in PolicyFlags.__dataclass_fields__}
    return PolicyFlags(**{k: v for k, v in values.items() if k in known})
