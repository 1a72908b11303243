"""The policy checks, one function each, each returning a :class:`CheckResult` with its reason.

Every check fails closed: when the evidence does not record what a rule asks about (no builder
id, no dirty flag, no source), the check fails and says that the fact is missing, because a
policy that passes on silence is easily satisfied by an attacker who stays silent.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from packageurl import PackageURL

from oci_attest.verify.policy import (
    DeniedComponent,
    ProvenancePolicy,
    certificate_repository,
    format_duration,
    normalize_repository,
    ref_allowed,
    repository_allowed,
)
from oci_attest.verify.results import CheckResult, Examined
from oci_attest.verify.statements import Component, Provenance, registry_matches

_GITHUB_RUNNER = "https://github.com/actions/runner/"


def _result(name: str, passed: bool, reason: str, examined: Examined) -> CheckResult:
    return CheckResult(name=name, passed=passed, reason=reason, attestation=examined.location,
                       identity=examined.signer)


def provenance_checks(policy: ProvenancePolicy, provenance: Provenance, examined: Examined,
                      now: datetime) -> list[CheckResult]:
    """Every configured provenance rule, plus the signer-consistency checks that always run."""
    results: list[CheckResult | None] = []
    if policy.signer_consistency:
        results += [check_builder_signer(provenance, examined),
                    check_source_signer(provenance, examined)]
    if policy.builder_ids:
        results.append(check_builder_id(policy.builder_ids, provenance, examined))
    if policy.source_repositories:
        results.append(check_source_repository(policy.source_repositories, provenance,
                                               examined))
    if policy.source_refs:
        results.append(check_source_ref(policy.source_refs, provenance, examined))
    if policy.source_commits:
        results.append(check_source_commit(policy.source_commits, provenance, examined))
    if policy.require_clean_tree:
        results.append(check_clean_tree(provenance, examined))
    if policy.require_secret_scan:
        results.append(check_secret_scan(provenance, examined))
    if policy.allowed_base_registries:
        results.append(check_base_registries(policy.allowed_base_registries, provenance,
                                             examined))
    if policy.require_pinned_base_images:
        results.append(check_base_pinned(provenance, examined))
    if policy.max_age is not None:
        results.append(check_max_age(policy, provenance, examined, now))
    if policy.build_types or policy.default_build_types:
        results.append(check_build_type(policy, provenance, examined))
    if policy.require_pinned_remote_inputs:
        results.append(check_remote_inputs_pinned(provenance, examined))
    return [r for r in results if r is not None]


def check_build_type(policy: ProvenancePolicy, provenance: Provenance,
                     examined: Examined) -> CheckResult:
    """Only the listed build types; for images by default only attest's own image build,
    since other build types (``attest provenance``'s among them) record materials their
    signer did not see the build use."""
    allowed = policy.build_types or policy.default_build_types
    default = not policy.build_types
    build_type = provenance.build_type
    if build_type is None:
        return _result("provenance.build-type", False,
                       "provenance records no buildType (buildDefinition.buildType)", examined)
    if build_type in allowed:
        return _result("provenance.build-type", True,
                       f"buildType {build_type} is allowed"
                       + (" (the default for images: attest's own build)" if default else ""),
                       examined)
    hint = ("; by default an image's provenance must come from attest's own build: list the "
            "build types you accept in provenance.buildTypes or with --build-type"
            if default else "")
    return _result("provenance.build-type", False,
                   f"buildType {build_type} is not allowed ({', '.join(allowed)}){hint}",
                   examined)


def check_builder_id(allowed: Sequence[str], provenance: Provenance,
                     examined: Examined) -> CheckResult:
    builder = provenance.builder_id
    if builder is None:
        return _result("provenance.builder-id", False,
                       "provenance names no builder (runDetails.builder.id)", examined)
    if builder in allowed:
        return _result("provenance.builder-id", True, f"builder {builder} is allowed",
                       examined)
    return _result("provenance.builder-id", False,
                   f"builder {builder} is not an allowed builder ({', '.join(allowed)})",
                   examined)


def check_builder_signer(provenance: Provenance, examined: Examined) -> CheckResult | None:
    """The builder the statement claims must be the one the signing certificate describes.

    A provenance claiming a GitHub-hosted runner, signed by a certificate Fulcio issued to a
    self-hosted runner's token, was not built where it says. Only facts both sides record are
    compared; when either side is silent there is nothing to check.
    """
    evidence = examined.evidence
    if evidence is None or evidence.signer.kind != "certificate":
        return None
    cert_runner = evidence.signer.get("runner_environment")
    claims: list[tuple[str, str]] = []
    builder = provenance.builder_id or ""
    if builder.startswith(_GITHUB_RUNNER):
        claims.append((f"builder {builder}", builder.removeprefix(_GITHUB_RUNNER)))
    if provenance.runner_environment and provenance.runner_environment not in ("unknown",):
        claims.append(("internalParameters.ci.runnerEnvironment",
                       provenance.runner_environment))
    if cert_runner is None or not claims:
        return None
    for what, claimed in claims:
        if claimed != cert_runner:
            return _result("provenance.builder-signer", False,
                           f"provenance claims {what} ({claimed}) but the signing certificate "
                           f"was issued to a {cert_runner} runner", examined)
    return _result("provenance.builder-signer", True,
                   f"claimed runner environment {cert_runner} matches the signing certificate",
                   examined)


def check_source_signer(provenance: Provenance, examined: Examined) -> CheckResult | None:
    """The source the provenance names must be the repository the signer's token was for."""
    evidence = examined.evidence
    if evidence is None or evidence.signer.kind != "certificate":
        return None
    signer_repo = evidence.signer.get("source_repository_uri")
    if signer_repo is None or not provenance.sources:
        return None
    expected = certificate_repository(signer_repo)
    if expected is None:
        return _result("provenance.source-signer", False,
                       f"the signing certificate's source repository {signer_repo!r} is not a "
                       f"plain https://HOST/OWNER/NAME URL", examined)
    for claim in provenance.sources:
        if normalize_repository(claim.repository) != expected:
            return _result("provenance.source-signer", False,
                           f"provenance names source {claim.repository} ({claim.where}) but "
                           f"the signing certificate was issued for {signer_repo}", examined)
    return _result("provenance.source-signer", True,
                   f"provenance source matches the signer's repository {signer_repo}",
                   examined)


def check_source_repository(patterns: Sequence[str], provenance: Provenance,
                            examined: Examined) -> CheckResult:
    if not provenance.sources:
        return _result("provenance.source-repository", False,
                       "provenance records no source repository", examined)
    for claim in provenance.sources:
        if not any(repository_allowed(p, claim.repository) for p in patterns):
            return _result("provenance.source-repository", False,
                           f"source {claim.repository} ({claim.where}) is not allowed "
                           f"({', '.join(patterns)})", examined)
    names = sorted({normalize_repository(c.repository) for c in provenance.sources})
    return _result("provenance.source-repository", True,
                   f"source {', '.join(names)} is allowed", examined)


def check_source_ref(patterns: Sequence[str], provenance: Provenance,
                     examined: Examined) -> CheckResult:
    refs = [(c.ref, c.where) for c in provenance.sources if c.ref]
    if not refs:
        return _result("provenance.source-ref", False, "provenance records no source ref",
                       examined)
    for ref, where in refs:
        if not any(ref_allowed(p, ref) for p in patterns):
            return _result("provenance.source-ref", False,
                           f"source ref {ref} ({where}) is not allowed ({', '.join(patterns)})",
                           examined)
    return _result("provenance.source-ref", True,
                   f"source ref {', '.join(sorted({r for r, _ in refs}))} is allowed", examined)


def check_source_commit(commits: Sequence[str], provenance: Provenance,
                        examined: Examined) -> CheckResult:
    """``--source-digest``: every source commit the provenance records must be the pinned one,
    and it must record at least one."""
    recorded = [(c.commit, c.where) for c in provenance.sources if c.commit]
    if not recorded:
        return _result("provenance.source-commit", False,
                       "provenance records no source commit", examined)
    wanted = {c.lower() for c in commits}
    for commit, where in recorded:
        if commit.lower() not in wanted:
            return _result("provenance.source-commit", False,
                           f"source commit {commit} ({where}) is not {', '.join(commits)}",
                           examined)
    return _result("provenance.source-commit", True,
                   f"source commit {recorded[0][0]} is the pinned one", examined)


def check_clean_tree(provenance: Provenance, examined: Examined) -> CheckResult:
    if provenance.dirty is None:
        return _result("provenance.clean-tree", False,
                       "provenance does not record whether the source tree was clean "
                       "(internalParameters.git.dirty)", examined)
    if provenance.dirty:
        return _result("provenance.clean-tree", False,
                       "the image was built from a dirty tree (uncommitted changes)", examined)
    return _result("provenance.clean-tree", True, "built from a clean tree", examined)


def check_secret_scan(provenance: Provenance, examined: Examined) -> CheckResult:
    """Fails closed: no recorded scan is as bad as a dirty one."""
    scan = provenance.secret_scan
    if scan is None:
        return _result("provenance.secret-scan", False,
                       "provenance records no secret scan (internalParameters.secretScan); "
                       "build with `attest build --scan-secrets`", examined)
    if scan.get("clean") is not True:
        return _result("provenance.secret-scan", False,
                       f"the build's secret scan was not clean ({scan.get('findings')} "
                       "findings)", examined)
    return _result("provenance.secret-scan", True,
                   f"secret scan clean ({scan.get('filesScanned', '?')} files, rules "
                   f"{scan.get('rulesVersion', '?')})", examined)


def check_base_registries(allowed: Sequence[str], provenance: Provenance,
                          examined: Examined) -> CheckResult:
    if not provenance.images:
        return _result("provenance.base-image-registries", True,
                       "provenance lists no external images (FROM scratch)", examined)
    for image in provenance.images:
        if image.registry is None or not any(registry_matches(a, image.registry)
                                             for a in allowed):
            return _result("provenance.base-image-registries", False,
                           f"base image {image.written or image.uri} comes from "
                           f"{image.registry or 'an unknown registry'}, which is not allowed "
                           f"({', '.join(allowed)})", examined)
    return _result("provenance.base-image-registries", True,
                   f"all {len(provenance.images)} base images come from allowed registries",
                   examined)


def check_base_pinned(provenance: Provenance, examined: Examined) -> CheckResult:
    """Every external image must be recorded with the exact digest the build consumed."""
    for image in provenance.images:
        if image.digest is None:
            return _result("provenance.base-images-pinned", False,
                           f"base image {image.written or image.uri} is not pinned: the "
                           f"provenance records no sha256 digest for it", examined)
    if not provenance.images:
        return _result("provenance.base-images-pinned", True,
                       "provenance lists no external images (FROM scratch)", examined)
    return _result("provenance.base-images-pinned", True,
                   "every base image is recorded by digest ("
                   + ", ".join(f"{i.written or i.name}@{i.digest}" for i in provenance.images[:3])
                   + (", ..." if len(provenance.images) > 3 else "") + ")", examined)


def check_remote_inputs_pinned(provenance: Provenance, examined: Examined) -> CheckResult:
    """Every download the build made (``ADD <url>``, ``ADD <git repo>``, also through a base's
    ONBUILD trigger) must be recorded with the digest of what was fetched; a URL without one
    could have served anything."""
    unpinned = [r for r in provenance.remote_inputs if r.digest is None]
    if unpinned:
        first = unpinned[0]
        return _result("provenance.remote-inputs-pinned", False,
                       f"remote input {first.uri} ({first.uses or 'ADD'}) is not pinned: the "
                       f"provenance records no digest for it"
                       + (f" (and {len(unpinned) - 1} more)" if len(unpinned) > 1 else ""),
                       examined)
    return _result("provenance.remote-inputs-pinned", True,
                   f"every remote input is recorded by digest ({len(provenance.remote_inputs)})"
                   if provenance.remote_inputs else "provenance lists no remote inputs",
                   examined)


def check_max_age(policy: ProvenancePolicy, provenance: Provenance, examined: Examined,
                  now: datetime) -> CheckResult:
    """Age from the oldest of: the verified signing time and the build's finish time."""
    assert policy.max_age is not None
    moments: list[tuple[str, datetime]] = []
    if examined.evidence is not None:
        moments.append(("signed", examined.evidence.signed_at))
    if provenance.finished is not None:
        moments.append(("build finished", provenance.finished))
    if not moments:
        return _result("provenance.max-age", False,
                       "neither a verified signing time nor a build time is known", examined)
    what, moment = min(moments, key=lambda m: m[1])
    age = now - moment
    limit = format_duration(policy.max_age)
    if age > policy.max_age:
        return _result("provenance.max-age", False,
                       f"{what} {moment.isoformat()}, {_age(age.total_seconds())} ago, older "
                       f"than the maximum age {limit}", examined)
    return _result("provenance.max-age", True,
                   f"{what} {moment.isoformat()} is within the maximum age {limit}", examined)


def _age(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d{rest // 3600}h" if days else f"{rest // 3600}h{rest % 3600 // 60}m"


# ------------------------------------------------------------------------------------ SBOM
#: Distribution package types whose namespace is the distribution: a component that leaves
#: the namespace out may be any distribution's package, so a rule naming one still applies.
_DISTRO_TYPES = frozenset({"deb", "rpm", "apk", "alpm"})


def check_denied_components(deny: Sequence[DeniedComponent], components: Sequence[Component],
                            examined: Examined) -> CheckResult:
    """Compare parsed, normalised purls only, never raw text.

    Percent-encoding (``%6Fpenssl``, ``libstdc%2B%2B6``), ``pkg://`` and ``pkg:/`` spellings and
    letter case all parse to the same package; a component whose purl does not parse is
    reported, and denied when its name could be a denied package's.
    """
    by_name: dict[str, list[DeniedComponent]] = {}
    for rule in deny:
        by_name.setdefault(_norm_name(rule.purl.type, rule.purl.name), []).append(rule)
    found: list[str] = []
    unparsed: list[str] = []
    for component in components:
        purl = component.purl
        if purl is None:
            unparsed.append(component.text)
            why = _unparsed_match(deny, component)
            if why is not None:
                found.append(f"{_quote(component.text)} ({why})")
            continue
        for name in _names(purl, component.source):
            why = next((w for rule in by_name.get(name, ())
                        if (w := denied_match(rule, purl, source=component.source))), None)
            if why is not None:
                found.append(f"{component.text} ({why})")
                break
    note = ""
    if unparsed:
        shown = ", ".join(_quote(t) for t in unparsed[:3])
        more = f" and {len(unparsed) - 3} more" if len(unparsed) > 3 else ""
        note = f"; {len(unparsed)} components have a purl that does not parse: {shown}{more}"
    if found:
        shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
        return _result("sbom.denied-components", False,
                       f"denied components found: {shown}{note}", examined)
    return _result("sbom.denied-components", True,
                   f"none of {len(components)} components is denied{note}", examined)


def denied_match(rule: DeniedComponent, purl: PackageURL, *,
                 source: str | None = None) -> str | None:
    """Why ``purl`` is denied by ``rule`` (None when it is not).

    Names are compared after the purl parser's percent-decoding, case-folded for every type
    (a deny list errs towards matching) and with PyPI's separator rules; a Debian binary
    package also matches by its source package (``upstream`` qualifier, or ``source`` from the
    SBOM), so ``pkg:deb/debian/openssl`` covers ``libssl3``. A version the range's scheme
    cannot parse is reported as denied: a deny list that can be dodged with an odd version
    string is not one.
    """
    if purl.type.lower() != rule.purl.type.lower():
        return None
    namespace_differs = (bool(rule.purl.namespace)
                         and (purl.namespace or "").lower() != (rule.purl.namespace or "").lower())
    if namespace_differs and (purl.namespace or purl.type.lower() not in _DISTRO_TYPES):
        return None
    if _norm_name(purl.type, rule.purl.name) not in _names(purl, source):
        return None
    qualifiers: dict[str, Any] = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    wanted: dict[str, Any] = rule.purl.qualifiers if isinstance(rule.purl.qualifiers,
                                                                dict) else {}
    if any(str(qualifiers.get(k)) != str(v) for k, v in wanted.items()):
        return None
    if rule.versions is None:
        return f"denied: {rule.describe()}"
    if not purl.version:
        return f"version unknown, denied range {rule.describe()}"
    try:
        versions: Any = rule.versions
        inside = versions.version_class(purl.version) in versions
    except Exception:  # univers raises several types for unparsable versions
        return f"version {purl.version} cannot be compared with {rule.describe()}"
    return f"version {purl.version} is in {rule.describe()}" if inside else None


def _names(purl: PackageURL, source: str | None) -> set[str]:
    """The names a component answers to: its own, and for Debian its source package."""
    names = {_norm_name(purl.type, purl.name)}
    if purl.type.lower() == "deb":
        qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
        for origin in (qualifiers.get("upstream"), source):
            if origin:
                names.add(_norm_name(purl.type, str(origin).split("@", 1)[0].strip()))
    return names


def _unparsed_match(deny: Sequence[DeniedComponent], component: Component) -> str | None:
    """A purl that does not parse is matched by the names it could mean: the SBOM's name
    field, and the last path segment of the text (percent-decoded), under every rule."""
    candidates = {component.name, _last_segment(component.text)}
    for rule in deny:
        wanted = _norm_name(rule.purl.type, rule.purl.name)
        if any(_norm_name(rule.purl.type, c) == wanted for c in candidates if c):
            return (f"purl does not parse, and its name could be the denied "
                    f"{rule.describe()}")
    return None


def _last_segment(text: str) -> str:
    path = re.split(r"[?#]", text, maxsplit=1)[0]
    name = path.rstrip("/").rsplit("/", 1)[-1].split("@", 1)[0]
    return urllib.parse.unquote(name)


def _quote(text: str) -> str:
    return repr(text[:120])


def _norm_name(purl_type: str, name: str) -> str:
    lowered = name.strip().lower()
    if purl_type.lower() == "pypi":
        return re.sub(r"[-_.]+", "-", lowered)  # PEP 503
    return lowered
