"""Fuzz targets: each takes arbitrary bytes and may raise only the errors its parser documents.

Anything else (an IndexError, a RecursionError, a hang, unbounded memory) is a bug: a hostile
registry, image or file must end in one clear error, never in a crash.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from oci_attest.errors import InputError


def reference(data: bytes) -> None:
    from oci_attest.reference import parse_reference

    try:
        ref = parse_reference(data.decode("utf-8", "replace"))
    except InputError:
        return
    assert parse_reference(str(ref)) == ref


def statement(data: bytes) -> None:
    from oci_attest.statements import parse_statement

    with contextlib.suppress(InputError):
        parse_statement(data)


def manifest(data: bytes) -> None:
    from oci_attest.registry.client import Manifest, digest_of

    parsed = Manifest(raw=data, media_type="application/vnd.oci.image.index.v1+json",
                      digest=digest_of(data))
    for read in (parsed.layers, parsed.manifests, parsed.config):
        with contextlib.suppress(InputError):
            read()


def bundle(data: bytes) -> None:
    from oci_attest.registry.layouts import bundle_time, cosign_layer_from_bundle

    with contextlib.suppress(InputError):
        cosign_layer_from_bundle(data, "https://example.test/p")
    bundle_time(data)


_SHM = "/dev/shm"  # noqa: S108 - a private mkdtemp inside it, for speed
_DOCKERFILE = Path(tempfile.mkdtemp(prefix="attest-fuzz-",
                                    dir=_SHM if os.path.isdir(_SHM) else None)) / "Dockerfile"


def dockerfile(data: bytes) -> None:
    from oci_attest.collect.materials import parse_dockerfile, pinned_dockerfile

    _DOCKERFILE.write_bytes(data)
    try:
        facts = parse_dockerfile(_DOCKERFILE, {"X": "1"})
    except InputError:
        return
    from oci_attest.reference import parse_reference

    for image in facts.images:
        object.__setattr__(image, "resolved", parse_reference(
            f"{image.reference.name}@sha256:{'a' * 64}"))
    with contextlib.suppress(InputError):
        pinned_dockerfile(facts)


def secrets(data: bytes) -> None:
    from oci_attest.secrets import rules

    split = data.find(b"\0")
    path = data[:split].decode("utf-8", "replace") if 0 <= split < 80 else "x"
    for match in rules.scan(path, data[split + 1:] if split >= 0 else data):
        assert match.rule in rules.ALL_RULES


def layer_tar(data: bytes) -> None:
    from oci_attest.sbom.tarscan import ChunkSource, TarReader

    reader = TarReader(ChunkSource(iter([data])), lambda _warning: None, "fuzz")
    for entry in reader:
        if entry.size < 65536:
            reader.read_content()


TARGETS: dict[str, Callable[[bytes], None]] = {
    "reference": reference, "statement": statement, "manifest": manifest, "bundle": bundle,
    "dockerfile": dockerfile, "secrets": secrets, "layer-tar": layer_tar,
}
