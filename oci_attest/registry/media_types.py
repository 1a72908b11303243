"""Media types and annotation keys of the formats attest reads and writes, in one place."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
ALL_MANIFEST_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)

SIGSTORE_BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO = "application/vnd.in-toto+json"

ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_BUNDLE_CONTENT = "dev.sigstore.bundle.content"
ANNOTATION_BUNDLE_PREDICATE = "dev.sigstore.bundle.predicateType"
ANNOTATION_COSIGN_SIGNATURE = "dev.cosignproject.cosign/signature"
ANNOTATION_COSIGN_CERTIFICATE = "dev.sigstore.cosign/certificate"
ANNOTATION_COSIGN_CHAIN = "dev.sigstore.cosign/chain"
ANNOTATION_COSIGN_BUNDLE = "dev.sigstore.cosign/bundle"
ANNOTATION_COSIGN_PREDICATE = "predicateType"
ANNOTATION_BUILDKIT_REF_TYPE = "vnd.docker.reference.type"
ANNOTATION_BUILDKIT_REF_DIGEST = "vnd.docker.reference.digest"
ANNOTATION_INTOTO_PREDICATE = "in-toto.io/predicate-type"

#: The OCI empty descriptor's content: exactly these two bytes.
EMPTY_JSON = b"{}"
