"""Java archives: ``.jar``/``.war``/``.ear`` (and Jenkins plugins), nested archives included.

Read with :mod:`zipfile`, which needs random access: from a plain layer tar the archive is a
view of the file in place; from a compressed layer it is spooled (in memory up to 32 MB, on
disk beyond). Every ``META-INF/maven/<group>/<artifact>/pom.properties`` is a package; an
archive without one is named from ``META-INF/MANIFEST.MF`` (``Implementation-*`` or
``Bundle-*`` headers) and its file name. Nested archives (Spring Boot's ``BOOT-INF/lib``, a
WAR's ``WEB-INF/lib``) are opened from memory when small and from a temporary file otherwise.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from typing import IO

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

SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi", ".par", ".sar", ".nar")
_MAX_ARCHIVE = 4 * 1024 * 1024 * 1024
_MAX_NESTED_IN_MEMORY = 32 * 1024 * 1024
_MAX_DEPTH = 4
_MAX_META = 1024 * 1024
_POM = re.compile(r"^META-INF/maven/([^/]+)/([^/]+)/pom\.properties$")
_NAME_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d[\w.+-]*)$")


def parse_properties(text: str) -> dict[str, str]:
    """Java ``.properties`` (the subset Maven writes: ``key=value``, ``#`` comments)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        for separator in ("=", ":"):
            if separator in line:
                key, _, value = line.partition(separator)
                values[key.strip()] = value.strip()
                break
    return values


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of ``MANIFEST.MF`` (continuation lines start with one space)."""
    values: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            break  # per-entry sections follow the first blank line
        if line.startswith(" ") and last:
            values[last] += line[1:]
            continue
        key, sep, value = line.partition(":")
        if sep:
            last = key.strip()
            values[last] = value.strip()
    return values


class JavaArchiveCataloger(Cataloger):
    name = "java"
    ecosystem = "maven"

    def interests(self) -> Iterable[Interest]:
        yield Interest(suffixes=SUFFIXES, delivery=Delivery.RANDOM_ACCESS, max_size=_MAX_ARCHIVE)

    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        if file.stream is None:
            return None
        packages: list[Package] = []
        _read_archive(file.stream, file.path.rsplit("/", 1)[-1], "/" + file.path, file.layer,
                      packages, warn, 0)
        return Found(packages=packages)

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        return [package for item in files for package in item.found.packages]


def _read_archive(stream: IO[bytes], filename: str, location: str, layer: int,
                  packages: list[Package], warn: Callable[[str], None], depth: int) -> None:
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        warn(f"java: {location} is not a readable archive ({error}); skipped")
        return
    with archive:
        names = archive.namelist()
        found_pom = False
        manifest: dict[str, str] = {}
        for entry in names:
            match = _POM.match(entry)
            if match:
                properties = parse_properties(_member_text(archive, entry))
                group = properties.get("groupId") or match.group(1)
                artifact = properties.get("artifactId") or match.group(2)
                version = properties.get("version", "")
                if version:
                    packages.append(_maven(group, artifact, version, location, layer))
                    found_pom = True
            elif entry == "META-INF/MANIFEST.MF":
                manifest = parse_manifest(_member_text(archive, entry))
        if not found_pom:
            package = _from_manifest(manifest, filename, location, layer)
            if package is not None:
                packages.append(package)
        license_name = manifest.get("Bundle-License", "").split(";")[0].split(",")[0].strip()
        if license_name and packages and not packages[-1].licenses and len(license_name) < 100:
            packages[-1].licenses = [licenses.normalize(license_name)]
        if depth >= _MAX_DEPTH:
            return
        for entry in names:
            if not entry.lower().endswith(SUFFIXES):
                continue
            info = archive.getinfo(entry)
            nested_location = f"{location}:{entry}"
            try:
                with archive.open(info) as member:
                    if info.file_size <= _MAX_NESTED_IN_MEMORY:
                        import io

                        buffer: IO[bytes] = io.BytesIO(member.read())
                    else:
                        buffer = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
                        shutil.copyfileobj(member, buffer, 1024 * 1024)
                        buffer.seek(0)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
                warn(f"java: {nested_location} could not be read ({error}); skipped")
                continue
            with buffer:
                _read_archive(buffer, entry.rsplit("/", 1)[-1], nested_location, layer, packages,
                              warn, depth + 1)


def _member_text(archive: zipfile.ZipFile, name: str) -> str:
    try:
        with archive.open(name) as member:
            return member.read(_MAX_META).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return ""


def _from_manifest(manifest: dict[str, str], filename: str, location: str,
                   layer: int) -> Package | None:
    stem = filename.rsplit(".", 1)[0]
    match = _NAME_VERSION.match(stem)
    name = manifest.get("Implementation-Title") or manifest.get("Bundle-SymbolicName", "")
    name = name.split(";")[0].strip()
    version = manifest.get("Implementation-Version") or manifest.get("Bundle-Version", "")
    if match:
        name = match.group("name") if not name or " " in name else name
        version = version or match.group("version")
    if not name:
        name = stem
    if not version:
        return None
    group = manifest.get("Implementation-Vendor-Id") or ""
    if not group and "." in name and " " not in name:
        group = name.rsplit(".", 1)[0]
    artifact = name.rsplit(".", 1)[-1] if group and name.startswith(group + ".") else name
    return _maven(group or artifact, artifact, version, location, layer)


def _maven(group: str, artifact: str, version: str, location: str, layer: int) -> Package:
    package = Package(name=artifact, version=version, ecosystem="maven", purl_type="maven",
                      namespace=group, path=location, layer=layer, cataloger="java")
    package.properties["attest:maven:group"] = group
    return package
