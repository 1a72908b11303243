"""Components against advisories: which of an SBOM's packages an OSV record says are affected.

A component is known by its purl; the purl type says the OSV ecosystem and how the name is
spelt there (a Maven ``group:artifact``, an npm ``@scope/name``, a Go module path, a Debian
*source* package with its release, ``Debian:12``). Advisories are looked up per package and
evaluated with the ecosystem's version order (``osv.py``). One vulnerability is often
published several times (a PYSEC and a GHSA record, both aliasing one CVE): findings for one
component that share an id or alias are merged into one, keeping every id as an alias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from oci_attest.vulns.osv import Advisory, normalize_name
from oci_attest.vulns.severity import Severity, severity_of
from oci_attest.vulns.store import AdvisoryStore

_TYPE_TO_ECOSYSTEM = {"pypi": "PyPI", "npm": "npm", "golang": "Go", "maven": "Maven",
                      "cargo": "crates.io", "gem": "RubyGems", "deb": "Debian", "apk": "Alpine"}


@dataclass(frozen=True)
class Component:
    """A package as matching sees it: the OSV ecosystem, name and version it goes by."""

    purl: str
    ecosystem: str        # OSV ecosystem base: PyPI, Debian, ...
    release: str | None   # Debian:12 -> "12", Alpine:v3.19 -> "v3.19"
    name: str
    version: str


@dataclass
class Finding:
    id: str
    aliases: list[str]
    purl: str
    package: str
    version: str
    fixed: list[str]
    severity: Severity
    summary: str
    status: str = "affected"  # affected | not_affected | fixed (VEX) | ignored
    justification: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "aliases": self.aliases, "purl": self.purl,
                "package": self.package, "version": self.version, "fixed": self.fixed,
                "severity": self.severity.level, "cvss": self.severity.score,
                "cvssVector": self.severity.vector, "summary": self.summary,
                "status": self.status, "justification": self.justification}


def component_from_purl(text: str) -> Component | None:
    """The matching view of a purl; ``None`` for types no advisory source covers."""
    try:
        purl = PackageURL.from_string(text)
    except ValueError:
        return None
    ecosystem = _TYPE_TO_ECOSYSTEM.get(purl.type)
    if ecosystem is None or not purl.version:
        return None
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    name, release, version = purl.name, None, purl.version
    if purl.type == "maven":
        name = f"{purl.namespace}:{purl.name}" if purl.namespace else purl.name
    elif purl.type == "npm" and purl.namespace:
        name = f"{purl.namespace}/{purl.name}"
    elif purl.type == "golang":
        name = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
    elif purl.type in ("deb", "apk"):
        upstream = qualifiers.get("upstream")
        if upstream:  # the source package (and its version, when it differs)
            name, _, source_version = upstream.partition("@")
            version = source_version or version
        distro = qualifiers.get("distro", "")
        release = _release(purl.type, distro)
    return Component(purl=text, ecosystem=ecosystem, release=release,
                     name=normalize_name(ecosystem, name), version=version)


def _release(purl_type: str, distro: str) -> str | None:
    """``debian-12`` -> ``12``; ``alpine-3.19.1`` -> ``v3.19`` (OSV's Alpine naming)."""
    _, _, number = distro.rpartition("-")
    if not number:
        return None
    if purl_type == "apk":
        major_minor = ".".join(number.split(".")[:2])
        return f"v{major_minor}"
    return number.split(".")[0]


def match_components(store: AdvisoryStore, purls: list[str]) -> list[Finding]:
    findings: list[Finding] = []
    cache: dict[tuple[str, str], list[Advisory]] = {}
    for purl in dict.fromkeys(purls):
        component = component_from_purl(purl)
        if component is None:
            continue
        key = (component.ecosystem, component.name)
        if key not in cache:
            cache[key] = store.advisories_for(*key)
        found = [finding for advisory in cache[key]
                 if (finding := finding_for(advisory, component)) is not None]
        findings.extend(_merge_aliases(found))
    return sorted(findings, key=lambda f: (-f.severity.rank, f.package, f.id))


def finding_for(advisory: Advisory, component: Component) -> Finding | None:
    """What one advisory says about one component (``None``: not affected). Public because the
    inventory's rescan evaluates a changed advisory against stored components one by one."""
    for affected in advisory.affected:
        if not _same_package(affected.ecosystem, affected.name, component):
            continue
        hit, fixed = affected.affects(component.version)
        if hit:
            return Finding(id=advisory.id, aliases=sorted(set(advisory.aliases)),
                           purl=component.purl, package=component.name,
                           version=component.version, fixed=list(fixed),
                           severity=severity_of(advisory), summary=advisory.summary)
    return None


def _same_package(ecosystem: str, name: str, component: Component) -> bool:
    base, _, release = ecosystem.partition(":")
    if base != component.ecosystem or name != component.name:
        return False
    # A release-specific record (Debian:12) applies to that release only; a bare one to all.
    return not release or component.release is None or release == component.release


def _merge_aliases(found: list[Finding]) -> list[Finding]:
    merged: list[Finding] = []
    for finding in sorted(found, key=_preference):
        names = {finding.id, *finding.aliases}
        twin = next((m for m in merged if names & {m.id, *m.aliases}), None)
        if twin is None:
            merged.append(finding)
            continue
        twin.aliases = sorted(({*twin.aliases, *names}) - {twin.id})
        twin.fixed = list(dict.fromkeys([*twin.fixed, *finding.fixed]))
        if finding.severity.rank > twin.severity.rank:
            twin.severity = finding.severity
    return merged


def _preference(finding: Finding) -> tuple[int, str]:
    """Which record names a merged finding: the ecosystem's own (PYSEC, GO) before GHSA."""
    prefix = finding.id.split("-", 1)[0]
    return ({"GHSA": 1, "CVE": 2}.get(prefix, 0), finding.id)
