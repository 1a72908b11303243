"""Where attestations live next to an image, written and read in every layout tools look in.

Three layouts exist in the field and each has readers that know only it:

* **OCI 1.1 bundle referrers** (cosign v3, ``gh attestation``, actions/attest): one manifest per
  Sigstore bundle whose ``subject`` is the image. Found through the referrers API, or through
  the ``sha256-<hex>`` fallback index tag on registries without one (distribution 2.8).
* **cosign ``sha256-<hex>.att``** (slsa-verifier, Kyverno's and policy-controller's defaults):
  one image manifest whose layers are DSSE envelopes, with the certificate and Rekor SET in
  layer annotations.
* **BuildKit in-index attestation manifests**: unsigned statements inside the image index.

Writing is append-only: existing referrers and ``.att`` layers are kept. Both the fallback
index and the ``.att`` manifest are read-modify-write on a tag, and registries offer no
compare-and-swap for tags, so two writers racing can lose one update (B reads, A writes, B
writes what it read plus its own entry). Two measures close that window:

* just before writing, the tag is checked to still be what was read (a cheap HEAD), so a
  writer only ever overwrites a version it has seen, give or take one round trip;
* after writing, a writer waits a settle delay far longer than that round trip and reads again;
  if its entry was replaced it writes again from the fresh contents. A write is never retried
  blindly with content read before the failure.

Reading never trusts an index: each referrer manifest is fetched by digest and must name the
image as its subject; each blob is digest-checked by the client.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from oci_attest._internal.retry import RetryPolicy, TransientError
from oci_attest.errors import DigestMismatch, InputError, NotFound, RegistryError
from oci_attest.reference import ImageReference
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import (
    MAX_SMALL_BLOB_BYTES,
    Descriptor,
    Manifest,
    RegistryClient,
    digest_of,
)

log = logging.getLogger(__name__)

Layout = Literal["referrer", "cosign-att", "buildkit"]
MAX_REFERRERS = 1000
#: Default of :func:`attestation_limit`.
MAX_ATTESTATION_BYTES = 16 * 1024 * 1024
ENV_MAX_ATTESTATION = "ATTEST_MAX_ATTESTATION_BYTES"
_LOST_UPDATE_ATTEMPTS = 10
#: The least time a write is left to settle before it is confirmed (``ATTEST_ATTACH_SETTLE``).
DEFAULT_SETTLE = 0.25


@dataclass(frozen=True)
class FoundAttestation:
    """One attestation found next to an image. Nothing here is verified except digests."""

    layout: Layout
    location: str
    descriptor: Descriptor
    predicate_type_hint: str | None = None
    bundle: bytes | None = None
    envelope: bytes | None = None
    statement: bytes | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    manifest: Manifest | None = None
    refers_to: str | None = None
    #: For referrers: "referrers API" or "fallback tag", i.e. where the registry listed it.
    via: str | None = None


def fallback_tag(digest: str) -> str:
    """``sha256:abc`` -> ``sha256-abc``: the OCI referrers fallback tag."""
    return digest.replace(":", "-", 1)


def cosign_att_tag(digest: str) -> str:
    return f"{fallback_tag(digest)}.att"


def _created(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def bundle_time(bundle_json: bytes) -> datetime | None:
    """When the bundle was signed: its log entry's integrated time, else its certificate's
    start. Used as the referrer's ``created`` so that attaching the same bundle again (a retry,
    a resumed run) produces the same referrer manifest, not a duplicate in the index."""
    try:
        bundle = json.loads(bundle_json)
        material = bundle["verificationMaterial"]
        for entry in material.get("tlogEntries") or []:
            integrated = int(entry.get("integratedTime") or 0)
            if integrated > 0:
                return datetime.fromtimestamp(integrated, UTC)
        raw = (material.get("certificate") or {}).get("rawBytes") or (
            material["x509CertificateChain"]["certificates"][0]["rawBytes"])
        import base64

        from cryptography import x509

        certificate = x509.load_der_x509_certificate(base64.b64decode(raw))
        return certificate.not_valid_before_utc
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, OverflowError,
            RecursionError):
        return None


def _canonical(document: Mapping[str, Any]) -> bytes:
    """Compact, key-ordered JSON, so that identical content gets identical digests."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def subject_descriptor(client: RegistryClient, subject: ImageReference) -> Descriptor:
    """The subject as the registry stores it: media type and size from its raw bytes."""
    digest = subject.pinned().split("@", 1)[1]
    manifest = client.get_manifest(subject.repository, digest)
    return manifest.descriptor


