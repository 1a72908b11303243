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
index and the ``.att`` manifest are read-modify-write, so every write is checked afterwards and
redone when a concurrent writer's update replaced ours (a lost update).

Reading never trusts an index: each referrer manifest is fetched by digest and must name the
image as its subject; each blob is digest-checked by the client.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from attest.errors import InputError, RegistryError
from attest.reference import ImageReference
from attest.registry import media_types as mt
from attest.registry.client import Descriptor, Manifest, RegistryClient, digest_of

log = logging.getLogger(__name__)

Layout = Literal["referrer", "cosign-att", "buildkit"]
MAX_REFERRERS = 1000
_LOST_UPDATE_ATTEMPTS = 8


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


def fallback_tag(digest: str) -> str:
    """``sha256:abc`` -> ``sha256-abc``: the OCI referrers fallback tag."""
    return digest.replace(":", "-", 1)


def cosign_att_tag(digest: str) -> str:
    return f"{fallback_tag(digest)}.att"


def _created(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    repository = subject.repository
    subject_desc = subject_descriptor(client, subject)
    config = client.put_blob(repository, mt.EMPTY_JSON)
    layer = client.put_blob(repository, bundle_json)
    annotations = {
        mt.ANNOTATION_BUNDLE_CONTENT: "dsse-envelope",
        mt.ANNOTATION_BUNDLE_PREDICATE: predicate_type,
        mt.ANNOTATION_CREATED: _created(created),
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": mt.SIGSTORE_BUNDLE_V03,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": mt.SIGSTORE_BUNDLE_V03, "digest": layer.digest,
                    "size": layer.size}],
        "subject": subject_desc.to_json(),
        "annotations": annotations,
    }
    raw = _canonical(manifest)
    digest, headers = client.put_manifest(repository, digest_of(raw), raw, mt.OCI_MANIFEST)
    descriptor = Descriptor(media_type=mt.OCI_MANIFEST, digest=digest, size=len(raw),
                            artifact_type=mt.SIGSTORE_BUNDLE_V03, annotations=annotations)
    if headers.get("OCI-Subject"):
        return descriptor  # the registry indexes referrers itself
    _add_to_fallback_index(client, repository, subject_desc.digest, descriptor)
    return descriptor


def _add_to_fallback_index(client: RegistryClient, repository: str, subject_digest: str,
                           descriptor: Descriptor) -> None:
    """Append ``descriptor`` to the ``sha256-<hex>`` index, surviving concurrent writers."""
    tag = fallback_tag(subject_digest)

    def entries() -> list[dict[str, Any]]:
        existing = _get_optional(client, repository, tag)
        if existing is None:
            return []
        if existing.media_type != mt.OCI_INDEX:
            raise RegistryError(
                f"tag {repository}:{tag} holds a {existing.media_type}, not a referrers index",
                hint="another tool uses this tag; remove it or use a registry with the "
                     "referrers API")
        return [d for d in existing.json.get("manifests") or [] if isinstance(d, dict)]

    def write(current: list[dict[str, Any]]) -> None:
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                 "manifests": [*current, descriptor.to_json()]}
        raw = _canonical(index)
        client.put_manifest(repository, tag, raw, mt.OCI_INDEX)

    _append_until_present(
        what=f"referrers index {repository}:{tag}",
        read=entries,
        present=lambda current: any(d.get("digest") == descriptor.digest for d in current),
        write=write,
    )


def _append_until_present(
    *,
    what: str,
    read: Callable[[], list[dict[str, Any]]],
    present: Callable[[list[dict[str, Any]]], bool],
    write: Callable[[list[dict[str, Any]]], None],
) -> None:
    """Read-modify-write with verification: redo the write while someone else's replaced it."""
    for attempt in range(1, _LOST_UPDATE_ATTEMPTS + 1):
        current = read()
        if present(current):
            return
        write(current)
        # A concurrent writer may have read the old list before our PUT and written after it.
        time.sleep(0.05 * attempt)
        if present(read()):
            return
        log.warning("%s: a concurrent update replaced ours; retrying (%d)", what, attempt)
    raise RegistryError(f"{what}: lost the update to concurrent writers {_LOST_UPDATE_ATTEMPTS} "
                        "times", hint="retry the attach step (attest build --resume DIR)")


