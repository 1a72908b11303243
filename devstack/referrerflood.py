"""Stage an attacker's referrer flood in a real registry, for tests and the memory benchmark.

Anyone who can push to a repository can attach referrers to an image. The flood here is the
cheap, nasty one: ``count`` distinct referrer manifests (each a valid OCI 1.1 bundle referrer
naming the image as its subject) that all point at one large bundle-shaped blob, registered in
the referrers fallback index, or ``count`` distinct blobs when ``shared_blob`` is False.
"""

from __future__ import annotations

import base64
import json

from oci_attest.reference import ImageReference
from oci_attest.registry import layouts
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import Descriptor, RegistryClient, digest_of


def big_bundle(size: int, marker: str = "flood") -> bytes:
    """A JSON document shaped like a Sigstore bundle, ``size`` bytes long, that no verifier
    will accept (no valid certificate or signature), mostly one huge base64 payload."""
    head = {"mediaType": mt.SIGSTORE_BUNDLE_V03, "verificationMaterial": {},
            "dsseEnvelope": {"payloadType": mt.IN_TOTO, "signatures": [{"sig": "c2ln"}],
                             "payload": ""}}
    skeleton = json.dumps(head).encode()
    filler = max(0, size - len(skeleton))
    payload = base64.b64encode(marker.encode() * (filler * 3 // 4 // len(marker) + 1))
    head["dsseEnvelope"]["payload"] = payload[:filler].decode()  # type: ignore[index]
    return json.dumps(head).encode()


def flood(client: RegistryClient, subject: ImageReference, count: int, blob_size: int, *,
          shared_blob: bool = True) -> list[Descriptor]:
    """Push ``count`` referrers of ``subject`` and list them in its fallback index."""
    repository = subject.repository
    subject_desc = layouts.subject_descriptor(client, subject)
    config = client.put_blob(repository, mt.EMPTY_JSON)
    shared = client.put_blob(repository, big_bundle(blob_size)) if shared_blob else None
    descriptors = []
    for number in range(count):
        layer = shared or client.put_blob(repository, big_bundle(blob_size, f"flood{number}"))
        manifest = {
            "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
            "artifactType": mt.SIGSTORE_BUNDLE_V03,
            "config": {"mediaType": mt.OCI_EMPTY, "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": mt.SIGSTORE_BUNDLE_V03, "digest": layer.digest,
                        "size": layer.size}],
            "subject": subject_desc.to_json(),
            "annotations": {mt.ANNOTATION_BUNDLE_PREDICATE: "https://slsa.dev/provenance/v1",
                            "flood": str(number)},
        }
        raw = json.dumps(manifest, separators=(",", ":")).encode()
        digest, _ = client.put_manifest(repository, digest_of(raw), raw, mt.OCI_MANIFEST)
        descriptors.append(Descriptor(media_type=mt.OCI_MANIFEST, digest=digest, size=len(raw),
                                      artifact_type=mt.SIGSTORE_BUNDLE_V03))
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
             "manifests": [d.to_json() for d in descriptors]}
    raw = json.dumps(index, separators=(",", ":")).encode()
    client.put_manifest(repository, layouts.fallback_tag(subject_desc.digest), raw, mt.OCI_INDEX)
    return descriptors
