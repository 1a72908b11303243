"""Render a verdict for people (text) and machines (JSON).

The text report is written for a CI log read under pressure: the resolved digest first, then
each attestation and what became of it, then every check with PASS/FAIL and its reason, then a
one-line result. The JSON report carries the same data with stable keys. In the text report
every control character is escaped, since most of what it shows was written by whoever made
or pushed the attestations.
"""

from __future__ import annotations

import json
import re

from oci_attest._internal.text import safe
from oci_attest.verify.results import Verdict

_MARK = {True: "PASS", False: "FAIL"}


def render_text(verdict: Verdict, *, heading: str | None = None) -> str:
    lines: list[str] = []
    if heading:
        lines.append(heading)
    lines.append(f"target: {verdict.target}")
    lines.append(f"trust:  {verdict.trust_source}")
    lines.append(f"policy: {verdict.policy_source}")
    if verdict.discovery:
        lines.append(f"looked for: {', '.join(verdict.discovery)}")
    lines.append(f"attestations ({len(verdict.examined)}):")
    if not verdict.examined:
        lines.append("  none found")
    for examined in verdict.examined:
        state = ("accepted" if examined.accepted
                 else "unsigned" if not examined.signed else "rejected")
        kind = examined.predicate_type or "?"
        lines.append(f"  [{state}] {examined.location} ({kind})")
        info = next(c for c in verdict.checks
                    if c.name == "attestation" and c.attestation == examined.location)
        lines.append(f"      {info.reason}")
    lines.append("checks:")
    width = max((len(c.name) for c in verdict.checks if c.enforced), default=10)
    for check in verdict.checks:
        if not check.enforced:
            continue
        where = ""
        if check.attestation and check.attestation not in check.reason:
            where = f" [{_short(check.attestation)}]"
        lines.append(f"  {_MARK[check.passed]} {check.name:<{width}}  {check.reason}{where}")
    failures = verdict.failures
    if verdict.passed:
        lines.append(f"result: PASS: the policy holds for {verdict.digest}")
    else:
        enforced = [c for c in verdict.checks if c.enforced]
        lines.append(f"result: FAIL: {len(failures)} of {len(enforced)} checks failed for "
                     f"{verdict.digest}")
    # Every line carries attacker-controlled text (locations, predicate types, identities,
    # reasons quoting payloads): escaping each whole line means no field can be forgotten.
    return "\n".join(safe(line) for line in lines) + "\n"


def _short(location: str) -> str:
    """``sha256:<64 hex>`` as ``sha256:<12 hex>``: the full digests are listed above."""
    return re.sub(r"(sha256[:-])([0-9a-f]{12})[0-9a-f]{52}", r"\1\2", location)


def render_json(verdict: Verdict, **extra: object) -> str:
    document = verdict.to_json()
    document.update(extra)
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def summary_line(verdict: Verdict) -> str:
    """The single line an error message or a promotion refusal carries."""
    if verdict.passed:
        return f"policy holds for {verdict.digest}"
    first = verdict.failures[0] if verdict.failures else None
    reason = f"{first.name}: {first.reason}" if first else "no checks ran"
    more = len(verdict.failures) - 1
    return safe(reason + (f" (and {more} more failed checks)" if more > 0 else ""))
