"""Scan a file of any size for credentials in flat memory: overlapping windows over a stream.

Skipping large files made "clean" a lie: a private key appended to a 1.1 MB file was never
looked at. A stream is read in chunks; each chunk is scanned together with the tail of the one
before, and the tail is longer than anything a content rule can match
(:data:`~oci_attest.secrets.rules.MAX_MATCH_BYTES`), so a secret split across two chunks is
still seen whole. Memory stays at about one chunk plus one tail, whatever the file's size.
"""

from __future__ import annotations

from collections.abc import Iterable

from oci_attest.secrets.rules import (
    MAX_MATCH_BYTES,
    Match,
    content_rules,
    is_executable,
    looks_interesting,
)

CHUNK_BYTES = 1024 * 1024
OVERLAP_BYTES = MAX_MATCH_BYTES + 4096


def scan_chunks(chunks: Iterable[bytes]) -> list[Match]:
    """Every content rule that fires anywhere in the concatenation of ``chunks`` (first match
    per rule, with its line number in the whole stream)."""
    found: dict[str, Match] = {}
    tail = b""
    lines_before = 0  # newlines in everything that has left the window
    executable: bool | None = None
    for chunk in chunks:
        if executable is None:
            executable = is_executable(chunk)
        window = tail + chunk
        if looks_interesting(window):
            for match in content_rules(window, executable=executable):
                found.setdefault(match.rule.id, Match(match.rule, match.line + lines_before))
        keep = min(len(window), OVERLAP_BYTES)
        lines_before += window.count(b"\n", 0, len(window) - keep)
        tail = window[len(window) - keep:]
    return sorted(found.values(), key=lambda m: (m.line, m.rule.id))
