"""JSON for signed or signable documents: a key given twice is an error, not "the last wins".

Python's ``json`` keeps the last of two equal keys, Go's keeps the last, some parsers keep the
first: a statement with two ``"subject"`` keys (or a digest set with two ``"sha256"`` values)
can therefore mean one thing to attest and another to the next tool that reads the same signed
bytes. Every document whose meaning is signed is read through :func:`loads` so that such a
payload is refused wherever it is met (signing, attaching, verifying).
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice; ``key`` is the first repeated key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate JSON key {key[:80]!r}")
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise DuplicateKeyError(key)
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: str | bytes) -> Any:
    """``json.loads`` that refuses duplicate keys and the non-standard NaN/Infinity literals.

    Raises ``ValueError`` (``DuplicateKeyError`` for a repeated key) or ``RecursionError``.
    """
    return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