def _get_optional(client: RegistryClient, repository: str, tag: str) -> Manifest | None:
    if client.head_manifest(repository, tag) is None:
        return None
    return client.get_manifest(repository, tag)


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
    repository = subject.repository
    subject_digest = subject.pinned().split("@", 1)[1]
    envelope, annotations = cosign_layer_from_bundle(bundle_json, predicate_type)
    layer = client.put_blob(repository, envelope)
    layer_json = {"mediaType": mt.DSSE_ENVELOPE, "digest": layer.digest, "size": layer.size,
                  "annotations": annotations}
    tag = cosign_att_tag(subject_digest)

    def layers() -> list[dict[str, Any]]:
        existing = _get_optional(client, repository, tag)
        if existing is None:
            return []
        return [d for d in existing.json.get("layers") or [] if isinstance(d, dict)]

    def write(current: list[dict[str, Any]]) -> None:
        all_layers = [*current, layer_json]
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
        client.put_manifest(repository, tag, _canonical(manifest), mt.OCI_MANIFEST)

    _append_until_present(
        what=f"cosign attestations {repository}:{tag}",
        read=layers,
        present=lambda current: any(d.get("digest") == layer.digest for d in current),
        write=write,
    )
    return Descriptor(media_type=mt.DSSE_ENVELOPE, digest=layer.digest, size=layer.size,
                      annotations=annotations)


def cosign_layer_from_bundle(bundle_json: bytes,
                             predicate_type: str) -> tuple[bytes, dict[str, str]]:
    """Split a Sigstore bundle into cosign's envelope blob plus certificate/SET annotations."""
    try:
        bundle = json.loads(bundle_json)
        envelope = bundle["dsseEnvelope"]
        material = bundle["verificationMaterial"]
        certificate_b64 = (material.get("certificate") or {}).get("rawBytes") or (
            material["x509CertificateChain"]["certificates"][0]["rawBytes"])
        entry = material["tlogEntries"][0]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise InputError(f"bundle is not a DSSE Sigstore bundle with a log entry ({error})",
                         hint="sign with `attest sign` or `attest build`") from None
    promise = (entry.get("inclusionPromise") or {}).get("signedEntryTimestamp")
    if not promise:
        raise InputError("bundle's log entry has no signed entry timestamp (Rekor v2?)",
                         hint="the cosign .att layout needs a Rekor v1 entry; use "
                              "--attach referrers")
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    certificate = x509.load_der_x509_certificate(base64.b64decode(certificate_b64))
    log_id_b64 = entry["logId"]["keyId"]
    set_json = {
        "SignedEntryTimestamp": promise,
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": int(entry["integratedTime"]),
            "logIndex": int(entry["logIndex"]),
            "logID": base64.b64decode(log_id_b64).hex(),
        },
    }
    envelope_json = {
        "payloadType": envelope["payloadType"],
        "payload": envelope["payload"],
        "signatures": [{"keyid": s.get("keyid", ""), "sig": s["sig"]}
                       for s in envelope["signatures"]],
    }
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
    digest = subject.pinned().split("@", 1)[1]
    repository = subject.repository
    found: list[FoundAttestation] = []
    found += _discover_referrers(client, repository, digest)
    found += _discover_cosign_att(client, repository, digest)
    found += _discover_buildkit(client, repository, digest)
    return found


