"""``attest promote``: copy an image and all of its evidence, but only after it verified.

The image is copied *by digest*: every manifest is pushed with the exact bytes it was read
with (so its digest, and every signature over it, still holds), every blob is mounted (same
registry) or streamed in bounded chunks (across registries), an index brings all of its
platform manifests, and the attestations next to those manifests come along: bundle
referrers (registered in the destination's referrers index when it has no referrers API) and
the cosign ``sha256-<hex>.att`` manifest. *Which* attestations is decided by
:mod:`oci_attest.promote_select`: exactly the ones verification read and accepted, copied from
that first read by digest; the source's listings are never read again.

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
from oci_attest.promote_select import (
    Judged,
    Selection,
    judge_children,
    judged_from_verification,
    select,
)
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import Descriptor, Manifest, RegistryClient, digest_of
from oci_attest.registry.layouts import (
    add_to_fallback_index,
    cosign_att_tag,
    registry_indexed,
)
from oci_attest.verify.bundles import PublicKey
from oci_attest.verify.image import ImageVerification, trust_for, verify_image
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
    attestations_left_behind: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)

    def describe(self) -> str:
        return (f"{self.manifests} manifests, blobs: {self.blobs_mounted} mounted, "
                f"{self.blobs_streamed} streamed ({self.bytes_streamed} bytes), "
                f"{self.blobs_present} already present; {self.referrers} referrers, "
                f"{self.cosign_layers} cosign .att layers; {self.attestations_left_behind} "
                f"attestations left behind")


@dataclass(frozen=True)
class Promotion:
    source: ImageVerification
    destination: ImageReference
    stats: CopyStats
    attestations: Selection
    destination_verification: ImageVerification | None = field(default=None)

    @property
    def pinned(self) -> str:
        return self.destination.pinned()


def promote(src: str, dst: str, policy: Policy, *, key: PublicKey | None = None,
            progress: Callable[[str], None] | None = None,
            verify_destination: bool = True, copy_all_attestations: bool = False) -> Promotion:
    """Verify ``src``; copy it and its accepted attestations to ``dst``; raise if anything
    fails. With ``copy_all_attestations`` rejected and unsigned ones are copied too (still
    only those verification read).

    Raises :class:`PromotionRefused` (exit 1) before copying anything when the policy does
    not hold (or after the copy, when the destination does not verify); registry failures
    during the copy raise :class:`RegistryError` (exit 5).
    """
    say = progress or (lambda message: None)
    destination = parse_reference(dst, default_tag=None)
    trust = trust_for(policy)
    source = verify_image(src, policy, key=key, trust=trust)
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
    copier = Copier(source.client, source.reference.repository, dst_client,
                     destination.repository)
    say(f"verified {source.reference}; copying to {target.name}")
    tree = copier.copy_image(digest)
    judged = judged_from_verification(source) + judge_children(
        source.client, source, tree[1:], policy, trust, key)
    selection = select(judged, copy_all=copy_all_attestations)
    copier.copy_attestations(selection.copy)
    copier.stats.attestations_left_behind = len(selection.left_behind)
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
                     attestations=selection, destination_verification=checked)


class Copier:
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
    def copy_attestations(self, chosen: tuple[Judged, ...]) -> None:
        """Copy the chosen attestations from what was read the first time, by digest."""
        cosign: dict[tuple[str, str], tuple[Manifest, set[str]]] = {}
        for item in chosen:
            found = item.found
            assert found.manifest is not None
            if found.layout == "referrer":
                self.copy_referrer(found.manifest, found.descriptor, item.subject)
            elif found.layout == "cosign-att":
                key = (item.subject, found.manifest.digest)
                cosign.setdefault(key, (found.manifest, set()))[1].add(found.descriptor.digest)
        for (subject, _), (manifest, layers) in cosign.items():
            self.copy_cosign_att(subject, manifest, layers)

    def copy_all_attached(self, subject_digest: str) -> None:
        """Everything attached to ``subject_digest`` (referrers and every ``.att`` layer), as
        discovered once now: for copies that judge nothing (``attest mirror`` without a
        policy), where "everything upstream" is the contract."""
        from oci_attest.registry.layouts import discover

        subject = parse_reference(f"{self.src.registry}/{self.src_repo}@{subject_digest}")
        cosign: dict[str, tuple[Manifest, set[str]]] = {}
        for found in discover(self.src, subject):
            if found.manifest is None:
                continue
            if found.layout == "referrer":
                self.copy_referrer(found.manifest, found.descriptor, subject_digest)
            elif found.layout == "cosign-att":
                cosign.setdefault(found.manifest.digest, (found.manifest, set()))[1].add(
                    found.descriptor.digest)
        for manifest, layers in cosign.values():
            self.copy_cosign_att(subject_digest, manifest, layers)

    def copy_referrer(self, manifest: Manifest, listed: Descriptor, subject_digest: str) -> None:
        """One referrer manifest (as verification read it), registered in the destination's
        index when the destination does not index referrers itself."""
        self._copy_manifest_blobs(manifest)
        headers = self._put_manifest(manifest)
        self.stats.referrers += 1
        if registry_indexed(headers, subject_digest):
            return  # the destination indexes referrers itself (OCI-Subject names the subject)
        add_to_fallback_index(self.dst, self.dst_repo, subject_digest,
                              _referrer_descriptor(manifest, listed))

    def copy_cosign_att(self, subject_digest: str, manifest: Manifest, keep: set[str]) -> None:
        """The ``.att`` manifest verification read, with only the ``keep`` layers: byte for
        byte when that is all of them; merged into the destination's if it has one."""
        tag = cosign_att_tag(subject_digest)
        listed = [raw for raw in (manifest.json.get("layers") or []) if isinstance(raw, dict)]
        kept = [raw for raw in listed if raw.get("digest") in keep]
        if len(kept) != len(listed):
            document = dict(manifest.json)
            document["layers"] = kept
            raw = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
            manifest = Manifest(raw=raw, media_type=manifest.media_type, digest=digest_of(raw))
        self._copy_manifest_blobs(manifest)
        existing = self.dst.head_manifest(self.dst_repo, tag)
        if existing is not None and existing.digest != manifest.digest:
            current = self.dst.get_manifest(self.dst_repo, tag)
            have = {layer.digest for layer in current.layers()}
            missing = [raw for raw in kept if raw.get("digest") not in have]
            if missing:
                merged = dict(current.json)
                merged["layers"] = [*(current.json.get("layers") or []), *missing]
                raw = json.dumps(merged, separators=(",", ":"), sort_keys=True).encode()
                self.dst.put_manifest(self.dst_repo, tag, raw, current.media_type)
                self.stats.manifests += 1
        elif existing is None:
            self._put_manifest(manifest, reference=tag)
        self.stats.cosign_layers += sum(1 for raw in kept
                                        if raw.get("mediaType") == mt.DSSE_ENVELOPE)


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
