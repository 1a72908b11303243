"""One readable line for a YAML syntax error: ``line 3, column 1: expected ...``.

PyYAML's and ruamel's messages span several lines, quote the input as ``"<unicode string>"``
and draw a caret; the caller already names the file, so only the position and the problem are
kept.
"""

from __future__ import annotations


def yaml_problem(error: BaseException) -> str:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "context", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {' '.join(str(problem).split())}"
    text = " ".join(str(error).split()).replace('in "<unicode string>", ', "")
    return text[:200]
