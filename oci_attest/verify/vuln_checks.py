"""The ``vulnerabilities`` rule: a verified, recent scan of the digest, clean at a threshold.

The evidence is a cosign vuln/v1 statement (``attest build --scan-vulns``) that passed the same
examination as any other: signature, trusted signer, subject equal to the digest. When several
are attached (a rescan attaches a newer one), the most recent scan is judged, since it says
what is known now. Like every configured rule it fails closed: no verified scan, no
``scanFinishedOn``, or a result whose findings cannot be read is a FAIL with the reason.

Age is measured from the older of the scan's ``scanFinishedOn`` and the verified signing time,
so neither a backdated nor a post-dated claim makes a scan look fresher than its signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from oci_attest.verify.policy import VulnPolicy, format_duration
from oci_attest.verify.results import CheckResult, Examined
from oci_attest.vulns.attestation import COSIGN_VULN_V1, active_at_or_above

_NEVER = datetime.min.replace(tzinfo=UTC)


def vulnerability_checks(policy: VulnPolicy, examined: Sequence[Examined], target: str,
                         now: datetime) -> list[CheckResult]:
    rules = policy.configured_rules()
    if not rules:
        return []
    scans = [e for e in examined if e.accepted and e.statement is not None
             and e.statement.predicate_type == COSIGN_VULN_V1]
    if not scans:
        reason = _absence(examined, target)
        return [CheckResult(name="vulnerabilities.present", passed=False, reason=reason)] + [
            CheckResult(name=rule, passed=False,
                        reason=f"could not be evaluated: no verified vulnerability scan for "
                               f"{target}")
            for rule in rules[1:]]
    scan = max(scans, key=lambda e: _finished(e) or _NEVER)
    assert scan.statement is not None
    predicate = scan.statement.predicate
    results = [_result("vulnerabilities.present", True,
                       f"{COSIGN_VULN_V1} from {scan.location}"
                       + (f" (the newest of {len(scans)})" if len(scans) > 1 else ""), scan)]
    if policy.max_age is not None:
        results.append(_check_age(policy, scan, now))
    if policy.fail_on is not None:
        results.append(_check_findings(policy.fail_on, predicate, scan))
    return results


def _result(name: str, passed: bool, reason: str, examined: Examined) -> CheckResult:
    return CheckResult(name=name, passed=passed, reason=reason, attestation=examined.location,
                       identity=examined.signer)


def _finished(examined: Examined) -> datetime | None:
    assert examined.statement is not None
    metadata = examined.statement.predicate.get("metadata")
    value = metadata.get("scanFinishedOn") if isinstance(metadata, dict) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _check_age(policy: VulnPolicy, scan: Examined, now: datetime) -> CheckResult:
    assert policy.max_age is not None
    finished = _finished(scan)
    limit = format_duration(policy.max_age)
    if finished is None:
        return _result("vulnerabilities.max-age", False,
                       "the scan records no valid metadata.scanFinishedOn", scan)
    moments = [("scan finished", finished)]
    if scan.evidence is not None:
        moments.append(("signed", scan.evidence.signed_at))
    what, moment = min(moments, key=lambda m: m[1])
    age = now - moment
    if age > policy.max_age:
        return _result("vulnerabilities.max-age", False,
                       f"{what} {moment.isoformat()}, {int(age.total_seconds())}s ago, older "
                       f"than the maximum age {limit}: scan the image again", scan)
    return _result("vulnerabilities.max-age", True,
                   f"{what} {moment.isoformat()} is within the maximum age {limit}", scan)


def _check_findings(fail_on: str, predicate: Mapping[str, Any], scan: Examined) -> CheckResult:
    scanner = predicate.get("scanner")
    result = scanner.get("result") if isinstance(scanner, dict) else None
    findings = result.get("findings") if isinstance(result, dict) else None
    if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
        return _result("vulnerabilities.fail-on", False,
                       "could not be evaluated: scanner.result.findings is not a list of "
                       "findings (not attest's scan result)", scan)
    bad = [f for f in findings if active_at_or_above(f, fail_on)]
    waived = sum(1 for f in findings if f.get("status") != "affected")
    if bad:
        named = ", ".join(f"{f.get('id')} ({f.get('severity')}) in {f.get('purl')}"
                          for f in bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4
                                               else "")
        return _result("vulnerabilities.fail-on", False,
                       f"{len(bad)} active finding(s) at or above {fail_on}: {named}", scan)
    return _result("vulnerabilities.fail-on", True,
                   f"no active finding at or above {fail_on} ({len(findings)} findings, "
                   f"{waived} waived)", scan)


def _absence(examined: Sequence[Examined], target: str) -> str:
    rejected = [e for e in examined if not e.accepted and e.predicate_type == COSIGN_VULN_V1]
    if rejected:
        shown = "; ".join(f"{e.location}: {e.rejection}" for e in rejected[:3])
        return f"no verified vulnerability scan for {target}: {shown}"
    return (f"no vulnerability scan attestation ({COSIGN_VULN_V1}) for {target}; build with "
            "`attest build --scan-vulns`")
