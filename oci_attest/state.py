"""The state directory of a producer run: every artifact as a file, every finished step noted.

A release must never lose work to a flaky registry or signing service: each step writes its
outputs atomically and then records itself as done in ``state.json``, so ``--resume DIR``
picks up exactly where a failed run stopped, without rebuilding or re-signing. Nothing secret
is ever written here (identity tokens are asked for again on resume).
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from oci_attest._internal.files import write_bytes_atomic, write_json_atomic
from oci_attest.errors import InputError

STATE_FILE = "state.json"
STATE_VERSION = 1
#: The only file names a run reads or writes in its directory: a plain name, no path.
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")


def check_directory(directory: Path) -> None:
    """Refuse a state directory another user could have prepared or can change under us:
    what is signed is read back from it, so it must be ours and writable by us alone."""
    try:
        info = directory.stat()
    except OSError as error:
        raise InputError(f"cannot use {directory}: {error.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"{directory} is not a directory")
    if info.st_uid != os.geteuid():
        raise InputError(f"{directory} is owned by another user (uid {info.st_uid})",
                         hint="pick an --output directory of your own")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InputError(f"{directory} is writable by other users "
                         f"(mode {stat.S_IMODE(info.st_mode):o})",
                         hint=f"chmod go-w {directory}, or pick another --output directory")


#: The keys each recorded step must hold (with their types) for a resumed run to use it.
_STEP_FIELDS: dict[str, dict[str, type]] = {
    "collect": {}, "check-build": {}, "secret-scan": {}, "push": {}, "sign": {},
    "attach": {}, "finish": {},
    "build": {"imageId": str, "startedOn": str, "finishedOn": str, "backend": str,
              "backendVersion": dict},
    "describe": {"statements": list},
}


def _check_steps(path: Path, steps: dict[str, Any]) -> None:
    """A resumed run reads these; a malformed one is bad input, not an internal error."""
    for name, fields in _STEP_FIELDS.items():
        value = steps.get(name)
        if value is None:
            continue
        if not isinstance(value, dict) or any(not isinstance(value.get(key), kind)
                                              for key, kind in fields.items()):
            raise InputError(f"{path}: step {name!r} is malformed",
                             hint="the state file was tampered with; start a new run")
        if name in ("push", "attach") and not all(isinstance(v, str) for v in value.values()):
            raise InputError(f"{path}: step {name!r} is malformed",
                             hint="the state file was tampered with; start a new run")


def check_name(name: str) -> str:
    """A file name from the state file is a plain name, never a path (``../escape``)."""
    if not isinstance(name, str) or not _FILE_NAME.match(name) or len(name) > 100:
        raise InputError(f"the state directory names a file {str(name)[:60]!r}, which is not a "
                         "plain file name", hint="the state.json was tampered with; start a "
                                                 "new run")
    return name


class RunState:
    """``state.json`` plus the artifact files next to it."""

    def __init__(self, directory: Path, data: dict[str, Any]) -> None:
        self.directory = directory
        self.data = data

    @classmethod
    def create(cls, directory: Path, options: dict[str, Any]) -> RunState:
        if not directory.exists():
            directory.mkdir(parents=True)
            directory.chmod(0o755)  # whatever the umask: ours alone to write
        check_directory(directory)
        if (directory / STATE_FILE).exists():
            raise InputError(f"{directory} already holds a run",
                             hint=f"resume it with `attest build --resume {directory}` or pick "
                                  "another --output directory")
        state = cls(directory, {"version": STATE_VERSION, "options": options, "steps": {}})
        state.save()
        return state

    @classmethod
    def load(cls, directory: Path) -> RunState:
        path = directory / STATE_FILE
        check_directory(directory)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"{directory} holds no attest run (no {STATE_FILE})",
                             hint="pass the --output directory of the run to resume") from None
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read {path}: {error}") from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise InputError(f"{path} was written by an incompatible attest version")
        if not isinstance(data.get("options"), dict) or not isinstance(data.get("steps"), dict):
            raise InputError(f"{path} is malformed (no options or steps)")
        _check_steps(path, data["steps"])
        return cls(directory, data)

    def save(self) -> None:
        write_json_atomic(self.directory / STATE_FILE, self.data)

    @property
    def options(self) -> dict[str, Any]:
        options = self.data["options"]
        assert isinstance(options, dict)
        return options

    def step(self, name: str) -> Any:
        return self.data["steps"].get(name)

    def done(self, name: str, value: Any) -> None:
        self.data["steps"][name] = value
        self.save()

    def record(self, step: str, key: str, value: Any) -> None:
        """Note one sub-result of a step (one push, one attachment) as soon as it happens."""
        self.data["steps"].setdefault(step, {})[key] = value
        self.save()

    def write(self, name: str, data: bytes) -> Path:
        path = self.directory / check_name(name)
        write_bytes_atomic(path, data)
        return path

    def write_json(self, name: str, document: Any) -> Path:
        path = self.directory / check_name(name)
        write_json_atomic(path, document)
        return path

    def read(self, name: str) -> bytes:
        path = self.directory / check_name(name)
        try:
            return path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read {path}: {error.strerror}",
                             hint="the state directory is incomplete; start a new run") from None

    def has(self, name: str) -> bool:
        return (self.directory / check_name(name)).is_file()
