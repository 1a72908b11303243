"""Untrusted text on a terminal or in a CI log: one line, no control characters.

A report line is only worth reading if nobody else wrote it. Predicate types, annotations,
identities, paths and purls come from attestations an attacker may have signed or pushed; a
newline in one forges a ``result: PASS`` line below it, a carriage return or an ANSI escape
overwrites what is already shown, a bidi override reorders it. Every such character is shown
as a visible escape (``\\n``, ``\\x1b``, ``\\u202e``) instead.
"""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Control (Cc), format (Cf: bidi overrides, zero-width), line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str) -> str:
    """``text`` with every control, format and line-separator character escaped."""
    if text.isprintable():  # the common case, and fast
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c
                   for c in text)