# ------------------------------------------------------------------------------ referrers
def attach_referrer(
    client: RegistryClient,
    subject: ImageReference,
    bundle_json: bytes,
    predicate_type: str,
    *,
    created: datetime | None = None,
) -> Descriptor:
    """Push a Sigstore bundle as an OCI 1.1 referrer of ``subject``; returns its descriptor."""
    return attach_referrers(client, subject, [(bundle_json, predicate_type)],
                            created=created)[0]


def attach_referrers(
    client: RegistryClient,
    subject: ImageReference,
    bundles: list[tuple[bytes, str]],
    *,
    created: datetime | None = None,
) -> list[Descriptor]:
    """Push each ``(bundle, predicate type)`` as a referrer of ``subject``, then register them
    all in the fallback index with one read-modify-write (one settle delay, not one each)."""
    repository = subject.repository
    subject_desc = subject_descriptor(client, subject)
    config = client.put_blob(repository, mt.EMPTY_JSON)
    descriptors: list[Descriptor] = []
    unindexed: list[Descriptor] = []
    for bundle_json, predicate_type in bundles:
        layer = client.put_blob(repository, bundle_json)
        annotations = {
            mt.ANNOTATION_BUNDLE_CONTENT: "dsse-envelope",
            mt.ANNOTATION_BUNDLE_PREDICATE: predicate_type,
            mt.ANNOTATION_CREATED: _created(created or bundle_time(bundle_json)),
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": mt.SIGSTORE_BUNDLE_V03,
            "config": {"mediaType": mt.OCI_EMPTY, "digest": config.digest,
                       "size": config.size},
            "layers": [{"mediaType": mt.SIGSTORE_BUNDLE_V03, "digest": layer.digest,
                        "size": layer.size}],
            "subject": subject_desc.to_json(),
            "annotations": annotations,
        }
        raw = _canonical(manifest)
        digest, headers = client.put_manifest(repository, digest_of(raw), raw, mt.OCI_MANIFEST)
        descriptor = Descriptor(media_type=mt.OCI_MANIFEST, digest=digest, size=len(raw),
                                artifact_type=mt.SIGSTORE_BUNDLE_V03, annotations=annotations)
        descriptors.append(descriptor)
        if not registry_indexed(headers, subject_desc.digest):
            unindexed.append(descriptor)
    if unindexed:
        add_to_fallback_index(client, repository, subject_desc.digest, unindexed)
    return descriptors


def registry_indexed(put_headers: Mapping[str, str], subject_digest: str) -> bool:
    """Whether the answer to a referrer's PUT says the registry lists it by its subject.

    Only ``OCI-Subject`` naming this subject counts (distribution spec 1.1): a registry with
    the referrers API that leaves the header out, or names another digest, gets the fallback
    tag written too, so the referrer is found whichever way a reader looks."""
    named = next((v for k, v in put_headers.items() if k.lower() == "oci-subject"), "")
    return named.strip() == subject_digest


