"""Remote inputs of ``ADD``: URLs and git repositories, in every form the engine accepts.

The engine downloads ``ADD`` sources after expanding ARG and ENV values in them, in the shell
form and the JSON form alike, so reading only literal ``http`` words in the shell form misses
``ARG U=http://...`` + ``ADD $U /a`` and ``ADD ["http://...", "/b"]`` while the bytes still end
up in the image. Here each source is expanded the way the engine expands it and classified; a
remote input whose content digest cannot be recorded (no ``--checksum``, a git ref that is not a
commit) is recorded as unpinned so that a verifier can refuse it (``requirePinnedRemoteInputs``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from oci_attest.collect.source import strip_credentials

_FLAG = re.compile(r"^--([a-z-]+)(?:=(.*))?$", re.IGNORECASE | re.DOTALL)
_GIT = re.compile(r"^(?:git@[^:/\s]+:|git://|ssh://|git\+|(?:https?://)?github\.com/)"
                  r"|\.git(?:#.*)?$", re.IGNORECASE)
_HTTP = re.compile(r"^https?://", re.IGNORECASE)
_COMMIT = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class RemoteFile:
    """One remote input: ``ADD <url>`` or ``ADD <git repo>``, with its digest when pinned.

    ``digest`` is ``algorithm:hex`` (``sha256:...`` from ``--checksum``, ``gitCommit:...``
    from a commit in a git URL's fragment); ``via`` names an ONBUILD trigger that brought it in.
    """

    url: str
    line: int
    digest: str | None = None
    kind: str = "http"
    via: str | None = None

    @property
    def pinned(self) -> bool:
        return self.digest is not None


Expand = Callable[[str], str]


_LEADING_FLAG = re.compile(r"^\s*(--[A-Za-z-]+(?:=\S*)?)(?=\s|$)")


def add_sources(value: str, expand: Expand) -> tuple[dict[str, str], list[str]]:
    """The flags and the expanded sources of one ``ADD`` instruction's value (the last word,
    the destination, is dropped)."""
    flags: dict[str, str] = {}
    rest = value
    while match := _LEADING_FLAG.match(rest):
        flag = _FLAG.match(match.group(1))
        assert flag is not None
        flags[flag.group(1).lower()] = expand(flag.group(2) or "")
        rest = rest[match.end():]
    rest = rest.strip()
    items: list[str] | None = None
    if rest.startswith("["):
        try:
            parsed = json.loads(rest)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            items = [_expand_json(p, expand) for p in parsed]
    if items is None:
        items = [expand(word) for word in rest.split()]
    return flags, items[:-1]


def _expand_json(word: str, expand: Expand) -> str:
    """JSON-form words are expanded too (the engine does for ADD/COPY), as one word."""
    if "$" not in word:
        return word
    return expand('"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"')


def remote_inputs(value: str, line: int, expand: Expand, via: str | None = None
                  ) -> list[RemoteFile]:
    """Every remote source of one ``ADD`` value; local paths are not returned."""
    flags, sources = add_sources(value, expand)
    checksum = flags.get("checksum")
    found = []
    for source in sources:
        if _GIT.search(source):
            url, _, fragment = source.partition("#")
            ref = fragment.split(":", 1)[0]
            digest = None
            if _COMMIT.match(ref):
                digest = f"gitCommit:{ref}"
            elif checksum and _COMMIT.match(checksum):
                digest = f"gitCommit:{checksum}"
            clean = strip_credentials(url) + (f"#{fragment}" if fragment else "")
            found.append(RemoteFile(url=clean, line=line, digest=digest, kind="git", via=via))
        elif _HTTP.match(source):
            digest = checksum if checksum and _SHA256.match(checksum) else None
            found.append(RemoteFile(url=_strip_userinfo(source), line=line, digest=digest,
                                    kind="http", via=via))
    return found


def _strip_userinfo(url: str) -> str:
    """Credentials never reach signed provenance; the query is kept (it names the file)."""
    return re.sub(r"^(https?://)[^/@]*@", r"\1", url, flags=re.IGNORECASE)


def remote_file_from_json(data: Mapping[str, object]) -> RemoteFile:
    return RemoteFile(url=str(data["url"]), line=int(str(data["line"])),
                      digest=str(data["digest"]) if data.get("digest") else None,
                      kind=str(data.get("kind") or "http"),
                      via=str(data["via"]) if data.get("via") else None)
