"""Tests that need a tool or data the machine may lack: skip on a laptop, fail in CI.

A developer without ``cargo`` or the external vectors should still be able to run the rest,
so there a missing prerequisite skips with the fix in its reason. In CI (``CI=true``) the same
gap would silently shrink what is tested, so it fails instead: ``scripts/setup`` installs every
tool, and the vectors must sit beside the clone (``../shared``).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(what: str) -> NoReturn:
    """Stop the current test because ``what`` (a sentence with the fix) is unavailable."""
    if in_ci():
        pytest.fail(f"prerequisite missing (CI=true, so this is a failure, not a skip): {what}",
                    pytrace=False)
    pytest.skip(what)


def requires(available: bool, what: str) -> pytest.MarkDecorator:
    """A mark for a test or module: :func:`missing` at setup when ``available`` is false."""
    return pytest.mark.prerequisite(available=available, what=what)


def check_marks(item: pytest.Item) -> None:
    for mark in item.iter_markers("prerequisite"):
        if not mark.kwargs["available"]:
            missing(mark.kwargs["what"])
