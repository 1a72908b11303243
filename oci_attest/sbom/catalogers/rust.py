"""Rust binaries built with cargo-auditable: the ``.dep-v0`` section.

cargo-auditable stores the crate dependency tree in that section as zlib-compressed JSON
(``{"packages": [{"name", "version", "source", "kind", "dependencies": [indices], "root"}]}``).
Binaries built without it carry no dependency list, and nothing is reported for them (no tool
can do better without guessing from symbols).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from oci_attest.sbom.catalogers import _elf
from oci_attest.sbom.catalogers.base import (
    Cataloger,
    Context,
    Delivery,
    FileInput,
    Found,
    FoundFile,
    Interest,
)
from oci_attest.sbom.model import Package

SECTION = ".dep-v0"
_MAX_COMPRESSED = 8 * 1024 * 1024
_MAX_JSON = 64 * 1024 * 1024
_MAX_BINARY = 4 * 1024 * 1024 * 1024


def decode_dep_v0(compressed: bytes) -> list[dict[str, Any]]:
    """The package list; raises ValueError for anything that is not the documented shape."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, _MAX_JSON)
    except zlib.error as error:
        raise ValueError(f"not zlib data: {error}") from None
    if inflater.unconsumed_tail:
        raise ValueError("dependency list larger than 64 MB")
    document = json.loads(raw)
    packages = document.get("packages") if isinstance(document, dict) else None
    if not isinstance(packages, list):
        raise ValueError("no package list")
    return [p for p in packages if isinstance(p, dict)]


class RustAuditableCataloger(Cataloger):
    name = "rust"
    ecosystem = "cargo"

    def interests(self) -> Iterable[Interest]:
        yield Interest(executables=True, delivery=Delivery.RANDOM_ACCESS, max_size=_MAX_BINARY)

    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        summary = _elf.summarize(file)
        if summary is None or file.stream is None:
            return None
        section = summary.sections.get(SECTION)
        if section is None:
            return None
        if section.size > _MAX_COMPRESSED:
            warn(f"rust: /{file.path} has a {section.size}-byte {SECTION} section; skipped")
            return None
        file.stream.seek(section.offset)
        try:
            entries = decode_dep_v0(file.stream.read(section.size))
        except (ValueError, RecursionError) as error:
            warn(f"rust: /{file.path} has an unreadable {SECTION} section ({error}); skipped")
            return None
        return Found(packages=packages_from(entries, "/" + file.path, file.layer))

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        return [package for item in files for package in item.found.packages]


def packages_from(entries: list[dict[str, Any]], path: str, layer: int) -> list[Package]:
    packages: list[Package | None] = []
    for entry in entries:
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
            packages.append(None)
            continue
        properties = {}
        source = entry.get("source")
        if isinstance(source, str) and source:
            properties["attest:cargo:source"] = source
        kind = entry.get("kind")
        if isinstance(kind, str) and kind:
            properties["attest:cargo:kind"] = kind
        if entry.get("root") is True:
            properties["attest:cargo:root"] = "true"
        package = Package(name=name, version=version, ecosystem="cargo", purl_type="cargo",
                          path=path, layer=layer, cataloger="rust", properties=properties)
        packages.append(package)
    for entry, maybe in zip(entries, packages, strict=True):
        if maybe is None:
            continue
        package = maybe
        edges = []
        dependencies = entry.get("dependencies")
        for index in dependencies if isinstance(dependencies, list) else []:
            if isinstance(index, int) and 0 <= index < len(packages):
                target = packages[index]
                if target is not None and target is not package and target.key not in edges:
                    edges.append(target.key)
        package.depends_on = edges
    return [p for p in packages if p is not None]
