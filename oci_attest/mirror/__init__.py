"""``attest mirror``: copy an image into a trusted registry by digest, with evidence of the copy.

The steps: resolve the upstream tag once; when a policy is given, verify the upstream evidence
first (a mirror that fails verification copies nothing); copy every manifest byte for byte and
every blob (so digests, and every signature over them, still hold), with every attestation
found upstream; then sign and attach the mirror's own SBOM and ``mirror-v1`` provenance
(``evidence.py``); and tag the destination last, so a tag never points at a copy whose evidence
is missing. A destination tag that already points at the upstream digest means the work was
done: nothing is copied or signed again, which makes a re-run after a fault cheap and exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from oci_attest.errors import UsageError, VerificationFailed
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry.client import RegistryClient
from oci_attest.verify.bundles import PublicKey
from oci_attest.verify.policy import Policy
from oci_attest.verify.results import Verdict

Progress = Callable[[str], None]


class MirrorRefused(VerificationFailed):
    """The upstream evidence did not pass the policy: nothing was copied (exit 1)."""

    def __init__(self, message: str, verdict: Verdict) -> None:
        super().__init__(message)
        self.verdict = verdict


@dataclass(frozen=True)
class Signing:
    """How the mirror signs its own evidence; ``None`` in place of this means ``--no-sign``."""

    trust_config: Path | None
    identity_token: str | None


@dataclass
class MirrorResult:
    source: ImageReference        # upstream, with the digest it resolved to
    destination: ImageReference   # name:tag@digest at the destination
    up_to_date: bool = False      # the destination tag already pointed at this digest
    verdict: Verdict | None = None
    copied: dict[str, int] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)  # "provenance @sha256:…", "sbom @…"

    def to_json(self) -> dict[str, object]:
        return {"source": str(self.source), "destination": str(self.destination),
                "upToDate": self.up_to_date,
                "verified": None if self.verdict is None else self.verdict.passed,
                "copied": self.copied, "evidence": self.evidence}


def mirror_image(src: str, dst: str, *, policy: Policy | None = None,
                 key: PublicKey | None = None, signing: Signing | None,
                 platform: str | None = None, progress: Progress | None = None,
                 policy_source: str | None = None) -> MirrorResult:
    """Mirror one image; raises :class:`MirrorRefused` before copying when verification fails."""
    from oci_attest.mirror.copy import copy_with_attestations
    from oci_attest.mirror.sign import attach_mirror_evidence

    say = progress or (lambda message: None)
    started = datetime.now(UTC)
    upstream = parse_reference(src)
    destination = parse_reference(dst, default_tag=None)
    if destination.digest:
        raise UsageError(f"destination {dst} names a digest",
                         hint="give the destination as REGISTRY/REPO[:TAG]; the digest is "
                              "the upstream's")
    src_client = RegistryClient.for_reference(upstream)
    verdict = None
    if policy is not None:
        from oci_attest.verify.image import verify_image
        from oci_attest.verify.report import summary_line

        checked = verify_image(src, policy, key=key, platform=platform, client=src_client)
        verdict = checked.verdict
        if not verdict.passed:
            raise MirrorRefused(f"refusing to mirror {src}: {summary_line(verdict)}; "
                                "nothing was copied", verdict)
        resolved = checked.reference
    else:
        resolved = src_client.resolve(upstream)
        if platform:
            from oci_attest.verify.image import resolve_platform

            resolved = resolve_platform(src_client, resolved, platform)
    digest = resolved.digest
    assert digest is not None
    tag = destination.tag or upstream.tag
    target = destination.with_tag(tag).with_digest(digest)
    dst_client = (src_client if destination.registry == upstream.registry
                  else RegistryClient.for_reference(destination))
    result = MirrorResult(source=resolved, destination=target, verdict=verdict)
    if tag:
        current = dst_client.head_manifest(destination.repository, tag)
        if current is not None and current.digest == digest:
            say(f"{target.name}:{tag} already mirrors {digest}; nothing to do")
            result.up_to_date = True
            return result
    say(f"copying {resolved} to {target.name}")
    tree, stats = copy_with_attestations(src_client, resolved.repository, dst_client,
                                         destination.repository, digest)
    result.copied = stats
    if signing is not None:
        result.evidence = attach_mirror_evidence(
            dst_client, target, tree, signing=signing, upstream=str(resolved),
            policy_source=policy_source if policy is not None else None,
            started=started, copied_attestations=stats.get("referrers", 0)
            + stats.get("cosign_layers", 0), progress=say)
    else:
        say("warning: --no-sign: the mirror attaches no evidence of its own")
    if tag:
        top = src_client.get_manifest(resolved.repository, digest)
        dst_client.put_manifest(destination.repository, tag, top.raw, top.media_type)
    say(f"mirrored {resolved} to {target}")
    return result


__all__ = ["MirrorRefused", "MirrorResult", "Signing", "mirror_image"]
