"""Scan results as a table for people, JSON for machines and SARIF 2.1.0 for code-scanning UIs.

Each format is one function over the same findings, so adding a format never touches the scan.
Attacker-influenced text (package names, summaries) has control characters removed before it
reaches a terminal.
"""

from __future__ import annotations

import json
from typing import Any

from oci_attest import __version__
from oci_attest.vulns.match import Finding

_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note",
                "unknown": "warning"}


def _clean(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def render_table(target: str, findings: list[Finding]) -> str:
    active = [f for f in findings if f.status == "affected"]
    lines = [f"{target}: {len(active)} vulnerabilities"
             f"{f' ({len(findings) - len(active)} waived)' if len(findings) > len(active) else ''}"]
    if findings:
        rows = [("ID", "SEVERITY", "PACKAGE", "VERSION", "FIXED IN", "ALIASES")]
        for f in findings:
            severity = f.severity.level + (f" {f.severity.score:.1f}" if f.severity.score else "")
            status = "" if f.status == "affected" else f" [{f.status}: {f.justification}]"
            rows.append((f.id, severity, _clean(f.package), _clean(f.version),
                         ", ".join(f.fixed[:2]) or "-",
                         ", ".join(a for a in f.aliases if a.startswith("CVE-"))[:40] + status))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for row in rows:
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5]))
                         + "  " + row[5])
    return "\n".join(lines) + "\n"


def render_json(target: str, digest: str | None, sbom_source: str,
                findings: list[Finding]) -> str:
    return json.dumps({"target": target, "digest": digest, "sbom": sbom_source,
                       "findings": [f.to_json() for f in findings]}, indent=2) + "\n"


def render_sarif(target: str, findings: list[Finding]) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for finding in findings:
        rules.setdefault(finding.id, {
            "id": finding.id, "name": finding.id,
            "shortDescription": {"text": _clean(finding.summary)[:200] or finding.id},
            "helpUri": f"https://osv.dev/vulnerability/{finding.id}",
            "properties": {"security-severity": str(finding.severity.score or
                                                    _DEFAULT_SCORE[finding.severity.level]),
                           "tags": ["security", "vulnerability"]}})
        result: dict[str, Any] = {
            "ruleId": finding.id, "level": _SARIF_LEVEL[finding.severity.level],
            "message": {"text": f"{_clean(finding.package)} {_clean(finding.version)} is "
                                f"affected by {finding.id}"
                                + (f"; fixed in {', '.join(finding.fixed)}" if finding.fixed
                                   else "")},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": target}},
                           "logicalLocations": [{"name": finding.purl, "kind": "package"}]}],
            "partialFingerprints": {"purlAndId": f"{finding.purl}|{finding.id}"}}
        if finding.status != "affected":
            result["suppressions"] = [{"kind": "external",
                                       "justification": finding.justification or finding.status}]
        results.append(result)
    document = {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
                "runs": [{"tool": {"driver": {"name": "attest", "version": __version__,
                                              "informationUri":
                                                  "https://github.com/attest-build/attest",
                                              "rules": list(rules.values())}},
                          "results": results}]}
    return json.dumps(document, indent=2) + "\n"


_DEFAULT_SCORE = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 2.0, "unknown": 5.0}
