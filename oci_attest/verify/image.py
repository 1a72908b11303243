"""Verify an image in a registry: resolve the tag once, discover every attestation, judge.

A tag is resolved to a digest exactly once, first; everything after (discovery, the subject
check, a promotion's copy) uses that digest, so a tag moved mid-verification cannot swap the
image that is judged for the one that is copied.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from oci_attest.errors import InputError
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry import deadline as deadlines
from oci_attest.registry.client import ReadBudget, RegistryClient
from oci_attest.registry.layouts import FoundAttestation, iter_discover
from oci_attest.verify.bundles import ArtifactDigest, EvidenceRejected, PublicKey
from oci_attest.verify.judge import Evidence, judge
from oci_attest.verify.policy import Policy
from oci_attest.verify.results import Verdict
from oci_attest.verify.trust import TrustMaterial, load_trust


@dataclass(frozen=True)
class ImageVerification:
    """The verdict plus what promotion needs: the digest-pinned reference and the client.
    ``found`` lists what was discovered without its bytes (those are dropped once judged)."""

    reference: ImageReference
    verdict: Verdict
    found: tuple[FoundAttestation, ...]
    client: RegistryClient


def trust_for(policy: Policy) -> TrustMaterial:
    settings = policy.trust
    return load_trust(trusted_root=settings.trusted_root, trust_config=settings.trust_config,
                      offline=settings.offline)


def resolve_platform(client: RegistryClient, ref: ImageReference,
                     platform: str) -> ImageReference:
    """The platform manifest of an index (``linux/amd64``, ``linux/arm64/v8``)."""
    manifest = client.get_manifest(ref.repository, ref.reference)
    if not manifest.is_index:
        raise InputError(f"{ref} is a single-platform image; --platform applies to an index")
    os_name, _, rest = platform.partition("/")
    arch, _, variant = rest.partition("/")
    for child in manifest.manifests():
        spec = child.platform or {}
        if (spec.get("os") == os_name and spec.get("architecture") == arch
                and (not variant or spec.get("variant") == variant)):
            return ref.with_digest(child.digest)
    raise InputError(f"{ref} has no {platform} manifest",
                     hint="list its platforms with `docker buildx imagetools inspect`")


def verify_image(image: str, policy: Policy, *, key: PublicKey | None = None,
                 platform: str | None = None, now: datetime | None = None,
                 trust: TrustMaterial | None = None,
                 client: RegistryClient | None = None,
                 max_read_bytes: int | None = None) -> ImageVerification:
    """Resolve, discover, judge. Registry failures raise (exit 5); a failed policy does not.

    Attestations are read and examined one at a time, and everything read from the registry
    for this verification counts against ``max_read_bytes`` (default ``ATTEST_MAX_READ_BYTES``
    or 128 MiB): past it the verification fails (exit 3) instead of exhausting memory. Its
    registry reads must end within ``ATTEST_VERIFY_TIMEOUT`` seconds (default 600; exit 5),
    each operation also within ``ATTEST_REGISTRY_TIMEOUT``.
    """
    trust = trust or trust_for(policy)  # a bad trust root is reported before any network use
    budget = ReadBudget(max_read_bytes)
    ref = parse_reference(image)
    client = client or RegistryClient.for_reference(ref)
    previous, client.budget = client.budget, budget
    seconds = deadlines.configured_deadline(deadlines.ENV_JOB_DEADLINE,
                                            deadlines.DEFAULT_JOB_DEADLINE)
    try:
        with deadlines.job(f"the verification of {image}", seconds):
            resolved = client.resolve(ref)
            if platform:
                resolved = resolve_platform(client, resolved, platform)
            assert resolved.digest is not None
            found: list[FoundAttestation] = []
            verdict = judge(str(resolved), ArtifactDigest.parse(resolved.digest),
                            _examined_one_by_one(iter_discover(client, resolved), found),
                            policy, trust, key=key, now=now)
    finally:
        client.budget = previous
    verdict = dataclasses.replace(verdict, discovery=_discovery_summary(found))
    return ImageVerification(reference=resolved, verdict=verdict, found=tuple(found),
                             client=client)


def _examined_one_by_one(discovered: Iterator[FoundAttestation],
                         found: list[FoundAttestation]) -> Iterator[Evidence]:
    """Hand each attestation to the judge as it is read, keeping only its manifest (what a
    promotion copies, exactly as it was read and judged; bounded by the read cap), not its
    bundle or envelope bytes."""
    for item in discovered:
        found.append(dataclasses.replace(item, bundle=None, envelope=None, statement=None))
        yield evidence_from_found(item)


def _discovery_summary(found: list[FoundAttestation]) -> tuple[str, ...]:
    counts = Counter(f.layout for f in found)
    routes = sorted({f.via for f in found if f.layout == "referrer" and f.via})
    return (f"{counts.get('referrer', 0)} bundle referrers"
            f" (via {' and '.join(routes) if routes else 'referrers API or fallback tag'})",
            f"{counts.get('cosign-att', 0)} cosign .att layers",
            f"{counts.get('buildkit', 0)} BuildKit in-index statements")


def evidence_from_found(found: FoundAttestation) -> Evidence:
    return Evidence(location=found.location, layout=found.layout, bundle=found.bundle,
                    envelope=found.envelope, annotations=dict(found.annotations),
                    statement=found.statement, predicate_type_hint=found.predicate_type_hint)


def verify_bundle_files(paths: list[Path], digest: ArtifactDigest, policy: Policy, *,
                        key: PublicKey | None = None, now: datetime | None = None,
                        trust: TrustMaterial | None = None) -> Verdict:
    """``attest verify --bundle FILE... --digest ALG:HEX``: standalone bundles, one target."""
    trust = trust or trust_for(policy)
    items = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read bundle {path}: {error.strerror}") from None
        items.append(Evidence(location=f"bundle {path}", layout="file", bundle=raw))
    return judge(str(digest), digest, items, policy, trust, key=key, now=now,
                 discovery=[f"{len(paths)} bundle file(s)"])


__all__ = ["EvidenceRejected", "ImageVerification", "evidence_from_found", "resolve_platform",
           "trust_for", "verify_bundle_files", "verify_image"]
