"""Java archives: ``.jar``/``.war``/``.ear`` (and Jenkins plugins), nested archives included.

Read with :mod:`zipfile`, which needs random access: from a plain layer tar the archive is a
view of the file in place; from a compressed layer it is spooled (in memory up to 32 MB, on
disk beyond). Every ``META-INF/maven/<group>/<artifact>/pom.properties`` is a package (also
under Spring Boot's ``BOOT-INF/classes/`` and a WAR's ``WEB-INF/classes/``, where the
application's own coordinates are), with the licenses its ``pom.xml`` declares (read with
defusedxml: a hostile pom must not expand entities), else the manifest's ``Bundle-License``,
else what a bundled ``META-INF/LICENSE`` certainly states. An archive without one is named from its
file name and ``META-INF/MANIFEST.MF``; a human ``Implementation-Title`` ("Java Runtime
Environment") is never made into a Maven name or group, which a matcher would take at its word.
Debian links each jar into ``/usr/share/maven-repo/<group path>/<artifact>/<version>/`` under the
coordinates it stands for; such a link (followed through ``/usr/share/java`` aliases) names a
jar that has no ``pom.properties``, unless two links disagree.
Nested archives (Spring Boot's ``BOOT-INF/lib``, a
WAR's ``WEB-INF/lib``) are opened from memory when small and from a temporary file otherwise.
"""

from __future__ import annotations

import posixpath
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
_POM = re.compile(
    r"^(?:(?:BOOT|WEB)-INF/classes/)?META-INF/maven/([^/]+)/([^/]+)/pom\.properties$")
# Debian's file names carry Debian versions (jsr305-0.1~+svn49.jar): anything after "-<digit>".
_NAME_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d[^/\s]*)$")
#: Where Debian links jars (its maven-repo records their Maven coordinates).
_DEBIAN_LINK_DIRS = ("usr/share/maven-repo/", "usr/share/java/")
_LICENSE_FILES = frozenset({"META-INF/LICENSE", "META-INF/LICENSE.TXT", "META-INF/LICENSE.MD"})
_SPDX_TAG = re.compile(r"SPDX-License-Identifier:[ \t]*([^\r\n]{1,200})")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


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
        yield Interest(suffixes=(".jar",), delivery=Delivery.LINK, files=False,
                       accept=lambda path: path.startswith(_DEBIAN_LINK_DIRS))

    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        if file.link_target is not None:
            return Found(facts={"link": file.link_target})
        if file.stream is None:
            return None
        packages: list[Package] = []
        named = _read_archive(file.stream, file.path.rsplit("/", 1)[-1], "/" + file.path,
                              file.layer, packages, warn, 0)
        return Found(packages=packages, facts={"manifest-named": named is not None})

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        links = {item.path: str(item.found.facts["link"]) for item in files
                 if "link" in item.found.facts}
        packages = [package for item in files for package in item.found.packages]
        named = {item.path: item.found.packages[0] for item in files
                 if item.found.facts.get("manifest-named") and item.found.packages}
        candidates: dict[str, set[tuple[str, str, str]]] = {}
        for link in links:
            coordinates = _debian_maven_repo(link)
            target = _resolve_link(link, links)
            if coordinates is not None and target in named:
                candidates.setdefault(target, set()).add(coordinates)
        for target, found in candidates.items():
            # Debian's maven-repo states the Maven coordinates its jar stands for; a manifest
            # only lets the name be guessed (asm-9.4.jar says org.objectweb.asm, 9.4-SNAPSHOT).
            # Two different claims for one jar are left alone.
            if len(found) == 1:
                package = named[target]
                (group, artifact, version), = found
                package.namespace, package.name, package.version = group, artifact, version
                package.properties["attest:maven:group"] = group
        return packages


def _debian_maven_repo(path: str) -> tuple[str, str, str] | None:
    """``usr/share/maven-repo/org/ow2/asm/asm/9.4/asm-9.4.jar`` -> (org.ow2.asm, asm, 9.4)."""
    if not path.startswith("usr/share/maven-repo/"):
        return None
    parts = path.split("/")[3:]
    if len(parts) < 4:
        return None
    *group, artifact, version, filename = parts
    if version == "debian" or "x" in version.split(".") \
            or filename != f"{artifact}-{version}.jar":
        return None  # Debian's version aliases (debian, 4.x), or not a Maven repository layout
    return ".".join(group), artifact, version


def _resolve_link(path: str, links: dict[str, str]) -> str:
    """Follow symbolic links (those seen) from ``path`` to the file, as the kernel would."""
    for _hop in range(8):
        target = links.get(path)
        if target is None:
            return path
        base = "" if target.startswith("/") else posixpath.dirname(path)
        path = posixpath.normpath(posixpath.join("/" + base, target)).lstrip("/")
    return path


