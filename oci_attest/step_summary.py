"""GitHub Actions job summaries: a few Markdown lines appended to ``$GITHUB_STEP_SUMMARY``.

A job summary is where a reviewer looks first; ``build``, ``verify`` (and ``scan``) append
what they did when the variable is set, and do nothing otherwise. Everything shown comes from
images and attestations, i.e. from whoever could push to the registry, so each value is
escaped for Markdown (GitHub renders summaries as Markdown with HTML) and kept to one line.
Failing to write a summary never fails the command: it is a courtesy, not the result.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def md(text: object, limit: int = 300) -> str:
    """One line of literal text for Markdown (and its embedded HTML): every special character
    backslash-escaped, ``<``/``>``/``&`` as entities, control characters dropped."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[:limit] + "…"
    value = "".join(c for c in value if c.isprintable())
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", value)


def append(markdown: str, environ: Mapping[str, str] | None = None) -> bool:
    """Append ``markdown`` to the job summary; True when written."""
    path = (environ if environ is not None else os.environ).get(STEP_SUMMARY_ENV)
    if not path:
        return False
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown.rstrip("\n") + "\n\n")
    except OSError as error:
        log.warning("could not append to $%s (%s): %s", STEP_SUMMARY_ENV, path, error.strerror)
        return False
    return True


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A Markdown table; every cell escaped."""
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def build_markdown(image: str, attestations: Iterable[Mapping[str, Any]]) -> str:
    rows = []
    for attestation in attestations:
        where = ", ".join(f"{loc.get('layout')} {str(loc.get('digest', ''))[:19]}"
                          for loc in attestation.get("locations", [])) or "not attached"
        rows.append((attestation.get("name", "?"), where))
    return (f"### attest build\n\nPushed {md(image)}\n\n"
            + table(["attestation", "attached as"], rows))


def verify_markdown(verdict: Any) -> str:
    """``verdict`` is a :class:`oci_attest.verify.results.Verdict`."""
    result = "PASS" if verdict.passed else "FAIL"
    rows = [("PASS" if c.passed else "FAIL", c.name, c.reason)
            for c in verdict.checks if c.enforced]
    return (f"### attest verify: {result}\n\n{md(verdict.target)}\n\n"
            + table(["result", "check", "reason"], rows))
