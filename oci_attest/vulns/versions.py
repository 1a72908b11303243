"""One version order per ecosystem: the question "is 1.2.3-4 before 1.2.10-1?" has a
different right answer in every ecosystem, and a wrong answer is a missed vulnerability.

Each :class:`VersionOrder` turns a version string into a sortable key, or ``None`` when the
string is not a version of that ecosystem (such a range is then not evaluated, and the finding
falls back to the advisory's explicit ``versions`` list). The orders come from libraries, not
from here: ``packaging`` for PEP 440 (PyPI), ``univers`` for Debian (dpkg: epochs, ``~``),
Alpine (apk), Maven, RubyGems and semver (npm, crates.io, Go modules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion
from packaging.version import Version as Pep440Version
from univers import versions as uv


@dataclass(frozen=True)
class VersionOrder:
    """A named version order: ``key`` maps a version string to a comparable value."""

    name: str
    parse: Callable[[str], Any]

    def key(self, text: str) -> Any | None:
        """Memoized: the same bounds recur in many records and every component is compared
        with all of them, and parsing (``univers``) costs far more than comparing. Keys are
        immutable version objects, so sharing them is safe; the cache is bounded."""
        cache_key = (self.name, text)
        try:
            return _KEYS[cache_key]
        except KeyError:
            pass
        try:
            value = self.parse(text)
        except Exception:  # every library raises its own type for "not a version"
            value = None
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        _KEYS[cache_key] = value
        return value


_KEYS: dict[tuple[str, str], Any] = {}
_MAX_KEYS = 200_000


def _pep440(text: str) -> Any:
    try:
        return Pep440Version(text)
    except InvalidVersion:
        return uv.PypiVersion(text)


def _semver(text: str) -> Any:
    return uv.SemverVersion(text.removeprefix("v"))


def _go(text: str) -> Any:
    """Go modules are semver with a ``v``; the toolchain is ``go1.21.3`` (and ``go1.21``)."""
    bare = text.removeprefix("go").removeprefix("v")
    if bare.count(".") == 1 and bare.replace(".", "").isdigit():
        bare += ".0"
    return uv.SemverVersion(bare)


def _univers(kind: type[Any]) -> Callable[[str], Any]:
    return lambda text: kind(text)


#: OSV ecosystem (without a ``:release`` suffix) -> version order.
ORDERS: dict[str, VersionOrder] = {
    "PyPI": VersionOrder("pep440", _pep440),
    "npm": VersionOrder("semver", _semver),
    "crates.io": VersionOrder("semver", _semver),
    "Go": VersionOrder("go-semver", _go),
    "Debian": VersionOrder("dpkg", _univers(uv.DebianVersion)),
    "Ubuntu": VersionOrder("dpkg", _univers(uv.DebianVersion)),
    "Alpine": VersionOrder("apk", _univers(uv.AlpineLinuxVersion)),
    "Maven": VersionOrder("maven", _univers(uv.MavenVersion)),
    "RubyGems": VersionOrder("rubygems", _univers(uv.RubygemsVersion)),
}


def order_for(ecosystem: str) -> VersionOrder | None:
    """The order of an OSV ecosystem name (``Debian:12`` uses Debian's)."""
    return ORDERS.get(ecosystem.split(":", 1)[0])
