"""One reading of a Dockerfile's text that attest's parser and the docker engine share.

attest parses the Dockerfile with ``dockerfile_parse``; the engine uses its own parser. Every
place where the two could split lines, spot directives or skip whitespace differently is a
place where a ``FROM`` escapes pinning and recording (a byte-order mark hides the first
``FROM`` from one of them; a form feed breaks a line for one and not the other; an ``escape``
directive one honours and the other ignores folds a ``FROM`` into a ``RUN``). So the text is
brought to the one form both read alike, or refused with the line and the fix:

* a leading UTF-8 byte-order mark is dropped (the engine drops it too); anywhere else refused;
* ``\\r\\n`` becomes ``\\n``; every other line break (lone ``\\r``, ``\\v``, ``\\f``, ``\\x1c``-
  ``\\x1e``, NEL, U+2028/2029) and every other control character is refused;
* whitespace other than space and tab (no-break space, ideographic space...) is refused: the
  two parsers disagree on what counts as a separator;
* a line holding only the escape character is refused (an empty continuation to the engine,
  an instruction named ``\\`` to ``dockerfile_parse``);
* a file that ends inside a line continuation is refused (the engine runs that last
  instruction, ``dockerfile_parse`` drops it);
* an ``escape`` directive is honoured by every engine version only on the first line; anywhere
  else in the leading comments (after ``# syntax=``, an empty directive or a blank line) it is
  refused, as is one whose value is not exactly one backslash or backtick.

The normalised text is what attest parses *and* what the engine builds (it is the source of
``Dockerfile.pinned``); the user's file and its digest are recorded untouched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from oci_attest.errors import InputError

BOM = "\ufeff"
#: Characters some line splitter or whitespace class treats specially; only tab and newline
#: (and space) are let through.
_ALLOWED_CONTROLS = {"\t", "\n"}
_ESCAPE_LIKE = re.compile(r"^[ \t]*#[ \t]*escape[ \t]*=", re.IGNORECASE)
_ESCAPE_EXACT = re.compile(r"^[ \t]*#[ \t]*escape[ \t]*=[ \t]*([\\`])[ \t]*$", re.IGNORECASE)
_COMMENT_OR_BLANK = re.compile(r"^[ \t]*(#.*)?$")


@dataclass(frozen=True)
class DockerfileText:
    """The normalised text and the escape character both parsers will use."""

    text: str
    escape: str


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _offending(char: str) -> bool:
    if char in _ALLOWED_CONTROLS or char == " ":
        return False
    category = unicodedata.category(char)
    # Cc: controls (\r, \f, \v, \x1c.., NEL); Zs/Zl/Zp: every Unicode space and line break;
    # Cf would be harmless to both parsers, except the BOM, handled by the caller.
    return category in ("Cc", "Zs", "Zl", "Zp") or char == BOM


def normalise_dockerfile(content: bytes, path: Path | str) -> DockerfileText:
    """The text both parsers read alike, or :class:`InputError` naming the line and the fix."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"Dockerfile {path} is not UTF-8 text",
                         hint="is -f pointing at a Dockerfile?") from None
    text = text.removeprefix(BOM).replace("\r\n", "\n")
    for number, line in enumerate(text.split("\n"), start=1):
        for char in line:
            if _offending(char):
                kind = "byte-order mark" if char == BOM else (
                    "line break" if char in "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
                    else "whitespace or control character")
                raise InputError(
                    f"Dockerfile {path} line {number}: {kind} {_describe(char)}, which the "
                    "docker engine and attest's parser could read differently",
                    hint="use plain spaces, tabs and \\n line breaks only")
    escape = _escape_directive(text, path)
    _check_last_line(text, escape, path)
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip(" \t") == escape:
            # The engine reads it as an empty line that continues into the next (whose FROM
            # then starts an instruction); dockerfile_parse as an instruction named ``\``.
            raise InputError(f"Dockerfile {path} line {number}: a line holding only the escape "
                             f"character {escape}", hint="remove the line")
    return DockerfileText(text=text, escape=escape)


def _check_last_line(text: str, escape: str, path: Path | str) -> None:
    """A file ending inside a line continuation: the engine still runs the last instruction,
    ``dockerfile_parse`` drops it (with whatever ``--from`` it names)."""
    lines = text.split("\n")
    for number in range(len(lines), 0, -1):
        line = lines[number - 1]
        if _COMMENT_OR_BLANK.match(line):
            continue  # the engine skips these inside a continuation too
        if line.rstrip(" \t").endswith(escape):
            raise InputError(f"Dockerfile {path} line {number}: the file ends inside a line "
                             f"continuation ({escape} at the end of the last instruction)",
                             hint=f"remove the trailing {escape}")
        return


def _escape_directive(text: str, path: Path | str) -> str:
    lines = text.split("\n")
    escape = "\\"
    for number, line in enumerate(lines, start=1):
        if not _COMMENT_OR_BLANK.match(line):
            break  # the first instruction: no directive after it is one for anybody
        if not _ESCAPE_LIKE.match(line):
            continue
        exact = _ESCAPE_EXACT.match(line)
        if number != 1:
            raise InputError(
                f"Dockerfile {path} line {number}: an escape directive that is not on the "
                "first line; docker engines differ on whether they honour it",
                hint="move `# escape=...` to line 1 or remove it")
        if not exact:
            raise InputError(f"Dockerfile {path} line 1: malformed escape directive "
                             f"{line.strip()[:40]!r}",
                             hint="write `# escape=\\` or `# escape=`` exactly")
        escape = exact.group(1)
    return escape
