"""Python distributions: ``*.dist-info/METADATA`` and ``*.egg-info`` anywhere in the image.

Any site-packages, dist-packages or virtualenv counts, so the match is on the metadata file's
own name wherever it lives. Metadata is parsed with :func:`packaging.metadata.parse_email`
(the PyPA's parser for core metadata); only the header block is handed over, because the body
is the long description, which the SBOM does not use. Requirements become dependency edges to
distributions installed in the same directory, with environment markers evaluated for the
interpreter the path names (``lib/python3.11/...``) and extras left out.
"""

from __future__ import annotations

import re
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

_MAX = 8 * 1024 * 1024
_PYTHON_VERSION = re.compile(r"/python(\d)\.(\d+)/")
_CLASSIFIER_LICENSES = {
    "MIT License": "MIT",
    "Apache Software License 2.0": "Apache-2.0",
    "BSD 3-Clause License": "BSD-3-Clause",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "The Unlicense (Unlicense)": "Unlicense",
    "Zope Public License": "ZPL-2.1",
}


def _is_metadata(path: str) -> bool:
    return path.rsplit("/", 1)[0].endswith(".dist-info")


def _is_egg_pkg_info(path: str) -> bool:
    return path.rsplit("/", 1)[0].endswith(".egg-info")


def parse_metadata(data: bytes) -> dict[str, object]:
    """The core-metadata fields attest uses; empty when there is nothing readable."""
    from packaging.metadata import parse_email

    header = data
    for separator in (b"\n\n", b"\r\n\r\n"):
        end = data.find(separator)
        if end >= 0:
            header = data[:end + len(separator)]
            break
    raw, _unparsed = parse_email(header)
    return dict(raw)


def license_of(fields: dict[str, object]) -> list[str]:
    expression = fields.get("license_expression")
    if isinstance(expression, str) and expression.strip():
        return [expression.strip()]
    text = fields.get("license")
    if isinstance(text, str) and text.strip() and "\n" not in text.strip() \
            and len(text.strip()) <= 100 and text.strip().upper() not in ("UNKNOWN", "NONE"):
        return [licenses.normalize(text)]
    found = []
    classifiers = fields.get("classifiers")
    for classifier in classifiers if isinstance(classifiers, list) else []:
        parts = [p.strip() for p in str(classifier).split("::")]
        if len(parts) >= 2 and parts[0] == "License":
            name = parts[-1]
            if name in ("OSI Approved", "Other/Proprietary License"):
                continue
            value = _CLASSIFIER_LICENSES.get(name, name)
            if value not in found:
                found.append(value)
    return found


class PythonCataloger(Cataloger):
    name = "python"
    ecosystem = "python"

    def interests(self) -> Iterable[Interest]:
        yield Interest(basenames=frozenset({"METADATA"}), accept=_is_metadata, max_size=_MAX)
        yield Interest(basenames=frozenset({"PKG-INFO"}), accept=_is_egg_pkg_info, max_size=_MAX)
        yield Interest(suffixes=(".egg-info",), max_size=_MAX)
        yield Interest(basenames=frozenset({"requires.txt"}), accept=_is_egg_pkg_info,
                       max_size=_MAX)

    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        data = file.read_all(_MAX)
        if file.path.endswith("/requires.txt"):
            return Found(facts={"requires": _requires_txt(data)})
        try:
            fields = parse_metadata(data)
        except Exception as error:
            warn(f"python: /{file.path} is not readable metadata: {type(error).__name__}")
            return None
        name, version = fields.get("name"), fields.get("version")
        if not isinstance(name, str) or not name.strip() or not isinstance(version, str) \
                or not version.strip():
            warn(f"python: /{file.path} has no name or version; skipped")
            return None
        author = fields.get("author") or fields.get("author_email")
        summary = fields.get("summary")
        requires = fields.get("requires_dist")
        package = Package(
            name=name.strip(), version=version.strip(), ecosystem="python", purl_type="pypi",
            path="/" + file.path, layer=file.layer, cataloger=self.name,
            licenses=license_of(fields),
            author=str(author).strip() if isinstance(author, str) and author.strip() else None,
            description=summary.strip() if isinstance(summary, str) and summary.strip() else None)
        package.dependencies = [str(r) for r in requires] if isinstance(requires, list) else []
        return Found(packages=[package])

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        from packaging.utils import canonicalize_name

        egg_requires: dict[str, list[str]] = {}
        packages: list[Package] = []
        for item in files:
            if "requires" in item.found.facts:
                egg_requires["/" + item.path.rsplit("/", 1)[0]] = list(
                    item.found.facts["requires"])  # type: ignore[call-overload]
            packages.extend(item.found.packages)
        environments: dict[str, dict[str, Package]] = {}
        for package in packages:
            home = _environment_of(package.path)
            environments.setdefault(home, {}).setdefault(canonicalize_name(package.name), package)
        by_name: dict[str, list[Package]] = {}
        for package in packages:
            by_name.setdefault(canonicalize_name(package.name), []).append(package)
        for package in packages:
            info_dir = package.path.rsplit("/", 1)[0]
            requirements = package.dependencies or egg_requires.get(info_dir, [])
            local = environments.get(_environment_of(package.path), {})
            environment = _marker_environment(package.path)
            edges: list[str] = []
            for text in requirements:
                target_name = _required_name(str(text), environment)
                if target_name is None:
                    continue
                target = local.get(target_name)
                if target is None:
                    candidates = by_name.get(target_name, [])
                    target = candidates[0] if len(candidates) == 1 else None
                if target is not None and target is not package and target.key not in edges:
                    edges.append(target.key)
            package.depends_on = edges
        return packages


def _environment_of(path: str) -> str:
    """The directory holding the metadata directory: one site-packages (or egg location)."""
    parent = path.rsplit("/", 1)[0]
    if parent.endswith((".dist-info", ".egg-info")):
        parent = parent.rsplit("/", 1)[0]
    return parent


def _marker_environment(path: str) -> dict[str, str]:
    environment = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython",
                   "extra": ""}
    match = _PYTHON_VERSION.search(path)
    if match:
        version = f"{match.group(1)}.{match.group(2)}"
        environment["python_version"] = version
        environment["python_full_version"] = f"{version}.0"
    return environment


def _required_name(text: str, environment: dict[str, str]) -> str | None:
    """The canonical name a requirement needs here, or None when its marker excludes it."""
    from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    if requirement.marker is not None:
        if "extra" in str(requirement.marker):
            return None
        try:
            if not requirement.marker.evaluate(environment):
                return None
        except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
            pass
    return str(canonicalize_name(requirement.name))


def _requires_txt(data: bytes) -> list[str]:
    """``requires.txt`` of an egg: requirements up to the first ``[extra]`` section."""
    found = []
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.startswith("["):
            break
        if line and not line.startswith("#"):
            found.append(line)
    return found
