"""Which files ``attest pin`` reads, what kind each is, and how a pinned file is written back.

Kinds are told by name, as people and tools name them: ``Dockerfile``, ``Containerfile``,
``*.Dockerfile``, ``Dockerfile.*`` are Dockerfiles; ``*.yaml`` / ``*.yml`` are YAML (Kubernetes,
compose, workflows, told apart by shape). A directory is walked for those names, skipping VCS
and dependency folders. Standard input (``-``) is YAML, the output of ``helm template``.
Writes go to a temporary file beside the original, keep its mode, and replace it atomically.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from oci_attest.errors import InputError
from oci_attest.pin.dockerfile import scan_dockerfile
from oci_attest.pin.manifests import scan_yaml
from oci_attest.pin.sites import Site, Skipped

_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "vendor", ".venv", "venv",
                        "__pycache__", ".tox"})
_YAML_SUFFIXES = (".yaml", ".yml")
#: Larger files are refused: pinning reads each file whole, and no manifest is this big.
MAX_FILE_BYTES = 32 * 1024 * 1024


@dataclass
class PinFile:
    path: Path
    display: str
    content: str
    is_stdin: bool = False
    sites: list[Site] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def is_dockerfile_name(name: str) -> bool:
    lowered = name.lower()
    return (lowered in ("dockerfile", "containerfile") or lowered.endswith(".dockerfile")
            or lowered.startswith(("dockerfile.", "containerfile.")))


def load_files(paths: Sequence[str], *, stdin_text: str | None = None) -> list[PinFile]:
    """Every file to pin, read and scanned; bad paths and unknown kinds are input errors."""
    if not paths:
        raise InputError("no files to pin",
                         hint="name files or directories, or - for YAML on stdin")
    files: list[PinFile] = []
    for raw in paths:
        if raw == "-":
            if stdin_text is None:
                raise InputError("- was given but standard input could not be read")
            files.append(_scanned(Path("-"), "<stdin>", stdin_text, "yaml", is_stdin=True))
            continue
        path = Path(raw)
        if path.is_dir():
            for found in _walk(path):
                files.append(_scanned(found, str(found), _read(found), _kind(found)))
        elif path.is_file():
            kind = _kind(path)
            if kind is None:
                raise InputError(f"cannot tell what kind of file {raw} is",
                                 hint="pin Dockerfiles (Dockerfile, *.Dockerfile, "
                                      "Containerfile) and YAML files (*.yaml, *.yml)")
            files.append(_scanned(path, raw, _read(path), kind))
        else:
            raise InputError(f"{raw} does not exist", hint="check the path")
    return files


def _kind(path: Path) -> str | None:
    if is_dockerfile_name(path.name):
        return "dockerfile"
    if path.suffix.lower() in _YAML_SUFFIXES:
        return "yaml"
    return None


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            candidate = Path(directory) / name
            if _kind(candidate) is not None and not candidate.is_symlink():
                found.append(candidate)
    return found


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
                             hint="pin it in smaller pieces")
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text", hint="convert it to UTF-8") from None


def _scanned(path: Path, display: str, content: str, kind: str | None, *,
             is_stdin: bool = False) -> PinFile:
    pin_file = PinFile(path, display, content, is_stdin=is_stdin)
    scan = (scan_dockerfile(display, content) if kind == "dockerfile"
            else scan_yaml(display, content))
    pin_file.sites = scan.sites
    pin_file.skipped = scan.skipped
    return pin_file


def write_atomically(path: Path, content: str) -> None:
    """Replace ``path`` with ``content`` in one rename, keeping its permission bits."""
    mode = stat.S_IMODE(path.stat().st_mode)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed before the rename)
        "w", encoding="utf-8", newline="", dir=path.parent, prefix=f".{path.name}.",
        suffix=".pin", delete=False)
    try:
        with handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, mode)
        os.replace(handle.name, path)
    except OSError as error:
        Path(handle.name).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {error.strerror}") from None