def add_to_fallback_index(client: RegistryClient, repository: str, subject_digest: str,
                          descriptors: Descriptor | list[Descriptor]) -> None:
    """Append descriptors to the ``sha256-<hex>`` index, surviving concurrent writers."""
    ours = [descriptors] if isinstance(descriptors, Descriptor) else list(descriptors)
    wanted = {d.digest for d in ours}
    tag = fallback_tag(subject_digest)

    def entries() -> tuple[str | None, list[dict[str, Any]]]:
        existing = _get_optional(client, repository, tag)
        if existing is None:
            return None, []
        if existing.media_type != mt.OCI_INDEX:
            raise RegistryError(
                f"tag {repository}:{tag} holds a {existing.media_type}, not a referrers index",
                hint="another tool uses this tag; remove it or use a registry with the "
                     "referrers API")
        listed = existing.json.get("manifests") or []
        if not isinstance(listed, list):
            raise RegistryError(f"tag {repository}:{tag} holds a malformed referrers index",
                                hint="delete the tag; attest rewrites it on the next attach")
        return existing.digest, [d for d in listed if isinstance(d, dict)]

    def write(current: list[dict[str, Any]]) -> bytes:
        listed = {d.get("digest") for d in current}
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                 "manifests": [*current, *(d.to_json() for d in ours
                                           if d.digest not in listed)]}
        return _canonical(index)

    _append_until_present(
        client, repository, tag, mt.OCI_INDEX,
        what=f"referrers index {repository}:{tag}",
        read=entries,
        present=lambda current: wanted <= {d.get("digest") for d in current},
        build=write,
    )


def _append_until_present(
    client: RegistryClient,
    repository: str,
    tag: str,
    media_type: str,
    *,
    what: str,
    read: Callable[[], tuple[str | None, list[dict[str, Any]]]],
    present: Callable[[list[dict[str, Any]]], bool],
    build: Callable[[list[dict[str, Any]]], bytes],
) -> None:
    """Read-modify-write of ``tag`` until our entry is in it and stays there.

    ``read`` returns the tag's current digest (None when absent) and entries; ``build`` the
    manifest bytes with our entry appended. See the module docstring for why the check before
    the write and the settled read after it.
    """
    policy = RetryPolicy.from_env()
    settle = _settle_delay()
    failures = 0
    writes = 0
    confirmed_once = False
    while True:
        if writes > _LOST_UPDATE_ATTEMPTS:
            raise RegistryError(f"{what}: lost the update to concurrent writers "
                                f"{_LOST_UPDATE_ATTEMPTS} times",
                                hint="retry the attach step (attest build --resume DIR)")
        try:
            version, current = read()
            if present(current):
                if confirmed_once:
                    return
                # Present now; a writer that read before our write may still replace it.
                time.sleep(settle * (1 + random.random()))  # noqa: S311 - jitter
                confirmed_once = True
                continue
            confirmed_once = False
            raw = build(current)
            now = client.head_manifest(repository, tag)
            if (now.digest if now else None) != version:
                failures += 1
                log.info("%s changed while we were writing; reading it again", what)
            else:
                writes += 1
                client.put_manifest(repository, tag, raw, media_type, retry=False)
                continue
        except TransientError as error:
            failures += 1
            if failures >= policy.attempts:
                raise RegistryError(f"{what} on {client.registry} kept failing after "
                                    f"{failures} attempts: {error}",
                                    hint="the registry is unavailable; retry later (attest "
                                         "build --resume DIR)") from None
            time.sleep(policy.delay(min(failures, policy.attempts), error.retry_after))
            continue
        if failures >= _LOST_UPDATE_ATTEMPTS:
            raise RegistryError(f"{what}: lost the update to concurrent writers "
                                f"{_LOST_UPDATE_ATTEMPTS} times",
                                hint="retry the attach step (attest build --resume DIR)")
        time.sleep(settle * random.random())  # noqa: S311 - let the other writer finish


def _settle_delay() -> float:
    try:
        return max(0.0, float(os.environ.get("ATTEST_ATTACH_SETTLE", DEFAULT_SETTLE)))
    except ValueError:
        return DEFAULT_SETTLE


def _get_optional(client: RegistryClient, repository: str, tag: str) -> Manifest | None:
    if client.head_manifest(repository, tag) is None:
        return None
    return client.get_manifest(repository, tag)


def _read_tag(client: RegistryClient, repository: str, tag: str) -> Manifest | None:
    """For discovery: a tag holding something unusable is skipped with a warning."""
    try:
        return _get_optional(client, repository, tag)
    except (InputError, DigestMismatch, NotFound) as error:
        log.warning("tag %s: %s; ignored", tag, error.message)
        return None


