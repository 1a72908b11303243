"""RPM packages: the SQLite rpmdb (``rpmdb.sqlite``, RHEL/Fedora 9+ and SUSE's newer images).

SQLite is read with the standard library; each row holds one RPM *header blob*, a simple
big-endian index-plus-data structure (the format rpm documents in its header format notes).
rpmfile, the maintained RPM reader for Python, only reads whole ``.rpm`` files (it searches for
the header magic, which database blobs do not carry, and asserts instead of reporting), so the
blob is decoded here, with every offset bounds-checked.

The older Berkeley DB (``Packages``) and NDB (``Packages.db``) databases need a library that is
not available for Python without native libdb; they are reported as not read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from oci_attest.sbom import licenses
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

_DB_DIRS = ("var/lib/rpm", "usr/lib/sysimage/rpm")
_MAX = 1024 * 1024 * 1024

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_SUMMARY, TAG_VENDOR, TAG_LICENSE, TAG_ARCH = 1004, 1011, 1014, 1022
TAG_SOURCERPM, TAG_PROVIDENAME, TAG_REQUIRENAME = 1044, 1047, 1049
_STRING, _STRING_ARRAY, _I18N, _INT32 = 6, 8, 9, 4
_NAMESPACES = {"rhel": "redhat", "ol": "oracle", "amzn": "amazon", "sles": "suse",
               "opensuse-leap": "opensuse", "opensuse-tumbleweed": "opensuse"}


def parse_header_blob(blob: bytes) -> dict[int, Any]:
    """Tag -> value (str, list[str] or int) for the tags attest uses; raises ValueError."""
    if len(blob) < 8:
        raise ValueError("header blob shorter than its preamble")
    count, data_length = struct.unpack_from(">ii", blob, 0)
    if count < 0 or data_length < 0 or count > 100_000 or 8 + 16 * count + data_length > len(blob):
        raise ValueError("header blob sizes do not fit the blob")
    store_at = 8 + 16 * count
    store = blob[store_at:store_at + data_length]
    wanted = {TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_SUMMARY, TAG_VENDOR,
              TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM, TAG_PROVIDENAME, TAG_REQUIRENAME}
    values: dict[int, Any] = {}
    for index in range(count):
        tag, kind, offset, items = struct.unpack_from(">iiii", blob, 8 + 16 * index)
        if tag not in wanted or not 0 <= offset < len(store) or items < 0:
            continue
        if kind == _INT32:
            if offset + 4 <= len(store) and items >= 1:
                values[tag] = struct.unpack_from(">i", store, offset)[0]
        elif kind == _STRING:
            values[tag] = _cstring(store, offset)
        elif kind in (_STRING_ARRAY, _I18N):
            strings, position = [], offset
            for _ in range(min(items, 100_000)):
                if position >= len(store):
                    break
                text = _cstring(store, position)
                strings.append(text)
                position += len(text.encode("utf-8", "surrogateescape")) + 1
            values[tag] = strings[0] if kind == _I18N and strings else strings
    return values


def _cstring(store: bytes, offset: int) -> str:
    end = store.find(b"\0", offset)
    raw = store[offset:] if end < 0 else store[offset:end]
    return raw.decode("utf-8", "surrogateescape")


class RpmCataloger(Cataloger):
    name = "rpm"
    ecosystem = "rpm"

    def interests(self) -> Iterable[Interest]:
        def in_db_dir(path: str) -> bool:
            return path.rsplit("/", 1)[0].endswith(_DB_DIRS)

        yield Interest(basenames=frozenset({"rpmdb.sqlite"}), accept=in_db_dir,
                       delivery=Delivery.RANDOM_ACCESS, max_size=_MAX)
        yield Interest(basenames=frozenset({"Packages", "Packages.db"}), accept=in_db_dir,
                       delivery=Delivery.RANDOM_ACCESS, max_size=_MAX)

    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        if not file.path.endswith("rpmdb.sqlite"):
            kind = "Berkeley DB" if file.path.endswith("Packages") else "NDB"
            warn(f"rpm: /{file.path} is an rpm database in {kind} format, which attest does not "
                 "read; its packages are missing from the SBOM")
            return None
        if file.stream is None:
            return None
        import sqlite3

        packages = []
        with tempfile.TemporaryDirectory(prefix="attest-rpmdb-") as workdir:
            copy = os.path.join(workdir, "rpmdb.sqlite")
            with open(copy, "wb") as handle:
                file.stream.seek(0)
                shutil.copyfileobj(file.stream, handle, 1024 * 1024)
            try:
                with contextlib.closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as db:
                    rows = db.execute("SELECT blob FROM Packages").fetchall()
            except sqlite3.Error as error:
                warn(f"rpm: /{file.path} is not a readable rpm database: {error}")
                return None
        for number, (blob,) in enumerate(rows):
            try:
                values = parse_header_blob(bytes(blob))
            except (ValueError, struct.error, TypeError) as error:
                warn(f"rpm: /{file.path}: package record {number} is malformed ({error}); "
                     "skipped")
                continue
            package = _package(values, "/" + file.path, file.layer)
            if package is not None:
                packages.append(package)
        return Found(packages=packages)

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        packages = [p for item in files for p in item.found.packages]
        distro = context.distro
        namespace = _NAMESPACES.get(distro.id, distro.id) if distro else None
        by_name: dict[str, Package] = {}
        provided: dict[str, Package] = {}
        for package in packages:
            package.namespace = namespace
            by_name.setdefault(package.name, package)
            provides = package.dependencies[1] if len(package.dependencies) > 1 else []
            for capability in provides if isinstance(provides, list) else []:
                provided.setdefault(str(capability), package)
        for package in packages:
            requires = package.dependencies[0] if package.dependencies else []
            edges: list[str] = []
            for capability in requires if isinstance(requires, list) else []:
                text = str(capability)
                if text.startswith("rpmlib("):
                    continue
                target = by_name.get(text) or provided.get(text)
                if target is not None and target is not package and target.key not in edges:
                    edges.append(target.key)
            package.depends_on = edges
        return packages


def _package(values: dict[int, Any], path: str, layer: int) -> Package | None:
    name, version = values.get(TAG_NAME), values.get(TAG_VERSION)
    if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
        return None
    if name == "gpg-pubkey":
        return None  # imported signing keys are stored as pseudo-packages
    release = values.get(TAG_RELEASE)
    full = f"{version}-{release}" if isinstance(release, str) and release else version
    epoch = values.get(TAG_EPOCH)
    qualifiers: dict[str, str] = {}
    arch = values.get(TAG_ARCH)
    if isinstance(arch, str) and arch:
        qualifiers["arch"] = arch
    if isinstance(epoch, int) and epoch > 0:
        qualifiers["epoch"] = str(epoch)
    license_text = values.get(TAG_LICENSE)
    properties: dict[str, str] = {}
    source = values.get(TAG_SOURCERPM)
    if isinstance(source, str) and source:
        properties["attest:rpm:sourcerpm"] = source
        # Advisories name the source package (openssl), images hold its binaries
        # (openssl-libs): the purl carries the source rpm file name as syft writes it.
        qualifiers["upstream"] = source
    package = Package(
        name=name, version=full, ecosystem="rpm", purl_type="rpm", path=path, layer=layer,
        cataloger="rpm", qualifiers=qualifiers, distro_qualified=True,
        display_version=f"{epoch}:{full}" if isinstance(epoch, int) and epoch > 0 else None,
        licenses=[licenses.normalize(license_text)] if isinstance(license_text, str)
        and license_text.strip() else [],
        publisher=values.get(TAG_VENDOR) if isinstance(values.get(TAG_VENDOR), str) else None,
        description=values.get(TAG_SUMMARY) if isinstance(values.get(TAG_SUMMARY), str) else None,
        properties=properties)
    requires = values.get(TAG_REQUIRENAME)
    provides = values.get(TAG_PROVIDENAME)
    package.dependencies = [requires if isinstance(requires, list) else [],
                            provides if isinstance(provides, list) else []]
    return package
