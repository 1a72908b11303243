"""What a report shows, extracted from a verdict into plain, template-ready values.

Everything here comes from an SBOM, a provenance or a registry, so all of it is attacker-
controlled text. This module only *selects* and *shapes* it; escaping is the template's job
(Jinja autoescape), and the one thing escaping cannot fix, a hostile link target, is decided
here: a value becomes a link only when it is an ``http(s)`` URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from packageurl import PackageURL

from oci_attest.verify.payloads import statement_document
from oci_attest.verify.results import Examined, Verdict
from oci_attest.verify.statements import SLSA_V02, SLSA_V1, read_provenance

_SAFE_URL = re.compile(r"^https?://[^\s\"'<>\\]+$")
_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
_MAX_RAW = 2 * 1024 * 1024  # a raw statement larger than this is shown truncated


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    reason: str
    attestation: str | None


@dataclass(frozen=True)
class Link:
    """Text, and a target only when the target is a plain web URL."""

    text: str
    href: str | None = None


@dataclass(frozen=True)
class ProvenanceCard:
    title: str
    predicate_type: str
    signer: str | None
    accepted: bool
    sources: tuple[tuple[Link, Link | None, str | None], ...]  # repository, commit, ref
    builder: str | None
    build_type: str | None
    run: Link | None
    started: str | None
    finished: str | None
    base_images: tuple[tuple[str, str | None], ...]
    parameters: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ComponentRow:
    ecosystem: str
    name: str
    version: str
    license: str
    layer: str
    purl: str


@dataclass(frozen=True)
class FindingRow:
    id: str
    severity: str
    package: str
    version: str
    fixed: str
    aliases: str
    summary: str


@dataclass(frozen=True)
class RawStatement:
    location: str
    predicate_type: str
    state: str
    text: str


@dataclass
class ReportData:
    target: str
    digest: str
    passed: bool
    policy: str
    trust: str
    generated: str
    checks: list[Check] = field(default_factory=list)
    provenance: list[ProvenanceCard] = field(default_factory=list)
    components: list[ComponentRow] = field(default_factory=list)
    sbom_sources: list[str] = field(default_factory=list)
    statements: list[RawStatement] = field(default_factory=list)
    #: None: no advisory database was given or found; else the findings (possibly none)
    findings: list[FindingRow] | None = None
    findings_source: str = ""


def link(text: str, href: str | None = None) -> Link:
    target = href if href is not None else text
    return Link(text=text, href=target if _SAFE_URL.match(target) else None)


def report_data(verdict: Verdict, *, now: datetime | None = None) -> ReportData:
    """Select what the report shows. Only accepted evidence feeds the provenance and SBOM
    sections (a rejected attestation is listed with its reason and raw text, nothing more)."""
    data = ReportData(target=verdict.target, digest=verdict.digest, passed=verdict.passed,
                      policy=verdict.policy_source, trust=verdict.trust_source,
                      generated=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC"))
    data.checks = [Check(c.name, c.passed, c.reason, c.attestation)
                   for c in verdict.checks if c.enforced]
    # attest build attaches the same statement in two layouts: show its content once
    cards: dict[str, int] = {}
    seen_sboms: set[str] = set()
    for examined in verdict.examined:
        data.statements.append(_raw(examined))
        if not examined.accepted or examined.statement is None:
            continue
        predicate_type = examined.statement.predicate_type
        key = predicate_type + json.dumps(examined.statement.predicate, sort_keys=True,
                                          default=str)
        if predicate_type in (SLSA_V1, SLSA_V02):
            if key in cards:
                card = data.provenance[cards[key]]
                data.provenance[cards[key]] = replace(
                    card, title=f"{card.title}; {examined.location}")
                continue
            cards[key] = len(data.provenance)
            data.provenance.append(_card(examined))
        elif _is_sbom(examined.statement.predicate):
            data.sbom_sources.append(examined.location)
            if key not in seen_sboms:
                seen_sboms.add(key)
                data.components.extend(sbom_rows(examined.statement.predicate))
    return data


def _raw(examined: Examined) -> RawStatement:
    state = ("accepted" if examined.accepted
             else "unsigned" if not examined.signed else f"rejected: {examined.rejection}")
    if examined.statement is not None:
        text = json.dumps(statement_document(examined.statement), indent=2,
                          ensure_ascii=False, default=str)
    else:
        text = "(no readable statement)"
    if len(text) > _MAX_RAW:
        text = text[:_MAX_RAW] + "\n… (truncated)"
    return RawStatement(location=examined.location,
                        predicate_type=examined.predicate_type or "?", state=state, text=text)


def _card(examined: Examined) -> ProvenanceCard:
    assert examined.statement is not None
    facts = read_provenance(examined.statement)
    predicate = examined.statement.predicate
    sources = []
    for claim in facts.sources:
        repository = link(claim.repository)
        commit = None
        if claim.commit:
            commit_href = (f"{repository.href.rstrip('/')}/commit/{claim.commit}"
                           if repository.href and _COMMIT.match(claim.commit) else "")
            commit = link(claim.commit, commit_href)
        sources.append((repository, commit, claim.ref))
    # one line per repository and ref: the claim with a commit wins over the same one without
    with_commit = {(s[0], s[2]) for s in sources if s[1] is not None}
    sources = [s for s in sources if s[1] is not None or (s[0], s[2]) not in with_commit]
    definition = _mapping(predicate.get("buildDefinition"))
    external = _mapping(definition.get("externalParameters"))
    if examined.statement.predicate_type == SLSA_V02:
        external = _mapping(_mapping(predicate.get("invocation")).get("parameters"))
    metadata = _mapping(_mapping(predicate.get("runDetails")).get("metadata"))
    invocation = metadata.get("invocationId")
    return ProvenanceCard(
        title=examined.location,
        predicate_type=examined.statement.predicate_type,
        signer=examined.signer,
        accepted=examined.accepted,
        sources=tuple(dict.fromkeys(sources)),
        builder=facts.builder_id,
        build_type=facts.build_type,
        run=link(invocation) if isinstance(invocation, str) and invocation else None,
        started=facts.started.isoformat() if facts.started else None,
        finished=facts.finished.isoformat() if facts.finished else None,
        base_images=tuple((image.written or image.uri, image.digest) for image in facts.images),
        parameters=tuple((str(key), _compact(value)) for key, value in sorted(external.items())),
    )


def _is_sbom(predicate: Mapping[str, Any]) -> bool:
    return predicate.get("bomFormat") == "CycloneDX" or "spdxVersion" in predicate


def sbom_rows(predicate: Mapping[str, Any]) -> list[ComponentRow]:
    """One row per CycloneDX component (nested included) or SPDX package."""
    if "spdxVersion" in predicate:
        return [_spdx_row(p) for p in _list(predicate.get("packages")) if isinstance(p, dict)]
    layer_numbers = {}
    for prop in _list(_mapping(predicate.get("metadata")).get("properties")):
        name = _mapping(prop).get("name")
        if isinstance(name, str) and name.startswith("attest:image:layer:"):
            layer_numbers[str(_mapping(prop).get("value"))] = name.rsplit(":", 1)[1]
    rows: list[ComponentRow] = []
    _walk(_list(predicate.get("components")), layer_numbers, rows, 0)
    return rows


def _walk(items: list[Any], layers: Mapping[str, str], rows: list[ComponentRow],
          depth: int) -> None:
    if depth > 32:
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        purl = _text(item.get("purl"))
        properties = {_text(p.get("name")): _text(p.get("value"))
                      for p in _list(item.get("properties")) if isinstance(p, dict)}
        layer = properties.get("attest:layer-digest") or properties.get(
            "syft:location:0:layerID") or ""
        if layer in layers:
            layer = f"{layers[layer]} ({layer[:19]})"
        rows.append(ComponentRow(ecosystem=_ecosystem(purl, _text(item.get("type"))),
                                 name=_text(item.get("name")),
                                 version=_text(item.get("version")),
                                 license=_licenses(_list(item.get("licenses"))),
                                 layer=layer, purl=purl))
        _walk(_list(item.get("components")), layers, rows, depth + 1)


def _spdx_row(package: Mapping[str, Any]) -> ComponentRow:
    purl = next((_text(r.get("referenceLocator")) for r in _list(package.get("externalRefs"))
                 if isinstance(r, dict) and r.get("referenceType") == "purl"), "")
    license_text = _text(package.get("licenseConcluded"))
    if license_text in ("", "NOASSERTION"):
        license_text = _text(package.get("licenseDeclared"))
    return ComponentRow(ecosystem=_ecosystem(purl, ""), name=_text(package.get("name")),
                        version=_text(package.get("versionInfo")),
                        license="" if license_text == "NOASSERTION" else license_text,
                        layer="", purl=purl)


def _ecosystem(purl: str, fallback: str) -> str:
    try:
        return PackageURL.from_string(purl).type if purl else fallback
    except ValueError:
        return fallback


def _licenses(entries: list[Any]) -> str:
    names = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if _text(entry.get("expression")):
            names.append(_text(entry.get("expression")))
        license_ = _mapping(entry.get("license"))
        name = _text(license_.get("id")) or _text(license_.get("name"))
        if name:
            names.append(name)
    return ", ".join(names)


def _compact(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 2000 else text[:2000] + "…"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value[:4096]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def finding_rows(findings: list[Any]) -> list[FindingRow]:
    """``attest scan`` findings (oci_attest.vulns.match.Finding) as table rows, worst first."""
    return [FindingRow(id=f.id, severity=f.severity.level + (f" {f.severity.score:.1f}"
                                                             if f.severity.score else ""),
                       package=f.package, version=f.version, fixed=", ".join(f.fixed[:3]),
                       aliases=", ".join(f.aliases[:4]), summary=f.summary[:200])
            for f in findings]
