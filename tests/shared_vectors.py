"""Where the read-only external test vectors live (never imported or installed from).

CI runs on a clean clone that may sit anywhere, so the vectors are looked for in
``$ATTEST_SHARED_DIR``, then beside the checkout (``../shared``), then at ``/work/shared``.
Tests that need them skip (fail when ``CI=true``) naming the path tried when none exists.
"""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [
    Path(os.environ["ATTEST_SHARED_DIR"]) if os.environ.get("ATTEST_SHARED_DIR") else None,
    Path(__file__).resolve().parents[1].parent / "shared",
    Path("/work/shared"),
]


def shared_dir() -> Path:
    """The first candidate that exists, else the first one (so skips name a real path)."""
    existing = [c for c in _CANDIDATES if c is not None and c.is_dir()]
    if existing:
        return existing[0]
    return next(c for c in _CANDIDATES if c is not None)
