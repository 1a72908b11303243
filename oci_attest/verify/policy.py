"""The verification policy: who may sign, what the provenance must say, what the SBOM may hold.

One model serves the policy file (YAML, see ``docs/policy.md``) and the command-line flags, so
that ``attest verify --policy prod.yaml --builder-id X`` means exactly "the file, plus this".
Loading is strict (``policy_file``): an unknown key, a wrong type, a regular expression that
does not compile or a version range that does not parse is an error naming the key
(``provenance.builderIds[1]``), because a policy that silently ignores a misspelt rule passes
images it was written to stop. Trusted identities and how signers match them live in
``identity_rules``, value parsers in ``policy_values``; every public name is re-exported here.

Combination rules (file + flags):

* the identity flags (``--certificate-identity[-regexp]``, ``--certificate-oidc-issuer[-regexp]``)
  add one trusted identity to the file's list;
* the certificate-extension flags (``--source-repo``, ``--source-ref``, ``--signer-workflow``,
  ``--runner-environment``) narrow *every* trusted identity; ``--source-repo`` and
  ``--source-ref`` also narrow the provenance's source;
* list flags (``--builder-id``, ``--allowed-base-registry``, ``--deny-component``,
  ``--build-type``) extend the file's lists; scalar flags (``--predicate-type``,
  ``--max-age``, booleans) override it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from oci_attest import buildtypes
from oci_attest.errors import UsageError
from oci_attest.verify.identity_rules import (
    IdentityRule,
    certificate_repository,
    check_identity,
    identities_summary,
    matches_anything,
    normalize_repository,
    signer_workflow_matches,
)
from oci_attest.verify.policy_values import (
    DeniedComponent,
    PolicyError,
    check_regexp,
    format_duration,
    parse_denied,
    parse_duration,
)

__all__ = ["ANY_PREDICATE", "DEFAULT_SBOM_TYPES", "DeniedComponent", "IdentityRule", "Policy",
           "PolicyError", "PolicyFlags", "ProvenancePolicy", "SbomPolicy", "TrustSettings",
           "VulnPolicy", "certificate_repository", "combine", "flags_from_mapping", "for_images",
           "format_duration", "identities_summary", "load_policy", "matches_anything",
           "normalize_repository", "parse_denied", "parse_duration", "parse_policy",
           "ref_allowed", "repository_allowed", "signer_workflow_matches"]

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
    #: Allowed ``buildDefinition.buildType`` values (``buildTypes``, ``--build-type``).
    build_types: tuple[str, ...] = ()
    #: Applied when ``build_types`` is not configured: for images, attest's own build type
    #: (see :func:`for_images`). Checked on every provenance that is judged, but it is a
    #: default, not a configured rule: it does not by itself require provenance.
    default_build_types: tuple[str, ...] = ()
    #: Every remote input (ADD <url>, ADD <git>) must be recorded with a digest.
    require_pinned_remote_inputs: bool = False
    #: The provenance's source commit must be one of these (``--source-digest``).
    source_commits: tuple[str, ...] = ()

    def configured_rules(self) -> tuple[str, ...]:
        """The check name of every rule this policy configures, beyond the default signer
        cross-checks. Each one is reported, PASS or FAIL, on every verification: a rule that
        cannot be evaluated fails, it is never left out. (``max_age`` is compared with None: a
        zero duration is falsy and once switched the rule off.)"""
        rules = {
            "provenance.builder-id": bool(self.builder_ids),
            "provenance.source-repository": bool(self.source_repositories),
            "provenance.source-ref": bool(self.source_refs),
            "provenance.clean-tree": self.require_clean_tree,
            "provenance.secret-scan": self.require_secret_scan,
            "provenance.base-image-registries": bool(self.allowed_base_registries),
            "provenance.base-images-pinned": self.require_pinned_base_images,
            "provenance.max-age": self.max_age is not None,
            "provenance.build-type": bool(self.build_types),
            "provenance.remote-inputs-pinned": self.require_pinned_remote_inputs,
            "provenance.source-commit": bool(self.source_commits),
        }
        return tuple(name for name, configured in rules.items() if configured)

    @property
    def checks_anything(self) -> bool:
        """True when a rule beyond the default signer cross-checks is configured."""
        return bool(self.configured_rules())


def repository_allowed(pattern: str, repository: str) -> bool:
    """Glob match on normalized repositories (``github.com/acme/*``)."""
    return fnmatch.fnmatchcase(normalize_repository(repository), normalize_repository(pattern))


def ref_allowed(pattern: str, ref: str) -> bool:
    return fnmatch.fnmatchcase(ref, pattern)


# ------------------------------------------------------------------------------------ SBOM
@dataclass(frozen=True)
class SbomPolicy:
    required: bool = False
    predicate_types: tuple[str, ...] = DEFAULT_SBOM_TYPES
    deny: tuple[DeniedComponent, ...] = ()


# ------------------------------------------------------------------------ vulnerabilities
VULN_LEVELS = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class VulnPolicy:
    """``vulnerabilities: {maxAge, failOn}``: a verified vulnerability scan (cosign vuln/v1)
    of the digest, recent enough, with no active finding at or above ``failOn``."""

    required: bool = False
    max_age: timedelta | None = None
    fail_on: str | None = None

    def configured_rules(self) -> tuple[str, ...]:
        """Reported PASS or FAIL on every verification once configured, like the provenance
        rules: absent or unverifiable evidence fails each one with the reason."""
        if not self.required:
            return ()
        rules = ["vulnerabilities.present"]
        if self.max_age is not None:
            rules.append("vulnerabilities.max-age")
        if self.fail_on is not None:
            rules.append("vulnerabilities.fail-on")
        return tuple(rules)


def vuln_policy(required: bool, max_age: timedelta | None, fail_on: str | None,
                where: str) -> VulnPolicy:
    """A maximum age or a threshold requires the scan; the threshold must be a level."""
    if fail_on is not None and fail_on not in VULN_LEVELS:
        raise PolicyError(f"{where}: failOn {fail_on!r} is not one of {', '.join(VULN_LEVELS)}",
                          hint="see docs/policy.md")
    return VulnPolicy(required=required or max_age is not None or fail_on is not None,
                      max_age=max_age, fail_on=fail_on)


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
    vulnerabilities: VulnPolicy = field(default_factory=VulnPolicy)
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
                if self.provenance.max_age is not None else None,
                "signerConsistency": self.provenance.signer_consistency,
                "buildTypes": list(self.provenance.build_types
                                   or self.provenance.default_build_types),
                "requirePinnedRemoteInputs": self.provenance.require_pinned_remote_inputs,
            },
            "sbom": {"required": self.sbom.required,
                     "predicateTypes": list(self.sbom.predicate_types),
                     "deny": [d.describe() for d in self.sbom.deny]},
            "vulnerabilities": {
                "required": self.vulnerabilities.required,
                "maxAge": format_duration(self.vulnerabilities.max_age)
                if self.vulnerabilities.max_age is not None else None,
                "failOn": self.vulnerabilities.fail_on},
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
    require_pinned_remote_inputs: bool | None = None
    max_age: str | None = None
    require_sbom: bool | None = None
    deny_components: tuple[str, ...] = ()
    build_types: tuple[str, ...] = ()
    require_vuln_scan: bool | None = None
    vuln_max_age: str | None = None
    vuln_fail_on: str | None = None
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
            issuer_regexp=check_regexp(flags.certificate_oidc_issuer_regexp,
                                  "--certificate-oidc-issuer-regexp"),
            subject=flags.certificate_identity,
            subject_regexp=check_regexp(flags.certificate_identity_regexp,
                                   "--certificate-identity-regexp"),
            owner=flags.owner, name="command-line identity")
        check_identity(rule, "the identity flags", flag_names=True)
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
    if flags.predicate_type is not None and not flags.predicate_type.strip():
        raise UsageError("--predicate-type is empty; give a predicate type URI or 'any'")
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
        build_types=(*provenance.build_types, *flags.build_types),
        require_pinned_remote_inputs=_pick(flags.require_pinned_remote_inputs,
                                           provenance.require_pinned_remote_inputs),
        source_commits=(*provenance.source_commits,
                        *((flags.source_digest,) if flags.source_digest else ())),
    )
    sbom = replace(
        base.sbom,
        required=_pick(flags.require_sbom, base.sbom.required),
        deny=(*base.sbom.deny, *(parse_denied(text, "--deny-component")
                                 for text in flags.deny_components)),
    )
    vulns = base.vulnerabilities
    vulnerabilities = vuln_policy(
        _pick(flags.require_vuln_scan, vulns.required),
        parse_duration(flags.vuln_max_age, "--vuln-max-age") if flags.vuln_max_age is not None
        else vulns.max_age,
        flags.vuln_fail_on if flags.vuln_fail_on is not None else vulns.fail_on,
        "--vuln-fail-on")
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
    return Policy(identities=tuple(identities), provenance=provenance, sbom=sbom,
                  vulnerabilities=vulnerabilities, trust=trust, source=source)


def for_images(policy: Policy) -> Policy:
    """The policy as it applies to an image: unless build types are configured, a provenance
    must be of attest's own image build type. Provenance that ``attest provenance`` wrote for
    an image built elsewhere (or that another tool wrote) records materials attest never saw
    used; a verifier accepts it only by listing its build type."""
    if policy.provenance.build_types:
        return policy
    return replace(policy, provenance=replace(policy.provenance,
                                              default_build_types=(buildtypes.IMAGE,)))


def _pick(flag: bool | None, current: bool) -> bool:
    return current if flag is None else flag


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file (see :mod:`oci_attest.verify.policy_file`)."""
    from oci_attest.verify.policy_file import load_policy as load

    return load(path)


def parse_policy(document: Any, *, source: str, base_dir: Path | None = None) -> Policy:
    """Validate an already-parsed policy document (see :mod:`oci_attest.verify.policy_file`)."""
    from oci_attest.verify.policy_file import parse_policy as parse

    return parse(document, source=source, base_dir=base_dir)


def flags_from_mapping(values: Mapping[str, Any]) -> PolicyFlags:
    """Build :class:`PolicyFlags` from click's parameter dict (names match the fields)."""
    known = {f for f in PolicyFlags.__dataclass_fields__}
    return PolicyFlags(**{k: v for k, v in values.items() if k in known})
