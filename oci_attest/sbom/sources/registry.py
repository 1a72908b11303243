"""Images in a registry: resolve the reference, pick the platform, stream verified layers.

A tag is resolved by GET (the digest is the hash of the manifest received); every manifest and
the config are fetched by digest and verified; each layer blob is checked against its digest
by the client's blob reader as it streams, and the inflated tarball against its ``diff_id``.
Download, hashing, inflating and parsing run on three threads and overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from oci_attest.errors import InputError
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry import media_types as mt
from oci_attest.sbom.sources.image import (
    MAX_CONFIG,
    Image,
    Layer,
    Platform,
    Progress,
    check_image_manifest,
    config_platform,
    diff_ids,
    json_object,
    select_platform,
)
from oci_attest.sbom.sources.streams import (
    RAW_CHUNK,
    Expect,
    background,
    compression_for,
    hashed,
    inflate,
    threaded,
)
from oci_attest.sbom.tarscan import ByteSource

if TYPE_CHECKING:
    from oci_attest.registry.client import Descriptor


def open_registry(text: str, wanted: Platform, say: Progress) -> Image:
    from oci_attest.registry.client import RegistryClient

    ref = parse_reference(text)
    client = RegistryClient(ref.registry)
    top = client.get_manifest(ref.repository, ref.reference)
    resolved = ref.with_digest(top.digest)
    manifest = top
    if top.is_index:
        chosen = select_platform(top.manifests(), wanted, str(resolved))
        manifest = client.get_manifest(ref.repository, chosen.digest)
        say(f"resolved {text} to {ref.name}@{top.digest}, {wanted} image {chosen.digest}")
    elif not ref.digest:
        say(f"resolved {text} to {ref.name}@{top.digest}")
    if manifest.media_type not in mt.IMAGE_MANIFEST_TYPES:
        raise InputError(f"{resolved} is a {manifest.media_type or 'manifest of unknown type'}",
                         hint="pass an image or an image index")
    check_image_manifest(manifest.json, str(resolved))
    config = json_object(client.get_blob(ref.repository, manifest.config().digest,
                                         max_bytes=MAX_CONFIG), f"config of {resolved}")
    descriptors = manifest.layers()
    uncompressed = diff_ids(config, len(descriptors), str(resolved))
    layers = []
    for index, (descriptor, diff_id) in enumerate(zip(descriptors, uncompressed, strict=True)):
        what = f"layer {index + 1} ({descriptor.digest}) of {resolved}"
        kind = compression_for(descriptor.media_type, what)
        layers.append(Layer(index, descriptor.digest, diff_id, descriptor.media_type,
                            descriptor.size, _registry_opener(ref, descriptor, kind, diff_id,
                                                              what)))
    say(f"scanning {ref.name}@{manifest.digest} ({len(layers)} layers)")
    return Image(name=ref.name, repository_url=ref.name, tag=ref.tag, digest=manifest.digest,
                 digest_is_image_id=False, platform=config_platform(config), config=config,
                 layers=layers, resolved_from=top.digest)


def _registry_opener(ref: ImageReference, descriptor: Descriptor, kind: str, diff_id: str,
                     what: str) -> Callable[[], ByteSource]:
    from oci_attest.registry.client import RegistryClient

    def download() -> Iterator[bytes]:
        # A client per stream: sessions are not shared between threads. The blob reader
        # checks the digest (and the declared size) when it reaches the end.
        client = RegistryClient(ref.registry)
        with client.open_blob(ref.repository, descriptor.digest, descriptor.size) as blob:
            while chunk := blob.read(RAW_CHUNK):
                yield chunk

    def produce() -> Iterator[bytes]:
        # Download and hashing on one thread, inflating on another, parsing on the caller's:
        # the three overlap (hashing and ISA-L release the GIL).
        raw, stop_download = background(download, f"download-{descriptor.digest[7:19]}")
        try:
            yield from hashed(inflate(raw, kind, what),
                              [Expect(diff_id, "diff_id")], what)
        finally:
            stop_download()

    return lambda: threaded(produce, descriptor.digest[7:19], what)
