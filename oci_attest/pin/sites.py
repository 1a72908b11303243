"""Where an image reference stands in a file: the unit every finder yields and every edit uses.

Pinning must change nothing but the references: a reviewer reads the diff, and a diff that
re-indents a manifest or drops its comments hides the one line that matters. So finders do not
re-serialise documents; they report the exact character span of each reference in the original
text, and the rewrite splices new text into those spans only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SiteKind(StrEnum):
    """Which construct holds the reference; shown to the user and in ``--format json``."""

    DOCKERFILE_FROM = "dockerfile FROM"
    DOCKERFILE_COPY_FROM = "dockerfile COPY --from"
    DOCKERFILE_MOUNT_FROM = "dockerfile RUN --mount from"
    K8S_CONTAINER = "kubernetes container"
    COMPOSE_SERVICE = "compose service"
    ACTIONS_CONTAINER = "actions container"
    ACTIONS_SERVICE = "actions service"
    ACTIONS_STEP = "actions step docker://"


@dataclass(frozen=True)
class Site:
    """One reference: ``text`` is exactly ``content[start:end]`` of the file it was found in."""

    path: str
    line: int  # 1-based, for people and editors
    start: int
    end: int
    text: str
    kind: SiteKind
    context: str = ""  # e.g. the container name, shown next to the reference


@dataclass(frozen=True)
class Skipped:
    """A reference that cannot be pinned in place, with the reason (a build ARG, a template)."""

    path: str
    line: int
    text: str
    reason: str


def line_starts(content: str) -> list[int]:
    """Offsets where each line starts; lines end at ``\\n`` only, as YAML and docker count."""
    starts = [0]
    starts.extend(i + 1 for i, char in enumerate(content) if char == "\n")
    return starts


def line_of(starts: list[int], offset: int) -> int:
    """1-based line number of a character offset (binary search over ``line_starts``)."""
    low, high = 0, len(starts) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if starts[middle] <= offset:
            low = middle
        else:
            high = middle - 1
    return low + 1


def splice(content: str, edits: list[tuple[Site, str]]) -> str:
    """Replace each site's span with its new text; spans must not overlap."""
    pieces: list[str] = []
    cursor = 0
    for site, new_text in sorted(edits, key=lambda edit: edit[0].start):
        if site.start < cursor:
            raise ValueError(f"overlapping references at {site.path}:{site.line}")
        if content[site.start:site.end] != site.text:
            raise ValueError(f"{site.path}:{site.line} changed while being pinned")
        pieces.append(content[cursor:site.start])
        pieces.append(new_text)
        cursor = site.end
    pieces.append(content[cursor:])
    return "".join(pieces)


def with_digest_text(text: str, digest: str, *, add_latest: bool) -> str:
    """A reference as written, with ``@digest`` set and its tag kept for people; an untagged
    name gains ``:latest`` so the pin still says which tag it tracks."""
    name = text.split("@", 1)[0]
    return f"{name}{':latest' if add_latest else ''}@{digest}"
