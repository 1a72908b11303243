"""What ``attest inventory add`` and ``sync`` record: an image's digest, repository, tags and
components, taken from its *verified* SBOM attestation when a policy is given (the components
the builder signed for), else generated from its layers like ``attest sbom``.

``sync`` lists a repository's tags (the registry's tags list API), resolves each to a digest,
and reads the components only of digests the inventory does not hold yet: a tag that moved to
an already recorded image costs one HEAD request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oci_attest.errors import InputError
from oci_attest.inventory.base import ImageRecord, InventoryStore
from oci_attest.reference import parse_reference
from oci_attest.vulns.scan import ScanInput, from_image_layers, from_verified_attestation


def _components(image: str, policy: Any, progress: Callable[[str], None]) -> ScanInput:
    if policy is not None:
        return from_verified_attestation(image, policy)
    return from_image_layers(image, progress=progress)


def add_image(store: InventoryStore, image: str, policy: Any = None,
              progress: Callable[[str], None] = lambda _text: None) -> ImageRecord:
    ref = parse_reference(image, default_tag=None)
    source = _components(image, policy, progress)
    if source.digest is None:
        raise InputError(f"{image} has no registry digest to record",
                         hint="push the image and add it by its registry reference")
    record = ImageRecord(repository=ref.name, digest=source.digest,
                         reference=f"{ref.name}@{source.digest}", source=source.source,
                         tags=(ref.tag,) if ref.tag else (), purls=tuple(source.purls))
    store.record_image(record)
    return record


def sync_repository(store: InventoryStore, repository: str, policy: Any = None,
                    progress: Callable[[str], None] = lambda _text: None) -> dict[str, int]:
    """Record every tag of ``REGISTRY/REPO``; returns counts of tags, images and new images."""
    from oci_attest.registry.client import RegistryClient

    ref = parse_reference(repository, default_tag=None)
    if ref.tag or ref.digest:
        raise InputError(f"{repository} names a tag or digest; sync takes a repository",
                         hint="write REGISTRY/REPO, e.g. registry.example/team/app")
    client = RegistryClient.for_reference(ref)
    by_digest: dict[str, list[str]] = {}
    for tag in client.list_tags(ref.repository):
        found = client.head_manifest(ref.repository, tag)
        if found is not None:  # deleted between listing and asking
            by_digest.setdefault(found.digest, []).append(tag)
    added = 0
    for digest, tags in sorted(by_digest.items()):
        if store.tag_image(ref.name, digest, tags):
            continue
        progress(f"recording {ref.name}@{digest} ({', '.join(tags)})")
        source = _components(f"{ref.name}@{digest}", policy, progress)
        store.record_image(ImageRecord(repository=ref.name, digest=digest,
                                       reference=f"{ref.name}@{digest}", source=source.source,
                                       tags=tuple(tags), purls=tuple(source.purls)))
        added += 1
    return {"tags": sum(len(t) for t in by_digest.values()), "images": len(by_digest),
            "added": added}
