"""The admission configuration: which policy judges which image, in which namespaces.

It shares the policy language of ``attest verify`` (each entry names a policy file or holds
one inline), so the gate a release passes at promotion and the gate in the cluster are the
same rules. Unknown keys are errors, as in the verify policy: a misspelt ``namespace:`` that
silently widened a rule would be a hole no test would notice.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from oci_attest._internal.yaml_errors import load_yaml_file
from oci_attest.errors import InputError
from oci_attest.verify.policy import (
    Policy,
    PolicyFlags,
    combine,
    for_images,
    load_policy,
    parse_duration,
)
from oci_attest.verify.policy import parse_policy as parse_verify_policy

_TOP_KEYS = frozenset({"policies", "exemptNamespaces", "unmatchedImages", "registryCredentials",
                       "cache", "timeoutSeconds", "kubernetes"})
_ENTRY_KEYS = frozenset({"name", "images", "namespaces", "policy", "mode"})
_CACHE_KEYS = frozenset({"ttl", "maxEntries", "resolveTtl"})
_KUBE_KEYS = frozenset({"imagePullSecrets", "kubeconfig"})


@dataclass(frozen=True)
class AdmitPolicy:
    """One ``policies[]`` entry: first match wins, per image."""

    name: str
    images: tuple[str, ...]
    namespaces: tuple[str, ...]
    policy: Policy
    digest: str  # identifies the policy's content in the verdict cache
    enforce: bool

    def matches(self, image_name: str, namespace: str) -> bool:
        return (any(fnmatch.fnmatchcase(image_name, glob) for glob in self.images)
                and (not self.namespaces
                     or any(fnmatch.fnmatchcase(namespace, glob) for glob in self.namespaces)))


@dataclass(frozen=True)
class AdmitConfig:
    policies: tuple[AdmitPolicy, ...]
    exempt_namespaces: tuple[str, ...] = ()
    deny_unmatched: bool = True
    registry_credentials: Path | None = None
    cache_ttl: timedelta = timedelta(minutes=10)
    cache_entries: int = 10_000
    resolve_ttl: timedelta = timedelta(seconds=30)
    timeout: float = 10.0
    pull_secrets: bool = False
    kubeconfig: Path | None = None
    source: str = field(default="")

    def policy_for(self, image_name: str, namespace: str) -> AdmitPolicy | None:
        return next((p for p in self.policies if p.matches(image_name, namespace)), None)

    def exempt(self, namespace: str) -> bool:
        return any(fnmatch.fnmatchcase(namespace, glob) for glob in self.exempt_namespaces)


def load_config(path: Path) -> AdmitConfig:
    document = load_yaml_file(path, "admission config")
    return parse_config(document, source=str(path), base_dir=path.parent)


def parse_config(document: Any, *, source: str, base_dir: Path) -> AdmitConfig:
    top = _mapping(document, source, "", _TOP_KEYS)
    entries = top.get("policies")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{source}: policies must be a non-empty list",
                         hint="each entry: name, images, policy (see `attest admit --help`)")
    policies = tuple(_policy(source, base_dir, number, item)
                     for number, item in enumerate(entries))
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise InputError(f"{source}: policy names must be unique")
    unmatched = top.get("unmatchedImages", "deny")
    if unmatched not in ("deny", "allow"):
        raise InputError(f"{source}: unmatchedImages must be deny or allow, not {unmatched!r}")
    cache = _mapping(top.get("cache", {}), source, "cache", _CACHE_KEYS)
    kube = _mapping(top.get("kubernetes", {}), source, "kubernetes", _KUBE_KEYS)
    timeout = top.get("timeoutSeconds", 10)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 1 <= timeout <= 30:
        raise InputError(f"{source}: timeoutSeconds must be a number from 1 to 30 (the API "
                         "server's own limit)")
    credentials = top.get("registryCredentials")
    max_entries = cache.get("maxEntries", 10_000)
    if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1:
        raise InputError(f"{source}: cache.maxEntries must be a positive integer")
    pull_secrets = kube.get("imagePullSecrets", False)
    if not isinstance(pull_secrets, bool):
        raise InputError(f"{source}: kubernetes.imagePullSecrets must be true or false")
    return AdmitConfig(
        policies=policies,
        exempt_namespaces=_strings(top.get("exemptNamespaces", []), source, "exemptNamespaces"),
        deny_unmatched=unmatched == "deny",
        registry_credentials=(base_dir / credentials) if isinstance(credentials, str) else None,
        cache_ttl=_duration(cache.get("ttl", "10m"), source, "cache.ttl"),
        cache_entries=max_entries,
        resolve_ttl=_duration(cache.get("resolveTtl", "30s"), source, "cache.resolveTtl"),
        timeout=float(timeout),
        pull_secrets=pull_secrets,
        kubeconfig=(base_dir / kube["kubeconfig"]) if isinstance(kube.get("kubeconfig"), str)
        else None,
        source=source,
    )


def _policy(source: str, base_dir: Path, number: int, item: Any) -> AdmitPolicy:
    where = f"policies[{number}]"
    entry = _mapping(item, source, where, _ENTRY_KEYS)
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{source}: {where}.name must be a non-empty string")
    images = _strings(entry.get("images"), source, f"{where}.images", required=True)
    namespaces = _strings(entry.get("namespaces", []), source, f"{where}.namespaces")
    mode = entry.get("mode", "enforce")
    if mode not in ("enforce", "warn"):
        raise InputError(f"{source}: {where}.mode must be enforce or warn, not {mode!r}")
    raw = entry.get("policy")
    if isinstance(raw, str):
        policy_path = base_dir / raw
        policy = load_policy(policy_path)
        try:
            digest = hashlib.sha256(policy_path.read_bytes()).hexdigest()
        except OSError as error:
            raise InputError(f"cannot read policy {policy_path}: {error.strerror}") from None
    elif isinstance(raw, dict):
        policy = parse_verify_policy(raw, source=f"{source}: {where}.policy", base_dir=base_dir)
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    else:
        raise InputError(f"{source}: {where}.policy must be a policy file path or an inline "
                         "attest verify policy mapping")
    # combine() validates what a policy needs to mean anything (a trusted signer, above all).
    policy = for_images(combine(policy, PolicyFlags()))
    return AdmitPolicy(name=name, images=images, namespaces=namespaces, policy=policy,
                       digest=digest, enforce=mode == "enforce")


def _mapping(value: Any, source: str, where: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{source}: {where or 'the document'} must be a mapping")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise InputError(f"{source}: unknown key {unknown[0]!r}"
                         f"{' in ' + where if where else ''}",
                         hint=f"allowed: {', '.join(sorted(allowed))}")
    return value


def _strings(value: Any, source: str, where: str, *, required: bool = False
             ) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) \
            or (required and not value):
        raise InputError(f"{source}: {where} must be a {'non-empty ' if required else ''}"
                         "list of strings")
    return tuple(value)


def _duration(value: Any, source: str, where: str) -> timedelta:
    if not isinstance(value, str):
        raise InputError(f"{source}: {where} must be a duration such as 10m or 30s")
    return parse_duration(value, f"{source}: {where}")
