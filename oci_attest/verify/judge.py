"""Judge evidence against a policy: examine each attestation, then run the policy's checks.

Two stages, deliberately separate:

1. **Examine** every attestation on its own: verify the signature (bundle or cosign layer),
   match the signer against the trusted identities, and require the statement's subject to be
   the digest being verified. An attestation that fails any of these is *not evidence*; it is
   reported with its reason but cannot fail (or pass) the policy by itself, since anyone who can
   push to a repository can add attestations next to an image.
2. **Judge** the accepted evidence: the required predicate type must be present, and every
   accepted provenance / SBOM must satisfy every configured rule. A configured rule is never
   skipped: it is reported PASS or FAIL, and one that cannot be evaluated (no verified
   provenance or SBOM to read) is a FAIL naming why. The verdict passes only when every
   enforced check passed.

BuildKit's in-index attestations are unsigned: they are examined and reported, never accepted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from oci_attest.verify.bundles import (
    ArtifactDigest,
    EvidenceRejected,
    PublicKey,
    verify_bundle,
    verify_cosign_layer,
)
from oci_attest.verify.checks import check_denied_components, provenance_checks
from oci_attest.verify.policy import ANY_PREDICATE, Policy
from oci_attest.verify.results import CheckResult, Examined, Verdict
from oci_attest.verify.statements import (
    SLSA_V02,
    SLSA_V1,
    StatementError,
    parse_statement,
    read_provenance,
    sbom_components,
    sbom_format,
)
from oci_attest.verify.trust import TrustMaterial
from oci_attest.verify.vuln_checks import vulnerability_checks

_PROVENANCE_TYPES = (SLSA_V1, SLSA_V02)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evidence:
    """One thing to examine, whatever layout it came from."""

    location: str
    layout: str  # "referrer" | "cosign-att" | "buildkit" | "file"
    bundle: bytes | None = None
    envelope: bytes | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    statement: bytes | None = None
    predicate_type_hint: str | None = None


def examine(item: Evidence, target: ArtifactDigest, policy: Policy, trust: TrustMaterial,
            *, key: PublicKey | None = None) -> Examined:
    """Verify one attestation; ``Examined.rejection`` says why it is not evidence."""
    examined = Examined(location=item.location, layout=item.layout,
                        predicate_type_hint=item.predicate_type_hint)
    if item.statement is not None:
        examined.signed = False
        try:
            examined.statement = parse_statement(item.statement, None)
        except StatementError as error:
            examined.rejection = f"unsigned BuildKit attestation, and unreadable: {error}"
            return examined
        examined.rejection = ("unsigned BuildKit attestation: reported, but it cannot satisfy "
                              "a signature requirement")
        return examined
    try:
        if item.bundle is not None:
            evidence = verify_bundle(item.bundle, trust, key=key, artifact=target)
        elif item.envelope is not None:
            evidence = verify_cosign_layer(item.envelope, item.annotations, trust)
        else:
            examined.rejection = "nothing to verify (no bundle or envelope)"
            return examined
    except EvidenceRejected as rejected:
        examined.rejection = f"signature not valid: {rejected.reason}"
        return examined
    except Exception as error:  # a bug or an input we did not foresee: never evidence
        log.debug("verifying %s failed unexpectedly", item.location, exc_info=True)
        examined.rejection = (f"could not be verified ({type(error).__name__}: "
                              f"{' '.join(str(error).split())[:200]})")
        return examined
    examined.evidence = evidence

    if evidence.signer.kind == "certificate":
        reasons: list[str] = []
        for rule in policy.identities:
            mismatch = rule.mismatch(evidence.signer)
            if mismatch is None:
                examined.trusted_as = rule
                break
            reasons.append(mismatch if len(policy.identities) == 1
                           else f"{rule.label()}: {mismatch}")
        if examined.trusted_as is None:
            detail = "; ".join(reasons[:3]) if reasons else "no trusted identity is configured"
            examined.rejection = (f"signed by {evidence.signer.describe()}, which is not a "
                                  f"trusted identity ({detail})")
    if evidence.content == "dsse":
        try:
            examined.statement = parse_statement(evidence.payload or b"",
                                                 evidence.payload_type)
        except StatementError as error:
            examined.rejection = examined.rejection or f"payload: {error}"
            return examined
        if examined.rejection is None and not examined.statement.has_subject(target):
            subjects = ", ".join(examined.statement.subject_digests()[:3])
            examined.rejection = (f"statement is about {subjects}, not {target}: it was made "
                                  f"for another artifact")
    return examined


def judge(target_name: str, target: ArtifactDigest, items: Iterable[Evidence], policy: Policy,
          trust: TrustMaterial, *, key: PublicKey | None = None, now: datetime | None = None,
          discovery: Sequence[str] = ()) -> Verdict:
    """Examine ``items`` and run every check the policy configures. ``items`` may be lazy:
    each is examined and dropped before the next is read."""
    now = now or datetime.now(UTC)
    examined = [examine(item, target, policy, trust, key=key) for item in items]
    checks: list[CheckResult] = [
        CheckResult(name="attestation", passed=e.accepted,
                    reason=_examined_reason(e), attestation=e.location, identity=e.signer,
                    enforced=False)
        for e in examined
    ]
    accepted = [e for e in examined if e.accepted]
    wanted = policy.provenance.predicate_type
    if wanted == ANY_PREDICATE:
        matching = accepted
        name = "evidence.present"
    else:
        matching = [e for e in accepted
                    if e.statement is not None and e.statement.predicate_type == wanted]
        name = "provenance.present" if wanted in _PROVENANCE_TYPES else "attestation.present"
    if matching:
        first = matching[0]
        what = first.predicate_type or "signature over the artifact"
        more = f" (and {len(matching) - 1} more)" if len(matching) > 1 else ""
        checks.append(CheckResult(name=name, passed=True,
                                  reason=f"{what} from {first.location}{more}",
                                  attestation=first.location, identity=first.signer))
    else:
        checks.append(CheckResult(name=name, passed=False,
                                  reason=_absence(wanted, examined, target)))

    checks += _provenance_rules(policy, accepted, matching, target, now,
                                present_reported=(name == "provenance.present"))

    sboms = [e for e in accepted if e.statement is not None
             and _is_type(e.statement.predicate_type, policy.sbom.predicate_types)]
    if policy.sbom.required:
        if sboms:
            checks.append(CheckResult(name="sbom.present", passed=True,
                                      reason=f"{sboms[0].predicate_type} from "
                                             f"{sboms[0].location}",
                                      attestation=sboms[0].location, identity=sboms[0].signer))
        else:
            checks.append(CheckResult(name="sbom.present", passed=False,
                                      reason=_absence(" or ".join(policy.sbom.predicate_types),
                                                      examined, target, sbom=True,
                                                      sbom_types=policy.sbom.predicate_types)))
    if policy.sbom.deny:
        if not sboms:
            checks.append(CheckResult(
                name="sbom.denied-components", passed=False,
                reason=f"could not be evaluated: denied components are configured but there "
                       f"is no verified SBOM for {target} to check them against"))
        for examined_sbom in _distinct(sboms):
            assert examined_sbom.statement is not None
            if sbom_format(examined_sbom.statement) is None:
                checks.append(CheckResult(
                    name="sbom.denied-components", passed=False,
                    reason=f"could not be evaluated: the SBOM ({examined_sbom.predicate_type}) "
                           f"is neither CycloneDX nor SPDX JSON, so its components cannot be "
                           f"read", attestation=examined_sbom.location,
                    identity=examined_sbom.signer))
                continue
            components = list(sbom_components(examined_sbom.statement))
            checks.append(check_denied_components(policy.sbom.deny, components, examined_sbom))
    checks += vulnerability_checks(policy.vulnerabilities, _distinct(examined), str(target),
                                   now)
    return Verdict(target=target_name, digest=str(target), checks=tuple(checks),
                   examined=tuple(examined), trust_source=trust.source,
                   policy_source=policy.source, discovery=tuple(discovery))


def _provenance_rules(policy: Policy, accepted: Sequence[Examined],
                      matching: Sequence[Examined], target: ArtifactDigest, now: datetime, *,
                      present_reported: bool) -> list[CheckResult]:
    """Every configured provenance rule, whatever predicate type the policy requires.

    The required predicate type only decides what must be *present*; it never switches rules
    off. When a rule is configured, a verified SLSA provenance for the digest must exist and
    satisfy it; without one, each configured rule is reported as a FAIL saying why it could
    not be evaluated (a policy asking for a vulnerability scan plus ``--builder-id`` once
    passed without looking at any builder).
    """
    rules = policy.provenance.configured_rules()
    wanted = policy.provenance.predicate_type
    if wanted in _PROVENANCE_TYPES:
        candidates: Sequence[Examined] = matching
    elif rules:
        candidates = accepted
    else:
        return []  # nothing asks about provenance
    provenances = [e for e in candidates if e.statement is not None
                   and e.statement.predicate_type in _PROVENANCE_TYPES]
    checks: list[CheckResult] = []
    if not provenances:
        if not rules:
            return []
        if not present_reported:
            checks.append(CheckResult(
                name="provenance.present", passed=False,
                reason="provenance rules are configured but no verified SLSA provenance "
                       f"was found for {target}"))
        checks += [CheckResult(name=rule, passed=False,
                               reason=f"could not be evaluated: no verified SLSA provenance "
                                      f"for {target}")
                   for rule in rules]
        return checks
    for examined_provenance in _distinct(provenances):
        assert examined_provenance.statement is not None
        provenance = read_provenance(examined_provenance.statement)
        checks += provenance_checks(policy.provenance, provenance, examined_provenance, now)
    return checks


def _distinct(examined: Sequence[Examined]) -> list[Examined]:
    """One per signed payload: the same statement in a referrer and in ``.att`` is judged once
    (under the first location), so the report does not repeat every check per layout."""
    seen: set[tuple[bytes, str]] = set()
    distinct = []
    for item in examined:
        evidence = item.evidence
        if evidence is not None and evidence.payload is not None:
            # The signer is part of the key: the signer cross-checks depend on it.
            key = (evidence.payload, json.dumps(evidence.signer.to_json(), sort_keys=True))
            if key in seen:
                continue
            seen.add(key)
        distinct.append(item)
    return distinct


def _is_type(predicate_type: str, wanted: Sequence[str]) -> bool:
    """CycloneDX and SPDX predicate types sometimes carry a version suffix (``.../bom/v1.5``)."""
    return any(predicate_type == w or predicate_type.startswith(w.rstrip("/") + "/")
               for w in wanted)


def _examined_reason(examined: Examined) -> str:
    if not examined.accepted:
        return examined.rejection or "not accepted"
    evidence = examined.evidence
    what = examined.predicate_type or "signature over the artifact"
    assert evidence is not None
    trusted = (f", trusted as {examined.trusted_as.label()}"
               if examined.trusted_as is not None else "")
    return (f"{what}: signed by {evidence.signer.describe()}{trusted}, at "
            f"{evidence.signed_at.isoformat()}")


def _absence(wanted: str, examined: Sequence[Examined], target: ArtifactDigest, *,
             sbom: bool = False, sbom_types: Sequence[str] = ()) -> str:
    """Why the required evidence is missing, naming what was found instead."""
    if not examined:
        return f"no attestations found for {target}"
    label = "SBOM" if sbom else (wanted if wanted != ANY_PREDICATE else "signed evidence")

    def relevant(e: Examined) -> bool:
        kind = e.predicate_type
        if kind is None or wanted == ANY_PREDICATE:
            return True
        return _is_type(kind, sbom_types) if sbom else kind == wanted

    candidates = [e for e in examined if relevant(e)]
    if candidates and all(not e.signed for e in candidates):
        return (f"no verified {label} for {target}: only unsigned BuildKit attestations were "
                f"found ({len(candidates)}), and unsigned statements cannot satisfy a "
                f"signature requirement")
    if not candidates:
        kinds = sorted({e.predicate_type or "unknown" for e in examined})
        return (f"no {label} attestation for {target}; found only: {', '.join(kinds)}")
    reasons = [f"{e.location}: {e.rejection}" for e in candidates if not e.accepted]
    shown = "; ".join(reasons[:4]) + (f"; and {len(reasons) - 4} more" if len(reasons) > 4
                                      else "")
    return f"no verified {label} for {target}: {shown}"
