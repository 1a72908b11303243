"""JavaScript packages: every ``package.json`` with a name and version, plus lockfiles.

Installed packages come from ``package.json`` files (inside ``node_modules`` trees and the
applications around them). Lockfiles (``package-lock.json``/``npm-shrinkwrap.json`` and npm's
hidden ``node_modules/.package-lock.json``, ``yarn.lock``, ``pnpm-lock.yaml``) are read for what
they add: the packages of a project whose ``node_modules`` tree is not in the image (Yarn
Plug'n'Play, a tree pruned away), reported with the property ``attest:npm:declared-only``.
Where the tree is present it is the truth, and the lockfile adds nothing. A lockfile counts
only at an application root: one shipped inside an installed package (under ``node_modules``,
or in Debian's ``/usr/share/nodejs`` and ``/usr/lib/nodejs`` trees) is that package's
development lock, not what the image holds.

Dependency edges follow Node's resolution: from a package's directory, ``node_modules/<name>``
there and then in each ancestor directory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

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

_MAX_PACKAGE_JSON = 4 * 1024 * 1024
_MAX_LOCK = 128 * 1024 * 1024
_NPM_LOCKS = frozenset({"package-lock.json", ".package-lock.json", "npm-shrinkwrap.json"})
#: Where distributions install node packages (a lockfile there is a package's, not an app's).
_SYSTEM_NODE_DIRS = re.compile(r"^/usr/(?:share|lib(?:/[^/]+)?)/nodejs(?:/|$)")
_YARN_ENTRY = re.compile(r'^"?((?:@[^@/"\s]+/)?[^@"\s,]+)@')
_YARN_VERSION = re.compile(r'^\s+version:?\s+"?([^"\s]+)"?\s*$')


def parse_package_json(data: bytes) -> dict[str, Any] | None:
    """The manifest as a dict when it is a JSON object with a name and version string."""
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict):
        return None
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not name.strip() or not isinstance(version, str) \
            or not version.strip():
        return None
    return manifest


def declared_licenses(manifest: dict[str, Any]) -> list[str]:
    """``license`` (a string or the old ``{"type": ...}``) or the older ``licenses`` list."""
    found: list[str] = []
    values: list[Any] = [manifest.get("license")]
    old = manifest.get("licenses")
    if isinstance(old, list):
        values.extend(old)
    for value in values:
        if isinstance(value, dict):
            value = value.get("type")
        if isinstance(value, str) and value.strip() and len(value) <= 200:
            text = value.strip()
            if text.upper() in ("UNLICENSED", "SEE LICENSE IN LICENSE"):
                continue
            normalized = text if " " in text else licenses.normalize(text)
            if normalized not in found:
                found.append(normalized)
    return found


def _person(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:300]
    if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"].strip():
        return str(value["name"]).strip()[:300]
    return None


def _split_name(full: str) -> tuple[str | None, str]:
    if full.startswith("@") and "/" in full:
        scope, name = full.split("/", 1)
        if name:
            return scope, name
    return None, full


def _npm_package(name: str, version: str, path: str, layer: int) -> Package:
    namespace, bare = _split_name(name)
    package = Package(name=name, version=version, ecosystem="npm", purl_type="npm", path=path,
                      layer=layer, cataloger="npm", namespace=namespace)
    package.purl_name = bare
    return package


class NpmCataloger(Cataloger):
    name = "npm"
    ecosystem = "npm"

    def interests(self) -> Iterable[Interest]:
        yield Interest(basenames=frozenset({"package.json"}), max_size=_MAX_PACKAGE_JSON)
        yield Interest(basenames=_NPM_LOCKS | {"yarn.lock", "pnpm-lock.yaml"}, max_size=_MAX_LOCK)

    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        base = file.path.rsplit("/", 1)[-1]
        data = file.read_all(_MAX_LOCK)
        if base == "package.json":
            manifest = parse_package_json(data)
            if manifest is None:
                return None
            package = _npm_package(manifest["name"].strip(), manifest["version"].strip(),
                                   "/" + file.path, file.layer)
            package.licenses = declared_licenses(manifest)
            package.author = _person(manifest.get("author"))
            description = manifest.get("description")
            if isinstance(description, str) and description.strip():
                package.description = description.strip()[:500]
            deps: list[str] = []
            for field in ("dependencies", "optionalDependencies"):
                table = manifest.get(field)
                if isinstance(table, dict):
                    deps.extend(str(k) for k in table if isinstance(k, str))
            package.dependencies = list(dict.fromkeys(deps))
            return Found(packages=[package])
        try:
            if base in _NPM_LOCKS:
                pinned = _npm_lock(data)
            elif base == "yarn.lock":
                pinned = _yarn_lock(data)
            else:
                pinned = _pnpm_lock(data)
        except Exception as error:
            warn(f"npm: /{file.path} is not a readable lockfile: {type(error).__name__}")
            return None
        packages = [_npm_package(name, version, "/" + file.path, file.layer)
                    for name, version in sorted(set(pinned))]
        for package in packages:
            package.properties["attest:npm:declared-only"] = "true"
        return Found(facts={"lock": packages})

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        installed: list[Package] = []
        locks: list[tuple[str, list[Package]]] = []
        for item in files:
            installed.extend(item.found.packages)
            lock = item.found.facts.get("lock")
            if isinstance(lock, list):
                locks.append((item.path, [p for p in lock if isinstance(p, Package)]))
        by_dir = {p.path.rsplit("/", 1)[0]: p for p in installed}
        for package in installed:
            package.depends_on = _resolve(package, by_dir)
        trees: set[str] = set()
        for package in installed:
            parts = package.path.split("/node_modules/")
            trees.update("/node_modules/".join(parts[:n]) for n in range(1, len(parts)))
        seen = {(p.name, p.version) for p in installed}
        added: list[Package] = []
        for path, pinned in locks:
            # Next to an installed tree a lockfile adds nothing true: what it pins and the tree
            # lacks was pruned, deleted, or is an optional package for another platform. A
            # lockfile inside a tree (npm's hidden one, a published shrinkwrap) is part of it.
            project = "/" + path.rsplit("/", 1)[0]
            if "/node_modules/" in project + "/" or project in trees \
                    or _SYSTEM_NODE_DIRS.match(project):
                continue
            for package in pinned:
                if (package.name, package.version) not in seen:
                    seen.add((package.name, package.version))
                    added.append(package)
        return installed + added


def _resolve(package: Package, by_dir: dict[str, Package]) -> list[str]:
    edges: list[str] = []
    home = package.path.rsplit("/", 1)[0]
    for name in package.dependencies:
        directory = home
        while True:
            if not directory.endswith("/node_modules"):
                target = by_dir.get(f"{directory}/node_modules/{name}")
                if target is not None:
                    if target is not package and target.key not in edges:
                        edges.append(target.key)
                    break
            if not directory:
                break
            directory = directory.rsplit("/", 1)[0] if "/" in directory else ""
    return edges


def _npm_lock(data: bytes) -> list[tuple[str, str]]:
    lock = json.loads(data)
    found: list[tuple[str, str]] = []
    if not isinstance(lock, dict):
        return found
    packages = lock.get("packages")
    if isinstance(packages, dict):  # lockfileVersion 2 and 3
        for key, entry in packages.items():
            if not isinstance(entry, dict) or entry.get("link"):
                continue
            name = entry.get("name") or str(key).rsplit("node_modules/", 1)[-1]
            version = entry.get("version")
            if isinstance(name, str) and isinstance(version, str) and name and version:
                found.append((name, version))
        return found

    def walk(table: Any) -> None:  # lockfileVersion 1
        if not isinstance(table, dict):
            return
        for name, entry in table.items():
            if isinstance(entry, dict) and isinstance(entry.get("version"), str):
                version = entry["version"]
                if not version.startswith(("file:", "link:", "git", "http")):
                    found.append((str(name), version))
                walk(entry.get("dependencies"))

    walk(lock.get("dependencies"))
    return found


def _yarn_lock(data: bytes) -> list[tuple[str, str]]:
    import yaml

    text = data.decode("utf-8", "replace")
    if "__metadata:" in text:  # Yarn 2+ (berry) lockfiles are YAML
        document = yaml.safe_load(text)
        found = []
        for key, entry in (document or {}).items():
            if key == "__metadata" or not isinstance(entry, dict):
                continue
            match = _YARN_ENTRY.match(str(key).split(",")[0].strip())
            version = entry.get("version")
            if match and isinstance(version, (str, int, float)) and \
                    "@workspace:" not in str(key):
                found.append((match.group(1), str(version)))
        return found
    found = []
    current: str | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line[0].isspace():
            match = _YARN_ENTRY.match(line.split(",")[0].strip())
            current = match.group(1) if match else None
            continue
        if current:
            version = _YARN_VERSION.match(line)
            if version:
                found.append((current, version.group(1)))
                current = None
    return found


def _pnpm_lock(data: bytes) -> list[tuple[str, str]]:
    import yaml

    document = yaml.safe_load(data)
    found: list[tuple[str, str]] = []
    if not isinstance(document, dict):
        return found
    packages = document.get("packages")
    if not isinstance(packages, dict):
        return found
    for key, entry in packages.items():
        pinned = pnpm_key(str(key))
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) \
                and isinstance(entry.get("version"), str):
            pinned = (entry["name"], entry["version"])  # a tarball or git dependency
        if pinned is not None:
            found.append(pinned)
    return found


def pnpm_key(key: str) -> tuple[str, str] | None:
    """(name, version) of a pnpm ``packages`` key, peer suffixes dropped, or None.

    v5: ``/name/1.0.0_peer@2.0.0``; v6: ``/name@1.0.0(peer@2.0.0)``; v9: ``name@1.0.0``;
    each with an optional ``@scope/`` before the name (npm names hold no ``/`` or ``@``).
    """
    text = key.lstrip("/").split("(", 1)[0]
    scope = ""
    if text.startswith("@"):
        scope, separator, text = text.partition("/")
        if not separator:
            return None
        scope += "/"
    slash, at = text.find("/"), text.find("@")
    if slash > 0 and (at < 0 or slash < at):  # v5
        name, version = text[:slash], text[slash + 1:].split("_", 1)[0]
    elif at > 0:  # v6, v9
        name, version = text[:at], text[at + 1:]
    else:
        return None
    if not name or not version or not version[0].isdigit() or "/" in version \
            or ":" in version:
        return None  # a path, a tarball URL, a link: not a registry version
    return scope + name, version
