"""Variable expansion of one Dockerfile word, as the engine's shell-word lexer does it.

``dockerfile_parse``'s splitter mangles ``${A:-default}``; what an ``ADD`` source or a ``FROM``
image expands to must be what the engine expands it to, or a download or a base goes
unrecorded. Supported, as in the engine: ``$NAME``, ``${NAME}``, ``${NAME:-word}``,
``${NAME:+word}``, ``${NAME-word}``, ``${NAME+word}``, single and double quotes, and the
Dockerfile's escape character. An unknown variable expands to nothing, as in the engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from oci_attest.errors import InputError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_EXPANDED = 64 * 1024


def expand_word(word: str, variables: Mapping[str, str], escape: str = "\\") -> str:
    """``word`` with quotes removed and variables replaced."""
    out: list[str] = []
    index = 0
    quote: str | None = None
    length = len(word)
    while index < length:
        char = word[index]
        if char == escape and quote != "'":
            if index + 1 < length:
                out.append(word[index + 1])
            index += 2
            continue
        if quote == "'":
            if char == "'":
                quote = None
            else:
                out.append(char)
            index += 1
            continue
        if char in "'\"" and (quote is None or quote == char):
            quote = "'" if char == "'" and quote is None else None if quote == '"' else '"'
            index += 1
            continue
        if char == "$":
            value, index = _variable(word, index + 1, variables, escape)
            out.append(value)
        else:
            out.append(char)
            index += 1
        if sum(len(part) for part in out) > MAX_EXPANDED:
            raise InputError(f"{word[:60]!r} expands to more than {MAX_EXPANDED} bytes")
    return "".join(out)


def _variable(word: str, index: int, variables: Mapping[str, str], escape: str
              ) -> tuple[str, int]:
    if index < len(word) and word[index] == "{":
        end = _closing_brace(word, index + 1)
        body = word[index + 1:end]
        match = _NAME.match(body)
        if not match:
            raise InputError(f"bad substitution {word[index - 1:end + 1][:60]!r}")
        name = match.group(0)
        rest = body[match.end():]
        value = variables.get(name)
        if not rest:
            return value or "", end + 1
        colon = rest.startswith(":")
        operator = rest[1:2] if colon else rest[:1]
        argument = rest[2:] if colon else rest[1:]
        is_set = value is not None and (value != "" or not colon)
        if operator == "-":
            return (value or "") if is_set else expand_word(argument, variables, escape), end + 1
        if operator == "+":
            return expand_word(argument, variables, escape) if is_set else "", end + 1
        raise InputError(f"unsupported substitution {word[index - 1:end + 1][:60]!r}",
                         hint="use ${NAME}, ${NAME:-default} or ${NAME:+value}")
    match = _NAME.match(word, index)
    if not match:
        return "$", index
    return variables.get(match.group(0), ""), match.end()


def _closing_brace(word: str, index: int) -> int:
    depth = 1
    while index < len(word):
        if word[index] == "{":
            depth += 1
        elif word[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise InputError(f"unterminated ${{ in {word[:60]!r}")