# ------------------------------------------------------------------------------ cosign .att
def attach_cosign_att(
    client: RegistryClient,
    subject: ImageReference,
    bundle_json: bytes,
    predicate_type: str,
) -> Descriptor:
    """Append the bundle's DSSE envelope to the ``sha256-<hex>.att`` manifest, cosign-style.

    Returns the descriptor of the envelope layer. cosign's readers need the Rekor SET (a
    promise of inclusion); a bundle logged only in Rekor v2 has none and cannot be written here.
    """
    return attach_cosign_atts(client, subject, [(bundle_json, predicate_type)])[0]


def attach_cosign_atts(
    client: RegistryClient,
    subject: ImageReference,
    bundles: list[tuple[bytes, str]],
) -> list[Descriptor]:
    """Append several envelopes to the ``.att`` manifest in one read-modify-write."""
    repository = subject.repository
    subject_digest = subject.pinned().split("@", 1)[1]
    ours: list[dict[str, Any]] = []
    descriptors: list[Descriptor] = []
    for bundle_json, predicate_type in bundles:
        envelope, annotations = cosign_layer_from_bundle(bundle_json, predicate_type)
        layer = client.put_blob(repository, envelope)
        ours.append({"mediaType": mt.DSSE_ENVELOPE, "digest": layer.digest,
                     "size": layer.size, "annotations": annotations})
        descriptors.append(Descriptor(media_type=mt.DSSE_ENVELOPE, digest=layer.digest,
                                      size=layer.size, annotations=annotations))
    wanted = {layer["digest"] for layer in ours}
    tag = cosign_att_tag(subject_digest)

    def layers() -> tuple[str | None, list[dict[str, Any]]]:
        existing = _get_optional(client, repository, tag)
        if existing is None:
            return None, []
        listed = existing.json.get("layers") or []
        if not isinstance(listed, list):
            raise RegistryError(f"tag {repository}:{tag} holds a malformed manifest",
                                hint="delete the tag; attest rewrites it on the next attach")
        return existing.digest, [d for d in listed if isinstance(d, dict)]

    def write(current: list[dict[str, Any]]) -> bytes:
        listed = {d.get("digest") for d in current}
        all_layers = [*current, *(d for d in ours if d["digest"] not in listed)]
        config = {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in all_layers]},
            "config": {},
        }
        config_raw = _canonical(config)
        config_desc = client.put_blob(repository, config_raw)
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": config_desc.digest,
                       "size": config_desc.size},
            "layers": all_layers,
        }
        return _canonical(manifest)

    _append_until_present(
        client, repository, tag, mt.OCI_MANIFEST,
        what=f"cosign attestations {repository}:{tag}",
        read=layers,
        present=lambda current: wanted <= {d.get("digest") for d in current},
        build=write,
    )
    return descriptors