def referrer_descriptors(client: RegistryClient, repository: str,
                         digest: str) -> tuple[list[Descriptor], str]:
    """Referrer descriptors through the API, else the fallback tag; and which was used."""
    listed = client.referrers(repository, digest)
    if listed is not None:
        return listed[:MAX_REFERRERS], "referrers API"
    index = _get_optional(client, repository, fallback_tag(digest))
    if index is None:
        return [], "fallback tag (absent)"
    if index.media_type != mt.OCI_INDEX:
        log.warning("tag %s is not a referrers index; ignored", fallback_tag(digest))
        return [], "fallback tag (not an index)"
    return index.manifests()[:MAX_REFERRERS], "fallback tag"


def _discover_referrers(client: RegistryClient, repository: str,
                        digest: str) -> list[FoundAttestation]:
    descriptors, _ = referrer_descriptors(client, repository, digest)
    found = []
    for descriptor in descriptors:
        if descriptor.artifact_type not in (None, mt.SIGSTORE_BUNDLE_V03):
            continue
        manifest = client.get_manifest(repository, descriptor.digest)
        document = manifest.json
        if document.get("artifactType") != mt.SIGSTORE_BUNDLE_V03:
            continue
        declared_subject = (document.get("subject") or {}).get("digest")
        if declared_subject != digest:
            log.warning("referrer %s names subject %s, not %s; ignored", descriptor.digest,
                        declared_subject, digest)
            continue
        layers = [layer for layer in manifest.layers()
                  if layer.media_type == mt.SIGSTORE_BUNDLE_V03]
        if len(layers) != 1:
            log.warning("referrer %s has %d bundle layers; ignored", descriptor.digest,
                        len(layers))
            continue
        annotations = {str(k): str(v) for k, v in (document.get("annotations") or {}).items()}
        found.append(FoundAttestation(
            layout="referrer",
            location=f"referrer {descriptor.digest}",
            descriptor=descriptor,
            predicate_type_hint=annotations.get(mt.ANNOTATION_BUNDLE_PREDICATE),
            bundle=client.get_blob(repository, layers[0].digest),
            annotations=annotations,
            manifest=manifest,
            refers_to=digest,
        ))
    return found


def _discover_cosign_att(client: RegistryClient, repository: str,
                         digest: str) -> list[FoundAttestation]:
    tag = cosign_att_tag(digest)
    manifest = _get_optional(client, repository, tag)
    if manifest is None:
        return []
    found = []
    for layer in manifest.layers()[:MAX_REFERRERS]:
        if layer.media_type != mt.DSSE_ENVELOPE:
            continue
        found.append(FoundAttestation(
            layout="cosign-att",
            location=f"{tag} layer {layer.digest}",
            descriptor=layer,
            predicate_type_hint=layer.annotations.get(mt.ANNOTATION_COSIGN_PREDICATE),
            envelope=client.get_blob(repository, layer.digest),
            annotations=dict(layer.annotations),
            manifest=manifest,
            refers_to=digest,
        ))
    return found


def _discover_buildkit(client: RegistryClient, repository: str,
                       digest: str) -> list[FoundAttestation]:
    """BuildKit puts attestations in the index; look in ``digest`` if it is one."""
    top = client.get_manifest(repository, digest)
    if not top.is_index:
        return []
    found = []
    for entry in top.manifests():
        if entry.annotations.get(mt.ANNOTATION_BUILDKIT_REF_TYPE) != "attestation-manifest":
            continue
        refers_to = entry.annotations.get(mt.ANNOTATION_BUILDKIT_REF_DIGEST)
        manifest = client.get_manifest(repository, entry.digest)
        for layer in manifest.layers():
            if layer.media_type != mt.IN_TOTO:
                continue
            found.append(FoundAttestation(
                layout="buildkit",
                location=f"BuildKit attestation {entry.digest} layer {layer.digest}",
                descriptor=layer,
                predicate_type_hint=layer.annotations.get(mt.ANNOTATION_INTOTO_PREDICATE),
                statement=client.get_blob(repository, layer.digest),
                annotations=dict(layer.annotations),
                manifest=manifest,
                refers_to=refers_to,
            ))
    return found
