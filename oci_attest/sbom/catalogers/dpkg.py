"""Debian packages: the dpkg status database, distroless ``status.d/``, copyright files.

The status file is parsed with python-debian's deb822 reader and relations with its
``PkgRelation`` parser. Copyright files are *not* parsed with python-debian's ``Copyright``
class: on a Debian base image it took 6 ms per file (0.8 s for 126 packages, longer than
reading the whole image) and rejects the many files that are not machine-readable; the licenses
are instead collected from ``License:`` lines and ``/usr/share/common-licenses/NAME``
references, the two places Debian states them, and mapped to SPDX ids.

A package is attributed to the layer whose status database first listed it at that version:
every apt layer rewrites the whole status file, so the layer of the surviving file would
otherwise claim every package of the base image.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable

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

_NOT_INSTALLED = frozenset({"not-installed", "config-files"})
_INFO_SUFFIXES = (".md5sums", ".list", ".conffiles", ".preinst", ".postinst", ".prerm",
                  ".postrm", ".triggers", ".shlibs", ".symbols", ".templates", ".config")
_LICENSE_LINE = re.compile(rb"^License:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_COMMON_LICENSE = re.compile(rb"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+_-]*)")
_SOURCE = re.compile(r"^(\S+)(?:\s+\((.*)\))?\s*$")


def _is_status(path: str) -> bool:
    return path.endswith("lib/dpkg/status")


def _is_status_d(path: str) -> bool:
    return not path.endswith(_INFO_SUFFIXES)


def _is_copyright(path: str) -> bool:
    parts = path.split("/")
    return len(parts) == 5 and parts[:3] == ["usr", "share", "doc"]


def _is_doc_link(path: str) -> bool:
    return path.count("/") == 3


def parse_status(data: bytes, warn: Callable[[str], None], where: str) -> list[dict[str, str]]:
    """Installed entries of a status file; anything unreadable is reported and skipped."""
    from debian import deb822

    entries: list[dict[str, str]] = []
    try:
        paragraphs = deb822.Deb822.iter_paragraphs(data.splitlines(keepends=True),
                                                   use_apt_pkg=False, encoding="utf-8")
        for paragraph in paragraphs:
            fields = {str(k): str(v) for k, v in paragraph.items()}
            name = fields.get("Package", "").strip()
            if not name:
                continue
            status = fields.get("Status", "").split()
            if len(status) == 3 and status[2] in _NOT_INSTALLED:
                continue
            if not fields.get("Version", "").strip():
                warn(f"dpkg: {where}: package {name!r} has no version; skipped")
                continue
            entries.append(fields)
    except Exception as error:
        warn(f"dpkg: {where} could not be read to the end: {type(error).__name__}: "
             f"{str(error)[:160]}")
    return entries


def copyright_licenses(data: bytes) -> list[str]:
    """License names a Debian copyright file states, in order of first mention."""
    found: list[str] = []
    for match in _LICENSE_LINE.finditer(data):
        synopsis = match.group(1).decode("utf-8", "replace")
        for name in licenses.split_debian(synopsis):
            if name not in found:
                found.append(name)
    for match in _COMMON_LICENSE.finditer(data):
        raw = match.group(1).decode("ascii", "replace").rstrip(".")
        if raw.endswith(".gz"):
            continue
        name = licenses.normalize(raw)
        if name and name not in found:
            found.append(name)
    return found


class DpkgCataloger(Cataloger):
    name = "dpkg"
    ecosystem = "deb"

    def __init__(self) -> None:
        # (status path, package, version, arch) -> first layer listing it
        self._first_seen: dict[tuple[str, str, str, str], int] = {}

    def interests(self) -> Iterable[Interest]:
        yield Interest(basenames=frozenset({"status"}), accept=_is_status,
                       max_size=128 * 1024 * 1024)
        yield Interest(parent_suffixes=("lib/dpkg/status.d",), accept=_is_status_d,
                       max_size=16 * 1024 * 1024)
        yield Interest(basenames=frozenset({"copyright"}), accept=_is_copyright,
                       max_size=4 * 1024 * 1024)
        yield Interest(parents=frozenset({"usr/share/doc"}), accept=_is_doc_link,
                       delivery=Delivery.LINK, files=False)

    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        path = file.path
        if path.startswith("usr/share/doc/"):
            if file.link_target is not None:
                return Found(facts={"doc-link": file.link_target})
            if path.endswith("/copyright"):
                return Found(facts={"licenses": copyright_licenses(file.read_all(4 << 20))})
            return None
        entries = parse_status(file.read_all(128 << 20), warn, "/" + path)
        packages = []
        for fields in entries:
            package = _package(fields, "/" + path, file.layer)
            key = (path, package.name, package.version, package.qualifiers.get("arch", ""))
            self._first_seen.setdefault(key, file.layer)
            packages.append(package)
        return Found(packages=packages)

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        doc_licenses: dict[str, list[str]] = {}
        doc_links: dict[str, str] = {}
        packages: list[Package] = []
        for item in files:
            facts = item.found.facts
            if "licenses" in facts:
                doc_licenses[item.path.split("/")[3]] = list(facts["licenses"])  # type: ignore[call-overload]
            elif "doc-link" in facts:
                target = str(facts["doc-link"])
                doc_links[item.path.split("/")[3]] = posixpath.basename(target.rstrip("/"))
            packages.extend(item.found.packages)
        namespace = context.distro.id if context.distro else "debian"
        for package in packages:
            status_path = package.path.lstrip("/")
            key = (status_path, package.name, package.version,
                   package.qualifiers.get("arch", ""))
            package.layer = self._first_seen.get(key, package.layer)
            package.namespace = namespace
            doc = package.name
            for _hop in range(4):
                if doc in doc_licenses:
                    package.licenses = doc_licenses[doc]
                    break
                if doc not in doc_links:
                    break
                doc = doc_links[doc]
        _resolve_dependencies(packages, context.warn)
        return packages


def _package(fields: dict[str, str], path: str, layer: int) -> Package:
    name = fields["Package"].strip()
    version = fields["Version"].strip()
    arch = fields.get("Architecture", "").strip()
    qualifiers = {"arch": arch} if arch else {}
    properties: dict[str, str] = {}
    source = fields.get("Source", "").strip()
    if source:
        match = _SOURCE.match(source)
        if match:
            properties["attest:deb:source"] = match.group(1)
            if match.group(2):
                properties["attest:deb:source-version"] = match.group(2).strip()
            # Advisories are per source package (openssl), images hold binaries (libssl3):
            # the purl carries the source as syft writes it, `upstream=src[@version]`.
            upstream = match.group(1)
            if match.group(2) and match.group(2).strip() != version:
                upstream += f"@{match.group(2).strip()}"
            qualifiers["upstream"] = upstream
    description = fields.get("Description", "").split("\n", 1)[0].strip() or None
    relations = ", ".join(v for v in (fields.get("Pre-Depends", ""), fields.get("Depends", ""))
                          if v.strip())
    package = Package(name=name, version=version, ecosystem="deb", purl_type="deb",
                      namespace="debian", path=path, layer=layer, cataloger="dpkg",
                      qualifiers=qualifiers, distro_qualified=True,
                      publisher=fields.get("Maintainer", "").strip() or None,
                      description=description, properties=properties)
    package.dependencies = [relations, fields.get("Provides", "")]
    return package


def _resolve_dependencies(packages: list[Package], warn: Callable[[str], None]) -> None:
    """Depends/Pre-Depends to installed packages: per OR group, the first alternative present
    (by name, or by a virtual name an installed package Provides)."""
    by_name: dict[str, list[Package]] = {}
    provided: dict[str, list[Package]] = {}
    for package in packages:
        by_name.setdefault(package.name, []).append(package)
        provides = str(package.dependencies[1]) if len(package.dependencies) > 1 else ""
        for group in _relations(provides):
            for alternative in group:
                provided.setdefault(alternative, []).append(package)
    for package in packages:
        text = str(package.dependencies[0]) if package.dependencies else ""
        edges: list[str] = []
        for group in _relations(text):
            for alternative in group:
                target = by_name.get(alternative) or provided.get(alternative)
                if target:
                    chosen = _same_arch(target, package)
                    if chosen is not package and chosen.key not in edges:
                        edges.append(chosen.key)
                    break
        package.depends_on = edges


def _same_arch(candidates: list[Package], package: Package) -> Package:
    arch = package.qualifiers.get("arch")
    for candidate in candidates:
        if candidate.qualifiers.get("arch") in (arch, "all"):
            return candidate
    return candidates[0]


def _relations(text: str) -> list[list[str]]:
    """Package names per OR group (versions and architecture qualifiers dropped)."""
    if not text.strip():
        return []
    from debian import deb822

    try:
        parsed = deb822.PkgRelation.parse_relations(text)
    except Exception:
        return []
    groups = []
    for group in parsed:
        names = [str(alternative.get("name")) for alternative in group if alternative.get("name")]
        if names:
            groups.append(names)
    return groups