def cosign_layer_from_bundle(bundle_json: bytes,
                             predicate_type: str) -> tuple[bytes, dict[str, str]]:
    """Split a Sigstore bundle into cosign's envelope blob plus certificate/SET annotations.

    Everything in the bundle is untrusted input here: any malformed part is one InputError.
    """
    import base64
    import binascii

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        bundle = json.loads(bundle_json)
        envelope = bundle["dsseEnvelope"]
        material = bundle["verificationMaterial"]
        certificate_b64 = (material.get("certificate") or {}).get("rawBytes") or (
            material["x509CertificateChain"]["certificates"][0]["rawBytes"])
        entry = material["tlogEntries"][0]
        promise = (entry.get("inclusionPromise") or {}).get("signedEntryTimestamp")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError,
            RecursionError) as error:
        raise InputError(f"bundle is not a DSSE Sigstore bundle with a log entry "
                         f"({type(error).__name__})",
                         hint="sign with `attest sign` or `attest build`") from None
    if not promise:
        raise InputError("bundle's log entry has no signed entry timestamp (Rekor v2?)",
                         hint="the cosign .att layout needs a Rekor v1 entry; use "
                              "--attach referrers")
    try:
        certificate = x509.load_der_x509_certificate(
            base64.b64decode(str(certificate_b64), validate=True))
        set_json = {
            "SignedEntryTimestamp": str(promise),
            "Payload": {
                "body": str(entry["canonicalizedBody"]),
                "integratedTime": int(entry["integratedTime"]),
                "logIndex": int(entry["logIndex"]),
                "logID": base64.b64decode(str(entry["logId"]["keyId"]), validate=True).hex(),
            },
        }
        envelope_json = {
            "payloadType": str(envelope["payloadType"]),
            "payload": str(envelope["payload"]),
            "signatures": [{"keyid": str(s.get("keyid", "")), "sig": str(s["sig"])}
                           for s in envelope["signatures"]],
        }
    except (ValueError, KeyError, IndexError, TypeError, AttributeError,
            binascii.Error) as error:
        raise InputError(f"bundle has a malformed certificate, log entry or envelope "
                         f"({type(error).__name__})",
                         hint="sign with `attest sign` or `attest build`") from None
    annotations = {
        mt.ANNOTATION_COSIGN_SIGNATURE: "",
        mt.ANNOTATION_COSIGN_CERTIFICATE: certificate.public_bytes(Encoding.PEM).decode(),
        mt.ANNOTATION_COSIGN_CHAIN: "",
        mt.ANNOTATION_COSIGN_BUNDLE: json.dumps(set_json, separators=(",", ":")),
        mt.ANNOTATION_COSIGN_PREDICATE: predicate_type,
    }
    return json.dumps(envelope_json, separators=(",", ":")).encode(), annotations


# ------------------------------------------------------------------------------- discovery
def discover(client: RegistryClient, subject: ImageReference) -> list[FoundAttestation]:
    """Every attestation stored next to ``subject`` (which must carry a digest), all layouts."""
    return list(iter_discover(client, subject))


def iter_discover(client: RegistryClient, subject: ImageReference) -> Iterator[FoundAttestation]:
    """:func:`discover`, one attestation at a time, so that a consumer that examines each as
    it comes holds one attestation's bytes at once, not every one an attacker pushed.

    Each referrer manifest, bundle and envelope is read once per digest: a thousand referrers
    listing the same manifest, or a thousand manifests sharing one bundle blob, cost one read.
    """
    digest = subject.pinned().split("@", 1)[1]
    repository = subject.repository
    seen_blobs: set[str] = set()
    yield from _discover_referrers(client, repository, digest, seen_blobs)
    yield from _discover_cosign_att(client, repository, digest, seen_blobs)
    yield from _discover_buildkit(client, repository, digest, seen_blobs)


def referrer_descriptors(client: RegistryClient, repository: str, digest: str,
                         artifact_type: str | None = None) -> list[tuple[Descriptor, str]]:
    """Referrer descriptors, each with where it was listed: "referrers API" or "fallback tag".

    With the API, the fallback tag is read as well (one HEAD when it is absent): referrers
    attached before the registry had the API are listed only there, and a registry need not
    merge them (the spec says it must; not every registry does). With ``artifact_type`` only
    referrers of that type (or of none declared) are listed, so that other tools' signatures
    and SBOMs do not use up :data:`MAX_REFERRERS`."""
    listed = client.referrers(repository, digest, artifact_type, limit=MAX_REFERRERS)
    tagged = [d for d in _fallback_entries(client, repository, digest)
              if not artifact_type or d.artifact_type in (None, artifact_type)]
    if listed is None:
        return [(d, "fallback tag") for d in tagged][:MAX_REFERRERS]
    known = {d.digest for d in listed}
    return [*((d, "referrers API") for d in listed),
            *((d, "fallback tag") for d in tagged if d.digest not in known)][:MAX_REFERRERS]


def _fallback_entries(client: RegistryClient, repository: str, digest: str) -> list[Descriptor]:
    index = _read_tag(client, repository, fallback_tag(digest))
    if index is None:
        return []
    if index.media_type != mt.OCI_INDEX:
        log.warning("tag %s is not a referrers index; ignored", fallback_tag(digest))
        return []
    distinct: dict[str, Descriptor] = {}
    for descriptor in _descriptors(index, "manifests"):
        distinct.setdefault(descriptor.digest, descriptor)
    return list(distinct.values())


