"""``attest promote``: copy an image and all of its evidence, but only after it verified.

The image is copied *by digest*: every manifest is pushed with the exact bytes it was read
with (so its digest, and every signature over it, still holds), every blob is mounted (same
registry) or streamed in bounded chunks (across registries), an index brings all of its
platform manifests, and every attestation found next to any of those manifests comes along:
bundle referrers (registering them in the destination's referrers index when it has no
referrers API) and the cosign ``sha256-<hex>.att`` manifest.

Order matters for readers of the destination: blobs, then manifests children-first, then the
attestations, and the tag last, so a tag in the destination never points at something
incomplete. After the copy the destination is verified with the same policy: a promotion that
lost attestations on the way is reported, not printed as a success.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oci_attest.errors import RegistryError, UsageError, VerificationFailed
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import Descriptor, Manifest, RegistryClient
from oci_attest.registry.layouts import (
    add_to_fallback_index,
    cosign_att_tag,
    listed_but_gone,
    referrer_descriptors,
    registry_indexed,
)
from oci_attest.verify.bundles import PublicKey
from oci_attest.verify.image import ImageVerification, verify_image
from oci_attest.verify.policy import Policy
from oci_attest.verify.report import summary_line
from oci_attest.verify.results import Verdict

log = logging.getLogger(__name__)

#: Blobs up to this size are copied in one request; larger ones in chunks of this size.
CHUNK_BYTES = 8 * 1024 * 1024
_FOREIGN = ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
_BLOB_ATTEMPTS = 3


class PromotionRefused(VerificationFailed):
    """Verification failed (exit 1); ``verdict`` holds every failed check for the report."""

    def __init__(self, message: str, verdict: Verdict, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.verdict = verdict


@dataclass
class CopyStats:
    manifests: int = 0
    blobs_mounted: int = 0
    blobs_streamed: int = 0
    blobs_present: int = 0
    bytes_streamed: int = 0
    referrers: int = 0
    cosign_layers: int = 0
    skipped_foreign: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)

    def describe(self) -> str:
        return (f"{self.manifests} manifests, blobs: {self.blobs_mounted} mounted, "
                f"{self.blobs_streamed} streamed ({self.bytes_streamed} bytes), "
                f"{self.blobs_present} already present; {self.referrers} referrers, "
                f"{self.cosign_layers} cosign .att layers")


@dataclass(frozen=True)
class Promotion:
    source: ImageVerification
    destination: ImageReference
    stats: CopyStats
    destination_verification: ImageVerification | None = field(default=None)

    @property
    def pinned(self) -> str:
        return self.destination.pinned()


def promote(src: str, dst: str, policy: Policy, *, key: PublicKey | None = None,
            progress: Callable[[str], None] | None = None,
            verify_destination: bool = True) -> Promotion:
    """Verify ``src``; copy it and its attestations to ``dst``; raise if anything fails.

    Raises :class:`PromotionRefused` (exit 1) before copying anything when the policy does
    not hold (or after the copy, when the destination does not verify); registry failures
    during the copy raise :class:`RegistryError` (exit 5).
    """
    say = progress or (lambda message: None)
    destination = parse_reference(dst, default_tag=None)
    source = verify_image(src, policy, key=key)
    if not source.verdict.passed:
        raise PromotionRefused(
            f"refusing to promote {src}: {summary_line(source.verdict)}; nothing was copied",
            source.verdict)
    digest = source.reference.digest
    assert digest is not None
    if destination.digest and destination.digest != digest:
        raise UsageError(f"destination {dst} names digest {destination.digest}, but {src} is "
                         f"{digest}", hint="give the destination as REGISTRY/REPO[:TAG]")
    tag = destination.tag or source.reference.tag
    target = destination.with_digest(digest).with_tag(tag)
    dst_client = (source.client if destination.registry == source.reference.registry
                  else RegistryClient.for_reference(destination))
    copier = _Copier(source.client, source.reference.repository, dst_client,
                     destination.repository)
    say(f"verified {source.reference}; copying to {target.name}")
    tree = copier.copy_image(digest)
    for manifest_digest in tree:
        copier.copy_referrers(manifest_digest)
        copier.copy_cosign_att(manifest_digest)
    if tag:
        top = copier.src.get_manifest(copier.src_repo, digest)
        dst_client.put_manifest(destination.repository, tag, top.raw, top.media_type)
    say(f"copied {copier.stats.describe()}")
    checked = None
    if verify_destination:
        checked = verify_image(target.pinned(), policy, key=key, client=dst_client)
        if not checked.verdict.passed:
            raise PromotionRefused(
                f"copied {digest} to {target.name}, but the copy does not verify there: "
                f"{summary_line(checked.verdict)}", checked.verdict,
                hint="the destination registry may not have kept every attestation")
    return Promotion(source=source, destination=target, stats=copier.stats,
                     destination_verification=checked)


class _Copier:
    """Copies content between two repositories (of one registry, or of two)."""

    def __init__(self, src: RegistryClient, src_repo: str, dst: RegistryClient,
                 dst_repo: str) -> None:
        self.src, self.src_repo, self.dst, self.dst_repo = src, src_repo, dst, dst_repo
        self.same_registry = src.registry == dst.registry
        self.stats = CopyStats()
        self._done_blobs: set[str] = set()
        self._done_manifests: set[str] = set()

    # ----------------------------------------------------------------------------- images
    def copy_image(self, digest: str) -> list[str]:
        """Copy a manifest (and, for an index, every child) by digest; returns every digest."""
        manifest = self.src.get_manifest(self.src_repo, digest)
        digests = [digest]
        if manifest.is_index:
            for child in manifest.manifests():
                digests += self.copy_image(child.digest)
        else:
            self._copy_manifest_blobs(manifest)
        self._put_manifest(manifest)
        return digests

    def _copy_manifest_blobs(self, manifest: Manifest) -> None:
        document = manifest.json
        if document.get("config") is not None:
            self.copy_blob(manifest.config())
        for layer in manifest.layers():
            if layer.media_type in _FOREIGN or layer_has_urls(document, layer.digest):
                self.stats.skipped_foreign += 1
                continue
            self.copy_blob(layer)

    def _put_manifest(self, manifest: Manifest, reference: str | None = None) -> dict[str, str]:
        key = f"{manifest.digest}:{reference or ''}"
        if key in self._done_manifests:
            return {}
        _, headers = self.dst.put_manifest(self.dst_repo, reference or manifest.digest,
                                           manifest.raw, manifest.media_type)
        self._done_manifests.add(key)
        self.stats.manifests += 1
        return {k: v for k, v in headers.items()}

    # ------------------------------------------------------------------------------ blobs
    def copy_blob(self, descriptor: Descriptor) -> None:
        digest = descriptor.digest
        if digest in self._done_blobs:
            return
        if self.dst.blob_exists(self.dst_repo, digest):
            self.stats.blobs_present += 1
        elif self.same_registry and self.dst.mount_blob(self.dst_repo, digest, self.src_repo):
            self.stats.blobs_mounted += 1
        else:
            self._stream_blob(descriptor)
            self.stats.blobs_streamed += 1
            self.stats.bytes_streamed += descriptor.size
        self._done_blobs.add(digest)

    def _stream_blob(self, descriptor: Descriptor) -> None:
        """Copy one blob without holding it in memory; retried from the start on failure."""
        if descriptor.size <= CHUNK_BYTES:
            data = self.src.get_blob(self.src_repo, descriptor.digest,
                                     max_bytes=CHUNK_BYTES + 1)
            self.dst.put_blob(self.dst_repo, data, descriptor.digest)
            return
        last: RegistryError | None = None
        for attempt in range(1, _BLOB_ATTEMPTS + 1):
            try:
                self._chunked_upload(descriptor)
                return
            except RegistryError as error:
                last = error
                log.warning("copying blob %s failed (attempt %d): %s", descriptor.digest,
                            attempt, error.message)
        assert last is not None
        raise last

    def _chunked_upload(self, descriptor: Descriptor) -> None:
        """Stream the blob across: the source is read through the client's verifying reader,
        so a blob that does not hash to its digest fails here; the destination checks the
        digest again on the final PUT."""
        with self.src.open_blob(self.src_repo, descriptor.digest, descriptor.size) as reader:
            self.dst.upload_blob_stream(self.dst_repo, descriptor.digest, reader.read,
                                        CHUNK_BYTES)

    # ------------------------------------------------------------------------ attestations
    def copy_referrers(self, subject_digest: str) -> None:
        """Every referrer of ``subject_digest``, registered in the destination's index."""
        for descriptor, via in referrer_descriptors(self.src, self.src_repo, subject_digest):
            try:
                manifest = self.src.get_manifest(self.src_repo, descriptor.digest)
            except RegistryError:
                if not listed_but_gone(self.src, self.src_repo, descriptor, via):
                    raise
                continue
            if manifest.is_index:
                for child in manifest.manifests():
                    self.copy_image(child.digest)
            else:
                self._copy_manifest_blobs(manifest)
            headers = self._put_manifest(manifest)
            self.stats.referrers += 1
            if registry_indexed(headers, subject_digest):
                continue  # the destination indexes referrers itself
            add_to_fallback_index(self.dst, self.dst_repo, subject_digest,
                                   _referrer_descriptor(manifest, descriptor))

    def copy_cosign_att(self, subject_digest: str) -> None:
        """The ``sha256-<hex>.att`` manifest, byte for byte (merged if one already exists)."""
        tag = cosign_att_tag(subject_digest)
        if self.src.head_manifest(self.src_repo, tag) is None:
            return
        manifest = self.src.get_manifest(self.src_repo, tag)
        self._copy_manifest_blobs(manifest)
        layers = manifest.layers()
        existing = self.dst.head_manifest(self.dst_repo, tag)
        if existing is not None and existing.digest != manifest.digest:
            current = self.dst.get_manifest(self.dst_repo, tag)
            have = {layer.digest for layer in current.layers()}
            missing = [raw for raw in (manifest.json.get("layers") or [])
                       if isinstance(raw, dict) and raw.get("digest") not in have]
            if missing:
                merged = dict(current.json)
                merged["layers"] = [*(current.json.get("layers") or []), *missing]
                raw = json.dumps(merged, separators=(",", ":"), sort_keys=True).encode()
                self.dst.put_manifest(self.dst_repo, tag, raw, current.media_type)
                self.stats.manifests += 1
        elif existing is None:
            self._put_manifest(manifest, reference=tag)
        self.stats.cosign_layers += sum(1 for layer in layers
                                        if layer.media_type == mt.DSSE_ENVELOPE)


def layer_has_urls(document: dict[str, Any], digest: str) -> bool:
    """Layers with ``urls`` live outside the registry (foreign layers): not ours to copy."""
    for layer in document.get("layers") or []:
        if isinstance(layer, dict) and layer.get("digest") == digest and layer.get("urls"):
            return True
    return False


def _referrer_descriptor(manifest: Manifest, listed: Descriptor) -> Descriptor:
    """The index entry for a referrer: artifactType and annotations taken from the manifest
    itself when the source listing lacked them (a fallback index written by an older tool)."""
    document = manifest.json
    artifact_type = listed.artifact_type or document.get("artifactType") or (
        (document.get("config") or {}).get("mediaType"))
    annotations = dict(listed.annotations) or {
        str(k): str(v) for k, v in (document.get("annotations") or {}).items()}
    return Descriptor(media_type=manifest.media_type, digest=manifest.digest,
                      size=len(manifest.raw), artifact_type=artifact_type,
                      annotations=annotations)
