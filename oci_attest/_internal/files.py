"""Atomic file writes, so an interrupted run never leaves a half-written artifact behind.

Resuming a build trusts what is in the state directory; that is only safe if every file there
is either complete or absent.

The temporary file ``mkstemp`` makes is 0600; the result gets the mode any other tool would
give it (0666 minus the umask), since reports, SBOMs and statements are meant to be shared (a
CI step running as another user must be able to read them). A caller with something private
passes ``mode``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``os.umask`` sets it,
    which races with other threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write to a temporary sibling, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode if mode is not None else 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, document: Any) -> None:
    """Pretty, key-sorted JSON so artifacts diff cleanly between runs."""
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(path, text.encode())


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())