def _descriptors(manifest: Manifest, name: str) -> list[Descriptor]:
    """The well-formed descriptors of a manifest's ``layers`` or ``manifests``; a malformed
    one is skipped with a warning (it cannot be evidence, and must not hide the rest)."""
    try:
        listed = manifest.json.get(name)
    except InputError as error:
        log.warning("%s; ignored", error.message)
        return []
    if not isinstance(listed, list):
        if listed is not None:
            log.warning("manifest %s: %r is not a list; ignored", manifest.digest, name)
        return []
    found = []
    for entry in listed[:MAX_REFERRERS]:
        try:
            found.append(Descriptor.from_json(entry))
        except InputError as error:
            log.warning("manifest %s: skipping a malformed entry: %s", manifest.digest,
                        error.message)
    return found


def _discover_referrers(client: RegistryClient, repository: str, digest: str,
                        seen_blobs: set[str]) -> Iterator[FoundAttestation]:
    for descriptor, via in referrer_descriptors(client, repository, digest,
                                                mt.SIGSTORE_BUNDLE_V03):
        if descriptor.artifact_type not in (None, mt.SIGSTORE_BUNDLE_V03):
            continue
        try:
            attestation = _referrer(client, repository, digest, descriptor, via, seen_blobs)
        except (InputError, DigestMismatch, NotFound) as error:
            log.warning("referrer %s: %s; ignored", descriptor.digest, error.message)
            continue
        except RegistryError:
            if not listed_but_gone(client, repository, descriptor, via):
                raise
            continue
        if attestation is not None:
            yield attestation


def listed_but_gone(client: RegistryClient, repository: str, descriptor: Descriptor,
                    via: str) -> bool:
    """After a failed fetch: True (with a warning) when the listed referrer does not exist.

    A fallback tag outlives the referrers it lists (a retention policy, a manual delete, a
    registry that gained the API), so a dangling entry must not make every other attestation
    unreadable. Any other failure is the registry's, and stays an error."""
    if client.head_manifest(repository, descriptor.digest) is not None:
        return False
    log.warning("referrer %s is listed (%s) but not stored; ignored", descriptor.digest, via)
    return True


def _referrer(client: RegistryClient, repository: str, digest: str,
              descriptor: Descriptor, via: str,
              seen_blobs: set[str] | None = None) -> FoundAttestation | None:
    """One referrer, checked to be a bundle about ``digest``; None when it is something else."""
    manifest = client.get_manifest(repository, descriptor.digest)
    document = manifest.json
    if document.get("artifactType") != mt.SIGSTORE_BUNDLE_V03:
        return None
    subject = document.get("subject")
    declared_subject = subject.get("digest") if isinstance(subject, dict) else None
    if declared_subject != digest:
        log.warning("referrer %s names subject %.80s, not %s; ignored", descriptor.digest,
                    declared_subject, digest)
        return None
    layers = [layer for layer in _descriptors(manifest, "layers")
              if layer.media_type == mt.SIGSTORE_BUNDLE_V03]
    if len(layers) != 1:
        log.warning("referrer %s has %d bundle layers; ignored", descriptor.digest, len(layers))
        return None
    if seen_blobs is not None:
        if layers[0].digest in seen_blobs:
            log.info("referrer %s: bundle %s already examined", descriptor.digest,
                     layers[0].digest)
            return None
        seen_blobs.add(layers[0].digest)
    raw_annotations = document.get("annotations")
    annotations = {str(k): str(v) for k, v in raw_annotations.items()} \
        if isinstance(raw_annotations, dict) else {}
    return FoundAttestation(
        layout="referrer",
        via=via,
        location=f"referrer {descriptor.digest}",
        descriptor=descriptor,
        predicate_type_hint=annotations.get(mt.ANNOTATION_BUNDLE_PREDICATE),
        bundle=client.get_blob(repository, layers[0].digest, _blob_limit(layers[0])),
        annotations=annotations,
        manifest=manifest,
        refers_to=digest,
    )


