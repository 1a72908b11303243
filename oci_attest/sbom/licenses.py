"""License strings as metadata states them, mapped to SPDX where that is unambiguous.

Serializers need to know whether a string is an SPDX license id (CycloneDX ``license.id``, which
the schema checks against the SPDX list), a compound SPDX expression, or just a name; getting
that wrong makes the document invalid. The SPDX knowledge comes from cyclonedx-python-lib
(``cyclonedx.spdx``, backed by the SPDX list in its bundled schema and by license-expression).
What is added here is the translation of Debian's DEP-5 short names (``GPL-2+``, ``Expat``,
``BSD-3-clause``), which no library maps; only the documented short-name grammar is handled,
anything else is kept verbatim as a name.
"""

from __future__ import annotations

import re
from functools import lru_cache

_DEBIAN_FAMILIES = {
    "gpl": "GPL", "lgpl": "LGPL", "agpl": "AGPL", "gfdl": "GFDL", "gfdl-niv": "GFDL",
}
_DEBIAN_FIXED = {
    "expat": "MIT", "apache-2": "Apache-2.0", "apache-2.0": "Apache-2.0",
    "apache-1.1": "Apache-1.1", "apache-1.0": "Apache-1.0", "artistic": "Artistic-1.0-Perl",
    "artistic-2": "Artistic-2.0", "artistic-2.0": "Artistic-2.0", "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause", "bsd-4-clause": "BSD-4-Clause", "bsd-2": "BSD-2-Clause",
    "bsd-3": "BSD-3-Clause", "zlib": "Zlib", "isc": "ISC", "cc0": "CC0-1.0", "cc0-1.0": "CC0-1.0",
    "mpl-1.1": "MPL-1.1", "mpl-2.0": "MPL-2.0", "mpl-2": "MPL-2.0", "psf-2": "PSF-2.0",
    "python-2.0": "Python-2.0", "perl": "Artistic-1.0-Perl OR GPL-1.0-or-later",
    "public-domain": "", "x11": "X11", "curl": "curl", "openssl": "OpenSSL", "sleepycat":
    "Sleepycat", "unicode": "Unicode-DFS-2016", "w3c": "W3C", "zope-2.1": "ZPL-2.1",
    "boost-1.0": "BSL-1.0", "bsl-1.0": "BSL-1.0", "fsfap": "FSFAP", "fsful": "FSFUL",
    "fsfullr": "FSFULLR", "unlicense": "Unlicense", "wtfpl": "WTFPL", "ofl-1.1": "OFL-1.1",
}
_DEBIAN_VERSIONED = re.compile(r"^(gpl|lgpl|agpl|gfdl|gfdl-niv)-(\d(?:\.\d)?)(\+?)$")
_SPLIT = re.compile(r"\s*(?:,|\bor\b|\band\b|\band/or\b|\|)\s*", re.IGNORECASE)


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """An SPDX id for the text when one is certain, else the text unchanged (trimmed)."""
    from cyclonedx import spdx

    value = text.strip()
    if not value:
        return ""
    lowered = value.lower()
    match = _DEBIAN_VERSIONED.match(lowered)
    if match:
        family, version, plus = match.groups()
        if "." not in version:
            version += ".0"
        candidate = f"{_DEBIAN_FAMILIES[family]}-{version}-{'or-later' if plus else 'only'}"
        fixed = spdx.fixup_id(candidate)
        if fixed:
            return str(fixed)
    mapped = _DEBIAN_FIXED.get(lowered)
    if mapped is not None:
        return mapped or value
    fixed = spdx.fixup_id(value)
    if fixed:
        return str(fixed)
    return value


def split_debian(synopsis: str) -> list[str]:
    """``GPL-2+ or Artistic, and BSD-3-clause`` becomes its license names, each normalized."""
    names: list[str] = []
    cleaned = re.sub(r"\bwith\b.*$", "", synopsis, flags=re.IGNORECASE)
    for part in _SPLIT.split(cleaned):
        part = part.strip().strip("()")
        if not part or len(part) > 80:
            continue
        name = normalize(part)
        for piece in (name.split(" OR ") if " OR " in name else [name]):
            if piece and piece not in names:
                names.append(piece)
    return names


@lru_cache(maxsize=4096)
def classify(value: str) -> tuple[str, str]:
    """``("id", ...)``, ``("expression", ...)`` or ``("name", ...)`` for a serializer."""
    from cyclonedx import spdx

    text = value.strip()
    if spdx.is_supported_id(text):
        return "id", text
    fixed = spdx.fixup_id(text)
    if fixed:
        return "id", str(fixed)
    if (" " in text or "(" in text) and spdx.is_expression(text):
        return "expression", text
    return "name", text
