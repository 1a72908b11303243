"""Severity of an advisory: the CVSS base score computed from its vector, else its own word.

A record's ``severity`` carries CVSS vectors (v3.x, v4.0), not scores: the score is computed
from the vector with the ``cvss`` library and mapped to the CVSS qualitative scale. Records
without a vector often say a level themselves (GHSA ``database_specific.severity``); that is
used next. The highest score across a record's vectors wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from cvss import CVSS3, CVSS4  # type: ignore[import-untyped]

from oci_attest.vulns.osv import Advisory

LEVELS = ("unknown", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Severity:
    level: str
    score: float | None = None
    vector: str | None = None

    @property
    def rank(self) -> int:
        return LEVELS.index(self.level)


def level_of_score(score: float) -> str:
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low" if score > 0 else "unknown"


def severity_of(advisory: Advisory) -> Severity:
    best: Severity | None = None
    for entry in advisory.severity:
        kind, vector = entry.get("type"), entry.get("score")
        if not isinstance(vector, str):
            continue
        try:
            if kind == "CVSS_V3":
                score = float(CVSS3(vector).base_score)
            elif kind == "CVSS_V4":
                score = float(CVSS4(vector).base_score)
            else:
                continue
        except Exception:  # noqa: S112 (a malformed vector is ignored, not fatal)
            continue
        candidate = Severity(level_of_score(score), score, vector)
        if best is None or (candidate.score or 0) > (best.score or 0):
            best = candidate
    if best is not None:
        return best
    named = (advisory.database_severity or "").lower()
    if named == "moderate":
        named = "medium"
    return Severity(named if named in LEVELS else "unknown")