def attestation_limit() -> int:
    """The largest bundle, envelope or statement examined (``ATTEST_MAX_ATTESTATION_BYTES``).

    Verifying a bundle holds several copies of it (JSON text, parsed document, decoded
    payload), about five times its size: 16 MiB keeps one verification under 200 MB while
    leaving room for the SBOM of a large image."""
    raw = os.environ.get(ENV_MAX_ATTESTATION, "")
    try:
        return max(1, min(int(raw), MAX_SMALL_BLOB_BYTES)) if raw else MAX_ATTESTATION_BYTES
    except ValueError:
        raise InputError(f"{ENV_MAX_ATTESTATION}={raw[:40]!r} is not a number of bytes") from None


def _blob_limit(descriptor: Descriptor) -> int:
    """Read no more than the descriptor declares, and never more than an attestation may be."""
    limit = attestation_limit()
    if descriptor.size > limit:
        raise InputError(f"{descriptor.size} bytes is larger than the {limit} bytes an "
                         f"attestation may have ({ENV_MAX_ATTESTATION})")
    return descriptor.size


def _discover_cosign_att(client: RegistryClient, repository: str, digest: str,
                         seen_blobs: set[str]) -> Iterator[FoundAttestation]:
    tag = cosign_att_tag(digest)
    manifest = _read_tag(client, repository, tag)
    if manifest is None:
        return
    for layer in _descriptors(manifest, "layers"):
        if layer.media_type != mt.DSSE_ENVELOPE or layer.digest in seen_blobs:
            continue
        seen_blobs.add(layer.digest)
        envelope = _fetch_blob(client, repository, layer, f"{tag} layer {layer.digest}")
        if envelope is None:
            continue
        yield FoundAttestation(
            layout="cosign-att",
            location=f"{tag} layer {layer.digest}",
            descriptor=layer,
            predicate_type_hint=layer.annotations.get(mt.ANNOTATION_COSIGN_PREDICATE),
            envelope=envelope,
            annotations=dict(layer.annotations),
            manifest=manifest,
            refers_to=digest,
        )


def _fetch_blob(client: RegistryClient, repository: str, layer: Descriptor,
                what: str) -> bytes | None:
    """A verified attestation blob, or None (with a warning) when it is unusable: one bad
    entry must not hide the others."""
    try:
        return client.get_blob(repository, layer.digest, _blob_limit(layer))
    except (InputError, DigestMismatch, NotFound) as error:
        log.warning("%s: %s; ignored", what, error.message)
        return None


def _discover_buildkit(client: RegistryClient, repository: str, digest: str,
                       seen_blobs: set[str]) -> Iterator[FoundAttestation]:
    """BuildKit puts attestations in the index; look in ``digest`` if it is one."""
    top = client.get_manifest(repository, digest)
    if not top.is_index:
        return
    for entry in _descriptors(top, "manifests"):
        if entry.annotations.get(mt.ANNOTATION_BUILDKIT_REF_TYPE) != "attestation-manifest":
            continue
        refers_to = entry.annotations.get(mt.ANNOTATION_BUILDKIT_REF_DIGEST)
        try:
            manifest = client.get_manifest(repository, entry.digest)
        except (InputError, DigestMismatch, NotFound) as error:
            log.warning("BuildKit attestation %s: %s; ignored", entry.digest, error.message)
            continue
        for layer in _descriptors(manifest, "layers"):
            if layer.media_type != mt.IN_TOTO or layer.digest in seen_blobs:
                continue
            seen_blobs.add(layer.digest)
            statement = _fetch_blob(client, repository, layer,
                                    f"BuildKit attestation layer {layer.digest}")
            if statement is None:
                continue
            yield FoundAttestation(
                layout="buildkit",
                location=f"BuildKit attestation {entry.digest} layer {layer.digest}",
                descriptor=layer,
                predicate_type_hint=layer.annotations.get(mt.ANNOTATION_INTOTO_PREDICATE),
                statement=statement,
                annotations=dict(layer.annotations),
                manifest=manifest,
                refers_to=refers_to,
            )
