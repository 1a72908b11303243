"""Value parsers of the verification policy: durations, denied packages, regular expressions.

Shared by the policy file loader and the command-line flags, so that a value means the same
wherever it is written, and fails with the same message naming where it was written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from packageurl import PackageURL

from oci_attest.errors import InputError

if TYPE_CHECKING:
    from univers.version_range import VersionRange


class PolicyError(InputError):
    """The policy file (or a policy flag) is wrong; the message names the key."""

    kind = "invalid policy"


@dataclass(frozen=True)
class DeniedComponent:
    """A package that must not be in the image, optionally only within a version range."""

    purl: PackageURL
    versions: VersionRange | None
    text: str
    reason: str | None = None

    def describe(self) -> str:
        return self.text + (f" ({self.reason})" if self.reason else "")


def check_regexp(text: str | None, where: str) -> str | None:
    if text is None:
        return None
    try:
        re.compile(text)
    except re.error as error:
        raise PolicyError(f"{where}: invalid regular expression {text!r}: {error}") from None
    return text


# ---------------------------------------------------------------------------- value parsers
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, where: str) -> timedelta:
    """``30d``, ``12h``, ``1w2d``, ``90m``; a bare number is seconds."""
    compact = text.strip().lower().replace(" ", "")
    if compact.isdigit():
        compact += "s"  # a bare number is seconds, and must be positive like any other
    if not compact or _DURATION.sub("", compact):
        raise PolicyError(f"{where}: invalid duration {text!r}",
                          hint="write it like 30d, 12h, 1w2d or 90m")
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(compact))
    if seconds <= 0:
        raise PolicyError(f"{where}: a maximum age must be positive, not {text!r}",
                          hint="remove the rule to allow any age")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_denied(text: str, where: str) -> DeniedComponent:
    """``pkg:deb/debian/openssl@vers:deb/<3.0.15``: a purl whose version is a ``vers`` range.

    Without ``@vers:...`` every version is denied. A plain version (``@1.2.3``) means exactly
    that version.
    """
    value = text.strip()
    if not value.startswith("pkg:"):
        raise PolicyError(f"{where}: {text!r} is not a package URL (pkg:TYPE/NAMESPACE/NAME)")
    versions: VersionRange | None = None
    purl_text = value
    marker = value.find("@vers:")
    if marker != -1:
        purl_text, range_text = value[:marker], value[marker + 1:]
        try:
            versions = _version_range(range_text)
        except Exception as error:  # univers raises several types for a bad range
            raise PolicyError(f"{where}: invalid version range {range_text!r}: {error}",
                              hint="use a vers: range, e.g. vers:deb/<3.0.15 or "
                                   "vers:pypi/>=1.0|<1.4") from None
    try:
        purl = PackageURL.from_string(purl_text)
    except ValueError as error:
        raise PolicyError(f"{where}: invalid package URL {purl_text!r}: {error}") from None
    if purl.version and versions is None:
        try:
            versions = _version_range(f"vers:{_vers_scheme(purl.type)}/{purl.version}")
        except Exception as error:
            raise PolicyError(f"{where}: cannot read version {purl.version!r} of {purl_text!r} "
                              f"as a {purl.type} version: {error}") from None
    bare = PackageURL(type=purl.type, namespace=purl.namespace, name=purl.name,
                      qualifiers=purl.qualifiers, subpath=purl.subpath)
    return DeniedComponent(purl=bare, versions=versions, text=value)


_VERS_SCHEMES = {"deb": "deb", "pypi": "pypi", "npm": "npm", "maven": "maven",
                 "golang": "golang", "cargo": "cargo", "gem": "gem", "apk": "apk", "rpm": "rpm",
                 "nuget": "nuget", "composer": "composer", "alpm": "alpm", "hex": "hex",
                 "conan": "conan"}


def _version_range(text: str) -> VersionRange:
    """univers is untyped (and slow to import): one lazy call site for it."""
    from univers.version_range import VersionRange

    parse: Any = VersionRange.from_string
    result: VersionRange = parse(text)
    return result


def _vers_scheme(purl_type: str) -> str:
    return _VERS_SCHEMES.get(purl_type, "generic")
