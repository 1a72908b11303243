"""One readable line for a YAML syntax error: ``line 3, column 1: expected ...``.

PyYAML's and ruamel's messages span several lines, quote the input as ``"<unicode string>"``
and draw a caret; the caller already names the file, so only the position and the problem are
kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from oci_attest.errors import InputError


def yaml_problem(error: BaseException) -> str:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "context", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {' '.join(str(problem).split())}"
    text = " ".join(str(error).split()).replace('in "<unicode string>", ', "")
    return text[:200]


def load_yaml_file(path: Path, what: str) -> Any:
    """A YAML (or JSON) file's document; unreadable, not UTF-8 or not YAML is bad input
    naming ``what`` and the file, never a traceback."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read {what} {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} {path} is not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InputError(f"{what} {path} is not valid YAML: {yaml_problem(error)}") from None
