"""How a purl is filed in the inventory, and how a query's purl and ``vers`` range find it.

A package is filed under two names: the purl's own (type, namespace/name: what a person asks
for with ``--purl pkg:deb/debian/libssl3``) and the name advisories use (OSV ecosystem and
package: a Debian binary's *source* package, ``openssl``), taken from the matcher so that a
rescan and ``attest scan`` can never disagree about which component an advisory names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL
from univers.version_range import VersionRange
from univers.versions import InvalidVersion

from oci_attest.errors import UsageError
from oci_attest.vulns.match import component_from_purl
from oci_attest.vulns.osv import normalize_name

#: purl types whose names are compared case- and separator-insensitively (as their
#: ecosystems do), so that ``pkg:pypi/Django`` finds ``pkg:pypi/django``.
_NORMALIZED = {"pypi": "PyPI", "deb": "Debian", "apk": "Alpine", "cargo": "crates.io"}


@dataclass(frozen=True)
class PackageKey:
    ptype: str
    pname: str
    version: str
    ecosystem: str | None
    mname: str | None
    release: str | None


def purl_name(purl: PackageURL) -> tuple[str, str]:
    """(type, namespace/name) as the inventory files it."""
    name = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
    ecosystem = _NORMALIZED.get(purl.type)
    return purl.type, normalize_name(ecosystem, name) if ecosystem else name


def package_key(text: str) -> PackageKey | None:
    """The inventory key of a component purl; ``None`` if it is not a purl with a version."""
    try:
        purl = PackageURL.from_string(text)
    except ValueError:
        return None
    if not purl.version:
        return None
    ptype, pname = purl_name(purl)
    component = component_from_purl(text)
    return PackageKey(ptype, pname, purl.version,
                      component.ecosystem if component else None,
                      component.name if component else None,
                      component.release if component else None)


def parse_query_purl(text: str) -> tuple[str, str, str | None]:
    """``--purl``: type, name and the exact version asked for (``None``: every version)."""
    try:
        purl = PackageURL.from_string(text)
    except ValueError as error:
        raise UsageError(f"--purl {text!r} is not a package URL: {error}",
                         hint="write e.g. pkg:pypi/django or pkg:deb/debian/libssl3@3.0.11-1"
                         ) from None
    ptype, pname = purl_name(purl)
    return ptype, pname, purl.version or None


def parse_vers(text: str) -> VersionRange:
    """``--versions``: a ``vers:`` range (``vers:pypi/>=3.0|<3.2.19``), evaluated by
    ``univers`` in the scheme's own version order."""
    try:
        found: VersionRange = VersionRange.from_string(text)  # type: ignore[no-untyped-call]
    except Exception as error:  # univers raises assorted types for malformed ranges
        raise UsageError(f"--versions {text!r} is not a vers range: {error}",
                         hint="write e.g. vers:pypi/>=3.0|<3.2.19 (see the purl-spec VERS)"
                         ) from None
    return found


def in_range(versions: VersionRange, version: str) -> bool:
    """Whether ``version`` is in the range; a version the scheme cannot parse is not."""
    try:
        parse: Any = versions.version_class
        return bool(parse(version) in versions)
    except (InvalidVersion, ValueError, TypeError):
        return False
