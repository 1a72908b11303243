"""Which attestations a promotion carries: exactly those verification read, and judged.

Verification reads the attestations next to an image once (a referrers listing, the cosign
``.att`` tag, an index's BuildKit entries) and judges each. A promotion must copy *that* set,
by digest, and nothing read later: a registry can answer a second listing differently (and a
hostile one will), and nothing about the second answer was verified. Of that set only the
attestations accepted as evidence travel (a valid signature by a trusted identity, about this
very artifact); the others, rejected or unsigned, stay behind unless the caller asks for
everything (``--copy-all-attestations``), and either way the report says which went where.

An index's platform manifests have attestations of their own. They are discovered once here,
each judged against its platform manifest's digest with the same policy and trust, and carried
on the same terms. BuildKit's in-index statements are children of the index itself: they travel
with it (dropping them would change the image digest), and are reported as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from oci_attest.registry.client import RegistryClient
from oci_attest.registry.layouts import FoundAttestation, discover
from oci_attest.verify.bundles import ArtifactDigest, PublicKey
from oci_attest.verify.image import ImageVerification, evidence_from_found
from oci_attest.verify.judge import examine
from oci_attest.verify.policy import Policy
from oci_attest.verify.results import Examined
from oci_attest.verify.trust import TrustMaterial


@dataclass(frozen=True)
class Judged:
    """One attestation as first read, the digest it is attached to, and its judgement."""

    found: FoundAttestation
    subject: str
    examined: Examined

    @property
    def accepted(self) -> bool:
        return self.examined.accepted

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"location": self.found.location, "layout": self.found.layout,
                                "subject": self.subject,
                                "predicateType": self.examined.predicate_type}
        if self.examined.rejection:
            data["rejection"] = self.examined.rejection
        return data

    def describe(self) -> str:
        what = self.examined.predicate_type or "unknown predicate"
        text = f"{self.found.location} about {self.subject} ({what})"
        if self.examined.rejection:
            text += f": {self.examined.rejection}"
        return text


@dataclass(frozen=True)
class Selection:
    """``copy`` is copied next to the destination image; ``left_behind`` is not;
    ``inside_index`` travels as part of the index (BuildKit statements)."""

    copy: tuple[Judged, ...]
    left_behind: tuple[Judged, ...]
    inside_index: tuple[Judged, ...]

    def to_json(self) -> dict[str, Any]:
        return {"copied": [j.to_json() for j in self.copy],
                "leftBehind": [j.to_json() for j in self.left_behind],
                "insideIndex": [j.to_json() for j in self.inside_index]}

    def lines(self) -> list[str]:
        """One line per attestation, for the text report."""
        return ([f"attestation copied: {j.describe()}" for j in self.copy]
                + [f"attestation left behind: {j.describe()}" for j in self.left_behind]
                + [f"attestation carried inside the index: {j.describe()}"
                   for j in self.inside_index])


def judged_from_verification(source: ImageVerification) -> list[Judged]:
    """Pair what verification found with its judgement (``judge`` keeps their order)."""
    digest = source.reference.digest
    assert digest is not None
    examined = source.verdict.examined
    if len(examined) != len(source.found):  # pragma: no cover - judge examines every item
        raise AssertionError("verification examined a different number of attestations")
    return [Judged(found, found.refers_to or digest, item)
            for found, item in zip(source.found, examined, strict=True)]


def judge_children(client: RegistryClient, source: ImageVerification, children: Sequence[str],
                   policy: Policy, trust: TrustMaterial,
                   key: PublicKey | None) -> list[Judged]:
    """Discover (once) and judge the attestations of an index's other manifests."""
    judged = []
    for child in children:
        target = ArtifactDigest.parse(child)
        for found in discover(client, source.reference.with_digest(child)):
            examined = examine(evidence_from_found(found), target, policy, trust, key=key)
            judged.append(Judged(found, found.refers_to or child, examined))
    return judged


def select(judged: Sequence[Judged], *, copy_all: bool) -> Selection:
    copy, left, inside = [], [], []
    for item in judged:
        if item.found.layout == "buildkit":
            inside.append(item)
        elif item.accepted or copy_all:
            copy.append(item)
        else:
            left.append(item)
    return Selection(tuple(copy), tuple(left), tuple(inside))
