"""The vocabulary of a verdict: what was examined, each check's outcome, the verdict itself.

Kept apart from the logic so that the report, the admission webhook and the tests read the
same small, serializable types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oci_attest.verify.bundles import VerifiedEvidence
from oci_attest.verify.policy import IdentityRule
from oci_attest.verify.statements import Statement


@dataclass(frozen=True)
class CheckResult:
    """One check: its outcome and why, naming the attestation and signer it concerns.

    ``enforced`` is False for informational results (an attestation that was not accepted as
    evidence is reported, but by itself fails nothing: anyone who can push to a repository can
    add attestations, so a bad one must not be able to veto a good one).
    """

    name: str
    passed: bool
    reason: str
    attestation: str | None = None
    identity: str | None = None
    enforced: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "reason": self.reason,
                "attestation": self.attestation, "identity": self.identity,
                "enforced": self.enforced}


@dataclass
class Examined:
    """One attestation (or bundle file) and what became of it."""

    location: str
    layout: str
    predicate_type_hint: str | None = None
    evidence: VerifiedEvidence | None = None
    statement: Statement | None = None
    trusted_as: IdentityRule | None = None
    rejection: str | None = None
    signed: bool = True

    @property
    def accepted(self) -> bool:
        return self.rejection is None

    @property
    def predicate_type(self) -> str | None:
        if self.statement is not None:
            return self.statement.predicate_type
        return self.predicate_type_hint

    @property
    def signer(self) -> str | None:
        return self.evidence.signer.describe() if self.evidence is not None else None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "location": self.location, "layout": self.layout, "signed": self.signed,
            "predicateType": self.predicate_type, "accepted": self.accepted,
            "rejection": self.rejection,
        }
        if self.evidence is not None:
            data["signer"] = self.evidence.signer.to_json()
            data["signedAt"] = self.evidence.signed_at.isoformat()
            data["times"] = [{"source": t.source, "time": t.time.isoformat()}
                             for t in self.evidence.times]
            data["logEntries"] = list(self.evidence.log_entries)
            if self.evidence.notes:
                data["notes"] = list(self.evidence.notes)
        if self.trusted_as is not None:
            data["trustedIdentity"] = self.trusted_as.label()
        if self.statement is not None:
            data["subjects"] = self.statement.subject_digests()
        return data


@dataclass(frozen=True)
class Verdict:
    """The answer: ``passed`` is True only when every enforced check passed."""

    target: str
    digest: str
    checks: tuple[CheckResult, ...]
    examined: tuple[Examined, ...]
    trust_source: str
    policy_source: str
    discovery: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        enforced = [c for c in self.checks if c.enforced]
        return bool(enforced) and all(c.passed for c in enforced)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.enforced and not c.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target, "digest": self.digest, "passed": self.passed,
            "trust": self.trust_source, "policy": self.policy_source,
            "discovery": list(self.discovery),
            "checks": [c.to_json() for c in self.checks],
            "attestations": [e.to_json() for e in self.examined],
        }
