"""Scan an image's config (environment, command, labels, history) for credentials.

A token in ``ENV``, in a ``RUN`` line or passed as a build argument never touches a layer's
files, yet anyone who pulls the image reads it with ``docker inspect`` or ``docker history``.
Every string anywhere in the config document is scanned with the content rules, so a field
added by a future engine is covered too; a finding names the field (``config.Env[2]``,
``history[4].created_by``), never the value.

Build arguments are a special case: the classic builder prefixes each ``RUN`` it records with
``|N NAME=value ...``; a build argument whose name looks secret (the same names attest redacts
in the provenance) is a finding there, whatever its value looks like.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from oci_attest.redact import name_looks_secret
from oci_attest.secrets.rules import BUILD_ARG, Match, content_rules, looks_interesting

_MAX_DEPTH = 32
_BUILD_ARGS_PREFIX = re.compile(r"^\s*(?:RUN\s+)?\|(\d{1,4})\s")
_BUILD_ARG = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)")


def strings(document: Any, where: str = "", depth: int = 0) -> Iterator[tuple[str, str | None]]:
    """(field path, text) for every string in a JSON document, a mapping's keys included (a
    label's name can hold a secret as well as its value); text ``None`` marks a part nested
    too deep to walk (reported as skipped, never silently left out)."""
    if depth > _MAX_DEPTH:
        yield where, None
        return
    if isinstance(document, str):
        yield where, document
    elif isinstance(document, dict):
        for key, value in document.items():
            path = f"{where}.{key}" if where else str(key)
            yield path, str(key)
            yield from strings(value, path, depth + 1)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from strings(item, f"{where}[{index}]", depth + 1)


def scan_config(config: dict[str, Any]) -> tuple[list[tuple[str, Match]], list[str]]:
    """(field path, match) for every rule that fires on a string of the image config, and the
    paths of the parts too deeply nested to scan."""
    found: list[tuple[str, Match]] = []
    too_deep: list[str] = []
    for where, text in strings(config):
        if text is None:
            too_deep.append(where)
            continue
        data = text.encode("utf-8", "surrogateescape")
        if looks_interesting(data):
            found.extend((where, Match(match.rule, 0)) for match in content_rules(data))
        if where.endswith(".created_by") and _secret_build_arg(text):
            found.append((where, Match(BUILD_ARG, 0)))
    return found, too_deep


def _secret_build_arg(created_by: str) -> bool:
    prefix = _BUILD_ARGS_PREFIX.match(created_by)
    if prefix is None:
        return False
    count = int(prefix.group(1))
    args = _BUILD_ARG.findall(created_by, prefix.end())[:count]
    return any(value and name_looks_secret(name) for name, value in args)
