"""OCI image layouts on disk (``oci-layout:DIR[:TAG|@DIGEST]``), as skopeo and buildx write them.

Every blob is addressed by its digest (sha256 or sha512) and checked against it: manifests and
the config when they are read, layers as they stream (descriptor digest and size, then the
uncompressed tar against its ``diff_id``). Each layer is decompressed as its media type says;
a blob whose bytes disagree with its media type fails, it is never re-guessed from its content.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from oci_attest.errors import InputError, RegistryError
from oci_attest.sbom.sources.image import (
    MAX_CONFIG,
    Image,
    Layer,
    Platform,
    check_digest_syntax,
    check_image_manifest,
    config_platform,
    diff_ids,
    json_object,
    name_for,
    select_platform,
)
from oci_attest.sbom.sources.streams import Expect, compression_for, local_layer_opener

if TYPE_CHECKING:
    from oci_attest.registry.client import Descriptor

_MAX_MANIFEST = 4 * 1024 * 1024


def open_oci_layout(text: str, wanted: Platform) -> Image:
    from oci_attest.registry.client import Descriptor, Manifest

    root, selector = _split_layout_spec(text)
    index_path = root / "index.json"
    if not index_path.is_file():
        raise InputError(f"{root} is not an OCI image layout (no index.json)",
                         hint="create one with `skopeo copy docker-archive:FILE oci:DIR`")
    index = json_object(index_path.read_bytes(), f"{index_path}")
    descriptors = [Descriptor.from_json(d) for d in index.get("manifests") or []]
    chosen = _choose(root, descriptors, selector, wanted)
    descriptor = chosen
    manifest = Manifest(raw=_blob(root, descriptor.digest, _MAX_MANIFEST),
                        media_type=descriptor.media_type, digest=descriptor.digest)
    if manifest.is_index:
        descriptor = select_platform(manifest.manifests(), wanted, str(root))
        manifest = Manifest(raw=_blob(root, descriptor.digest, _MAX_MANIFEST),
                            media_type=descriptor.media_type, digest=descriptor.digest)
    where = f"{root}@{manifest.digest}"
    check_image_manifest(manifest.json, where)
    config = json_object(_blob(root, manifest.config().digest, MAX_CONFIG),
                         f"{root}: image config")
    layer_descriptors = manifest.layers()
    uncompressed = diff_ids(config, len(layer_descriptors), str(root))
    layers = [_layer(root, where, number, layer, diff_id) for number, (layer, diff_id)
              in enumerate(zip(layer_descriptors, uncompressed, strict=True))]
    ref_name = chosen.annotations.get("io.containerd.image.name") or \
        chosen.annotations.get("org.opencontainers.image.ref.name")
    ref = name_for(ref_name if ref_name and "/" in ref_name else None, root.name)
    tag = ref.tag or (selector if selector and not selector.startswith("sha") else None) or \
        (ref_name if ref_name and "/" not in ref_name else None)
    return Image(name=ref.name, repository_url=ref.name, tag=tag, digest=manifest.digest,
                 digest_is_image_id=False, platform=config_platform(config), config=config,
                 layers=layers)


def _layer(root: Path, where: str, number: int, layer: Descriptor, diff_id: str) -> Layer:
    what = f"layer {number + 1} ({layer.digest}) of {where}"
    kind = compression_for(layer.media_type, what)
    path = _blob_path(root, layer.digest, what)
    if not path.is_file():
        raise InputError(f"{what}: its blob is missing", hint="the layout is incomplete; "
                                                               "copy it again")
    stored = path.stat().st_size
    if stored != layer.size:
        raise InputError(f"{what} is {stored} bytes, but its descriptor says {layer.size}",
                         hint="the layout was altered or damaged; copy it again")
    expected = [Expect(layer.digest, "descriptor digest"), Expect(diff_id, "diff_id")]
    return Layer(number, layer.digest, diff_id, layer.media_type, layer.size,
                 local_layer_opener(path, 0, stored, kind, what, expected))


def _choose(root: Path, descriptors: list[Descriptor], selector: str | None,
            wanted: Platform) -> Descriptor:
    if selector and selector.startswith(("sha256:", "sha512:")):
        chosen = [d for d in descriptors if d.digest == selector]
    elif selector:
        chosen = [d for d in descriptors if _ref_name_matches(d, selector)]
    else:
        chosen = descriptors
    if not chosen:
        names = sorted({d.annotations.get("org.opencontainers.image.ref.name", "")
                        for d in descriptors} - {""})
        raise InputError(f"{root} has no image {selector!r}" if selector else f"{root} is empty",
                         hint=f"images in it: {', '.join(names) or 'none'}")
    if len(chosen) > 1:
        if all(d.platform for d in chosen):
            return select_platform(chosen, wanted, str(root))
        names = sorted(d.annotations.get("org.opencontainers.image.ref.name", d.digest)
                       for d in chosen)
        raise InputError(f"{root} holds several images",
                         hint=f"name one: oci-layout:{root}:TAG with TAG among "
                              f"{', '.join(names)}")
    return chosen[0]


def _blob_path(root: Path, digest: str, what: str) -> Path:
    check_digest_syntax(digest, what)
    algorithm, _, hex_part = digest.partition(":")
    return root / "blobs" / algorithm / hex_part


def _blob(root: Path, digest: str, limit: int) -> bytes:
    """A small blob (manifest, config), read whole and checked against its digest."""
    from oci_attest.registry.client import verify_digest

    path = _blob_path(root, digest, f"{root}: blob")
    if not re.fullmatch(r"[a-f0-9]{64}|[a-f0-9]{128}", path.name) or not path.is_file():
        raise InputError(f"{root}: blob {digest} is missing")
    if path.stat().st_size > limit:
        raise InputError(f"{root}: blob {digest} is larger than {limit} bytes")
    data = path.read_bytes()
    try:
        verify_digest(data, digest, f"{root}: blob")
    except RegistryError as error:  # a local file: bad input, not a registry problem
        raise InputError(error.message, hint="the layout is damaged; copy it again") from None
    return data


def _split_layout_spec(text: str) -> tuple[Path, str | None]:
    if "@" in text and os.path.isdir(text.rsplit("@", 1)[0]):
        path, digest = text.rsplit("@", 1)
        return Path(path), digest
    if os.path.isdir(text) or ":" not in text:
        return Path(text), None
    path, selector = text.rsplit(":", 1)
    return Path(path), selector or None


def _ref_name_matches(descriptor: Descriptor, selector: str) -> bool:
    names = {descriptor.annotations.get("org.opencontainers.image.ref.name", ""),
             descriptor.annotations.get("io.containerd.image.name", "")}
    return any(name == selector or name.endswith(f":{selector}") for name in names if name)
