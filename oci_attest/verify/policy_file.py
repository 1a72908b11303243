"""The policy file (YAML, ``docs/policy.md``): strict loading with errors that name the key.

An unknown key, a wrong type, a key given twice, a rule that would check nothing, a regular
expression that does not compile or a version range that does not parse is an error naming
the file and key (``provenance.builderIds[1]``): a policy that silently ignores a misspelt
rule passes images it was written to stop.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from oci_attest._internal.yaml_errors import yaml_problem
from oci_attest.errors import InputError
from oci_attest.verify.identity_rules import IdentityRule, check_identity
from oci_attest.verify.policy import (
    DEFAULT_SBOM_TYPES,
    POLICY_VERSION,
    SLSA_PROVENANCE_V1,
    Policy,
    ProvenancePolicy,
    SbomPolicy,
    TrustSettings,
    VulnPolicy,
    vuln_policy,
)
from oci_attest.verify.policy_values import (
    DeniedComponent,
    PolicyError,
    check_regexp,
    parse_denied,
    parse_duration,
)

_TOP_KEYS = ("version", "identities", "provenance", "sbom", "vulnerabilities", "trust")
_IDENTITY_KEYS = {"name": "name", "issuer": "issuer", "issuerRegexp": "issuer_regexp",
                  "subject": "subject", "subjectRegexp": "subject_regexp",
                  "sourceRepository": "source_repository", "sourceRef": "source_ref",
                  "signerWorkflow": "signer_workflow", "runnerEnvironment": "runner_environment",
                  "sourceDigest": "source_digest", "owner": "owner"}
_PROVENANCE_KEYS = ("predicateType", "builderIds", "sourceRepositories", "sourceRefs",
                    "requireCleanTree", "requireSecretScan", "baseImages", "maxAge",
                    "signerConsistency", "buildTypes", "requirePinnedRemoteInputs")
_BASE_IMAGE_KEYS = ("allowedRegistries", "requireDigest")
_SBOM_KEYS = ("required", "predicateTypes", "deny")
_DENY_KEYS = ("purl", "versions", "reason")
_TRUST_KEYS = ("trustedRoot", "trustConfig", "offline")
_VULN_KEYS = ("maxAge", "failOn")


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; relative trust paths are relative to the file."""
    try:
        text = path.read_text()
    except OSError as error:
        raise InputError(f"cannot read policy {path}: {error.strerror}") from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        raise PolicyError(f"{path}: not valid YAML: {yaml_problem(error)}") from None
    return parse_policy(document, source=str(path), base_dir=path.parent)


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error: PyYAML
    keeps the last silently, so a second ``provenance:`` would switch off every rule of the
    first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool | None):
                continue  # the base class reports unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


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
    vulnerabilities = (_parse_vulnerabilities(where, top["vulnerabilities"])
                       if "vulnerabilities" in top else VulnPolicy())
    return Policy(identities=identities, provenance=provenance, sbom=sbom,
                  vulnerabilities=vulnerabilities, trust=trust, source=source)


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

    def rule_strings(self, document: Mapping[str, Any], name: str, key: str) -> tuple[str, ...]:
        """A list that configures a rule: absent is "no rule"; present but null or empty is
        refused, since it reads as a rule and would silently check nothing."""
        if name not in document:
            return ()
        value = document[name]
        if value is None or value == []:
            raise self.error(key, f"is {'null' if value is None else 'an empty list'}, which "
                                  f"would configure a rule that checks nothing; list at least "
                                  f"one value or remove the key")
        return self.strings(value, key)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value


def _parse_identity(where: _Where, value: Any, key: str) -> IdentityRule:
    document = where.mapping(value, key, tuple(_IDENTITY_KEYS))
    fields = {_IDENTITY_KEYS[k]: where.string(v, f"{key}.{k}") for k, v in document.items()}
    for regexp_key in ("issuerRegexp", "subjectRegexp"):
        if regexp_key in document:
            check_regexp(fields[_IDENTITY_KEYS[regexp_key]], f"{where.source}: {key}.{regexp_key}")
    rule = IdentityRule(**fields)
    check_identity(rule, f"{where.source}: {key}")
    return rule



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
        builder_ids=where.rule_strings(document, "builderIds", "provenance.builderIds"),
        source_repositories=where.rule_strings(document, "sourceRepositories",
                                               "provenance.sourceRepositories"),
        source_refs=where.rule_strings(document, "sourceRefs", "provenance.sourceRefs"),
        require_clean_tree=where.boolean(document.get("requireCleanTree", False),
                                         "provenance.requireCleanTree"),
        allowed_base_registries=where.rule_strings(base_images, "allowedRegistries",
                                                   "provenance.baseImages.allowedRegistries"),
        require_pinned_base_images=where.boolean(base_images.get("requireDigest", False),
                                                 "provenance.baseImages.requireDigest"),
        max_age=max_age,
        signer_consistency=where.boolean(document.get("signerConsistency", True),
                                         "provenance.signerConsistency"),
        require_secret_scan=where.boolean(document.get("requireSecretScan", False),
                                          "provenance.requireSecretScan"),
        build_types=where.rule_strings(document, "buildTypes", "provenance.buildTypes"),
        require_pinned_remote_inputs=where.boolean(
            document.get("requirePinnedRemoteInputs", False),
            "provenance.requirePinnedRemoteInputs"),
    )


def _parse_sbom(where: _Where, value: Any) -> SbomPolicy:
    document = where.mapping(value, "sbom", _SBOM_KEYS)
    deny: list[DeniedComponent] = []
    if "deny" in document and not document["deny"]:
        raise where.error("sbom.deny", "is null or empty, which would configure a rule that "
                                       "checks nothing; list at least one package or remove "
                                       "the key")
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
    types = (where.rule_strings(document, "predicateTypes", "sbom.predicateTypes")
             if "predicateTypes" in document else DEFAULT_SBOM_TYPES)
    return SbomPolicy(required=where.boolean(document.get("required", False), "sbom.required"),
                      predicate_types=types, deny=tuple(deny))


def _parse_vulnerabilities(where: _Where, value: Any) -> VulnPolicy:
    """``vulnerabilities:`` (even empty) requires a verified scan; ``maxAge`` and ``failOn``
    add the age and severity rules."""
    document = where.mapping(value, "vulnerabilities", _VULN_KEYS)
    max_age = None
    if "maxAge" in document:
        max_age = parse_duration(str(document["maxAge"]),
                                 f"{where.source}: vulnerabilities.maxAge")
    fail_on = None
    if "failOn" in document:
        fail_on = where.string(document["failOn"], "vulnerabilities.failOn").lower()
    return vuln_policy(True, max_age, fail_on, f"{where.source}: vulnerabilities")


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
