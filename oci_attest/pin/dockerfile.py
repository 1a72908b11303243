"""Image references in a Dockerfile: ``FROM``, ``COPY --from=`` and ``RUN --mount=…from=``.

The scan follows the engine's reading rather than a general Dockerfile parser, because the only
thing that matters is where docker would look for an image: lines end at ``\\n`` only, parser
directives count only in the unbroken run of ``# key=value`` lines at the top (``escape``
changes the continuation character), comment lines vanish even inside a continued instruction,
and heredoc bodies are data, never instructions. Every token keeps the offset it had in the
file, so the rewrite touches the reference's characters and nothing else.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from oci_attest.pin.sites import Site, SiteKind, Skipped, line_of, line_starts

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")


@dataclass
class _Token:
    text: str
    start: int
    contiguous: bool  # the token's characters are adjacent in the file (not split by a break)


@dataclass
class DockerfileScan:
    """What a Dockerfile names: references to pin, and those that cannot be pinned in place."""

    sites: list[Site] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def scan_dockerfile(path: str, content: str) -> DockerfileScan:
    """Every external image reference in ``content``, with its exact span."""
    scan = DockerfileScan()
    starts = line_starts(content)
    stages: set[str] = set()
    for tokens in _instructions(content):
        keyword = tokens[0].text.upper()
        args = tokens[1:]
        if keyword == "FROM":
            _from(path, starts, args, stages, scan)
        elif keyword == "COPY":
            for token in _flags(args):
                if token.text.lower().startswith("--from="):
                    _maybe_site(path, starts, token, len("--from="), stages, scan,
                                SiteKind.DOCKERFILE_COPY_FROM)
        elif keyword == "RUN":
            for token in _flags(args):
                if token.text.lower().startswith("--mount="):
                    _mount(path, starts, token, stages, scan)
    return scan


def _from(path: str, starts: list[int], args: list[_Token], stages: set[str],
          scan: DockerfileScan) -> None:
    words = [t for t in args if not t.text.startswith("--")]
    if not words:
        return
    # Checked against the stages named *before* this line: `FROM alpine AS alpine` is an image.
    _maybe_site(path, starts, words[0], 0, stages, scan, SiteKind.DOCKERFILE_FROM)
    if len(words) >= 3 and words[1].text.lower() == "as":
        stages.add(words[2].text.lower())


def _mount(path: str, starts: list[int], token: _Token, stages: set[str],
           scan: DockerfileScan) -> None:
    offset = len("--mount=")
    for part in token.text[offset:].split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip().lower() == "from" and value:
            inner = _Token(value, token.start + offset + len(key) + 1, token.contiguous)
            _maybe_site(path, starts, inner, 0, stages, scan, SiteKind.DOCKERFILE_MOUNT_FROM)
        offset += len(part) + 1


def _maybe_site(path: str, starts: list[int], token: _Token, skip: int, stages: set[str],
                scan: DockerfileScan, kind: SiteKind) -> None:
    text = token.text[skip:]
    start = token.start + skip
    line = line_of(starts, start)
    if not text or text.lower() == "scratch" or text.lower() in stages or text.isdigit():
        return
    if "$" in text:
        scan.skipped.append(Skipped(path, line, text, "names its image through a build ARG; "
                                    "pin the ARG's default value instead"))
        return
    if not token.contiguous:
        scan.skipped.append(Skipped(path, line, text, "is split across lines"))
        return
    scan.sites.append(Site(path, line, start, start + len(text), text, kind))


def _flags(args: list[_Token]) -> list[_Token]:
    """The leading ``--flag`` tokens of an instruction (flags end at the first other word)."""
    flags = []
    for token in args:
        if not token.text.startswith("--"):
            break
        flags.append(token)
    return flags


def _instructions(content: str) -> list[list[_Token]]:
    """Logical instructions as tokens with file offsets, the way the engine splits them."""
    lines = _physical_lines(content)
    escape = _escape_char(lines)
    result: list[list[_Token]] = []
    index = 0
    while index < len(lines):
        start, raw = lines[index]
        index += 1
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        chars: list[tuple[str, int]] = []
        text, offset = raw, start
        while True:
            body = text.rstrip()
            continued = body.endswith(escape)
            if continued:
                body = body[:-1]
            chars.extend((char, offset + i) for i, char in enumerate(body))
            if not continued:
                break
            chars.append((" ", -1))  # the break itself separates words
            while index < len(lines) and (not lines[index][1].strip()
                                          or lines[index][1].lstrip().startswith("#")):
                index += 1  # comment and empty lines inside a continuation are dropped
            if index >= len(lines):
                break
            offset, text = lines[index]
            index += 1
        tokens = _tokens(chars)
        if tokens:
            result.append(tokens)
            index = _skip_heredocs(tokens, lines, index)
    return result


def _physical_lines(content: str) -> list[tuple[int, str]]:
    """(offset, text) per line; a UTF-8 byte-order mark at the start is not part of line 1."""
    lines: list[tuple[int, str]] = []
    offset = 1 if content.startswith("\ufeff") else 0
    for piece in content[offset:].split("\n"):
        lines.append((offset, piece[:-1] if piece.endswith("\r") else piece))
        offset += len(piece) + 1
    return lines


def _escape_char(lines: list[tuple[int, str]]) -> str:
    """The ``escape`` parser directive, read only from the unbroken directive block at the top."""
    escape = "\\"
    seen: set[str] = set()
    for _, text in lines:
        match = _DIRECTIVE.match(text)
        if not match:
            break
        name = match.group(1).lower()
        if name in seen:
            break
        seen.add(name)
        if name == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
    return escape


def _tokens(chars: list[tuple[str, int]]) -> list[_Token]:
    tokens: list[_Token] = []
    current: list[tuple[str, int]] = []
    for char, offset in [*chars, (" ", -1)]:
        if char.isspace():
            if current:
                contiguous = all(b[1] == a[1] + 1 for a, b in itertools.pairwise(current))
                tokens.append(_Token("".join(c for c, _ in current), current[0][1], contiguous))
                current = []
        else:
            current.append((char, offset))
    return tokens


def _skip_heredocs(tokens: list[_Token], lines: list[tuple[int, str]], index: int) -> int:
    """Skip the bodies of ``<<EOF`` heredocs that follow an instruction: they are data."""
    for token in tokens[1:]:
        for match in _HEREDOC.finditer(token.text):
            strip_tabs, word = match.group(1) == "-", match.group(3)
            while index < len(lines):
                text = lines[index][1]
                index += 1
                if (text.lstrip("\t") if strip_tabs else text) == word:
                    break
    return index