def _read_archive(stream: IO[bytes], filename: str, location: str, layer: int,
                  packages: list[Package], warn: Callable[[str], None],
                  depth: int) -> Package | None:
    """Append the archive's packages (nested ones after its own); returns its own package when
    that was named from the manifest and file name rather than a ``pom.properties``."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        warn(f"java: {location} is not a readable archive ({error}); skipped")
        return None
    named: Package | None = None
    with archive:
        names = archive.namelist()
        members = set(names)
        found_pom = False
        own = len(packages)
        manifest: dict[str, str] = {}
        for entry in names:
            match = _POM.match(entry)
            if match:
                properties = parse_properties(_member_text(archive, entry))
                group = properties.get("groupId") or match.group(1)
                artifact = properties.get("artifactId") or match.group(2)
                version = properties.get("version", "")
                if version:
                    found = _maven(group, artifact, version, location, layer)
                    pom = entry[:-len("pom.properties")] + "pom.xml"
                    if pom in members:
                        found.licenses = pom_licenses(_member_text(archive, pom))
                    packages.append(found)
                    found_pom = True
            elif entry == "META-INF/MANIFEST.MF":
                manifest = parse_manifest(_member_text(archive, entry))
        if not found_pom:
            package = _from_manifest(manifest, filename, location, layer)
            if package is not None:
                packages.append(package)
                named = package
        license_name = manifest.get("Bundle-License", "").split(";")[0].split(",")[0].strip()
        # The manifest speaks for this archive's one package: never for the enclosing archive's
        # (when this one yielded none) nor for one of several (shaded) poms.
        if license_name and len(packages) == own + 1 and not packages[-1].licenses \
                and len(license_name) < 100:
            packages[-1].licenses = [licenses.normalize(license_name)]
        if len(packages) == own + 1 and not packages[-1].licenses:
            for entry in names:
                if entry.upper() in _LICENSE_FILES:
                    packages[-1].licenses = license_file_names(_member_text(archive, entry))
                    break
        if depth >= _MAX_DEPTH:
            return named
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
    return named


def _member_text(archive: zipfile.ZipFile, name: str) -> str:
    try:
        with archive.open(name) as member:
            return member.read(_MAX_META).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return ""


def pom_licenses(text: str) -> list[str]:
    """``project/licenses/license/name`` (or its ``url`` when unnamed) from a ``pom.xml``."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(text)
    except (ParseError, DefusedXmlException, ValueError):
        return []
    found: list[str] = []
    for element in root.iter():
        if not element.tag.endswith("}license") and element.tag != "license":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in element}
        value = fields.get("name") or fields.get("url") or ""
        if value and len(value) <= 200:
            normalized = licenses.normalize(value)
            if normalized not in found:
                found.append(normalized)
    return found


def license_file_names(text: str) -> list[str]:
    """What a bundled ``META-INF/LICENSE`` certainly says: an SPDX tag, or the Apache License
    2.0 by its title lines (the text Apache and most Java projects ship verbatim). Any other
    text is not guessed at."""
    tag = _SPDX_TAG.search(text)
    if tag:
        return [tag.group(1).strip()]
    head = " ".join(text[:2000].split())
    if "Apache License Version 2.0, January 2004" in head:
        return ["Apache-2.0"]
    return []


def _from_manifest(manifest: dict[str, str], filename: str, location: str,
                   layer: int) -> Package | None:
    stem = filename.rsplit(".", 1)[0]
    match = _NAME_VERSION.match(stem)
    # Only machine names become coordinates: the file name, or an identifier-shaped symbolic
    # name; a title with spaces is prose.
    symbolic = manifest.get("Bundle-SymbolicName", "").split(";")[0].strip()
    title = manifest.get("Implementation-Title", "").strip()
    if match:
        name = match.group("name")
    elif _IDENTIFIER.match(title):
        name = title
    elif _IDENTIFIER.match(symbolic):
        name = symbolic
    else:
        name = stem
    version = manifest.get("Implementation-Version") or manifest.get("Bundle-Version", "")
    # "5.13.0 (b0)": the build note after the version is not part of it
    version = (version.split() or [""])[0] or (match.group("version") if match else "")
    if not version or not name:
        return None
    group = manifest.get("Implementation-Vendor-Id", "").strip()
    if not _IDENTIFIER.match(group):
        group = ""
    if not group and "." in name:
        group = name.rsplit(".", 1)[0]
    if not group and _IDENTIFIER.match(symbolic) and symbolic.endswith("." + name):
        # maven-bundle-plugin names a bundle after its group when the artifact is the group's
        # last section (org.hamcrest:hamcrest -> org.hamcrest)
        group = symbolic
    artifact = name.rsplit(".", 1)[-1] if group and name.startswith(group + ".") else name
    return _maven(group or artifact, artifact, version, location, layer)


def _maven(group: str, artifact: str, version: str, location: str, layer: int) -> Package:
    package = Package(name=artifact, version=version, ecosystem="maven", purl_type="maven",
                      namespace=group, path=location, layer=layer, cataloger="java")
    package.properties["attest:maven:group"] = group
    return package
