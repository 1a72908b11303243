"""Alpine packages: ``lib/apk/db/installed``.

The database is a sequence of blank-line separated records of ``X:value`` lines (apk's own
"installed database" format, documented with apk-tools). No maintained Python library reads it,
so this is a small hand-written parser: it only splits lines, and it skips what it cannot read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from oci_attest.sbom import licenses
from oci_attest.sbom.catalogers.base import (
    Cataloger,
    Context,
    FileInput,
    Found,
    FoundFile,
    Interest,
)
from oci_attest.sbom.model import Package

_MAX = 64 * 1024 * 1024


def parse_installed(data: bytes) -> list[dict[str, list[str]]]:
    """Records as key -> values (a key may repeat, e.g. one ``F:`` per directory)."""
    records: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] = {}
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.rstrip("\r")
        if not line.strip():
            if current:
                records.append(current)
                current = {}
            continue
        if len(line) < 2 or line[1] != ":":
            continue
        current.setdefault(line[0], []).append(line[2:])
    if current:
        records.append(current)
    return records


class ApkCataloger(Cataloger):
    name = "apk"
    ecosystem = "apk"

    def interests(self) -> Iterable[Interest]:
        yield Interest(basenames=frozenset({"installed"}),
                       accept=lambda path: path.endswith("lib/apk/db/installed"), max_size=_MAX)

    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        packages = []
        for record in parse_installed(file.read_all(_MAX)):
            name = _first(record, "P")
            version = _first(record, "V")
            if not name or not version:
                continue
            arch = _first(record, "A")
            license_text = _first(record, "L")
            names = [licenses.normalize(part) for part in license_text.split()
                     if part.upper() not in ("AND", "OR", "WITH")] if license_text else []
            properties = {}
            qualifiers = {"arch": arch} if arch else {}
            origin = _first(record, "o")
            if origin:
                # Alpine's secdb is keyed by the origin (source) package, images hold its
                # subpackages (libcrypto3 from openssl): the purl carries it as syft writes it.
                properties["attest:apk:origin"] = origin
                qualifiers["upstream"] = origin
            package = Package(name=name, version=version, ecosystem="apk", purl_type="apk",
                              namespace="alpine", path="/" + file.path, layer=file.layer,
                              cataloger=self.name, qualifiers=qualifiers,
                              distro_qualified=True, licenses=[n for n in names if n],
                              publisher=_first(record, "m") or None,
                              description=_first(record, "T") or None, properties=properties)
            package.dependencies = [_first(record, "D"), _first(record, "p")]
            packages.append(package)
        return Found(packages=packages)

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        packages = [p for item in files for p in item.found.packages]
        namespace = context.distro.id if context.distro else "alpine"
        by_name: dict[str, Package] = {}
        provided: dict[str, Package] = {}
        for package in packages:
            package.namespace = namespace
            by_name.setdefault(package.name, package)
            for token in str(package.dependencies[1]).split():
                provided.setdefault(_bare(token), package)
        for package in packages:
            edges = []
            for token in str(package.dependencies[0]).split():
                if token.startswith("!"):
                    continue  # a conflict, not a dependency
                target = by_name.get(_bare(token)) or provided.get(_bare(token))
                if target is not None and target is not package and target.key not in edges:
                    edges.append(target.key)
            package.depends_on = edges
        return packages


def _first(record: dict[str, list[str]], key: str) -> str:
    values = record.get(key)
    return values[0].strip() if values else ""


def _bare(token: str) -> str:
    """``so:libc.musl-x86_64.so.1=1`` -> ``so:libc.musl-x86_64.so.1``; ``zlib>1.2`` -> ``zlib``."""
    for separator in ("=", ">", "<", "~"):
        token = token.split(separator, 1)[0]
    return token
