"""The state directory of a producer run: every artifact as a file, every finished step noted.

A release must never lose work to a flaky registry or signing service: each step writes its
outputs atomically and then records itself as done in ``state.json``, so ``--resume DIR``
picks up exactly where a failed run stopped, without rebuilding or re-signing. Nothing secret
is ever written here (identity tokens are asked for again on resume).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oci_attest._internal.files import write_bytes_atomic, write_json_atomic
from oci_attest.errors import InputError

STATE_FILE = "state.json"
STATE_VERSION = 1


class RunState:
    """``state.json`` plus the artifact files next to it."""

    def __init__(self, directory: Path, data: dict[str, Any]) -> None:
        self.directory = directory
        self.data = data

    @classmethod
    def create(cls, directory: Path, options: dict[str, Any]) -> RunState:
        directory.mkdir(parents=True, exist_ok=True)
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
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"{directory} holds no attest run (no {STATE_FILE})",
                             hint="pass the --output directory of the run to resume") from None
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read {path}: {error}") from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise InputError(f"{path} was written by an incompatible attest version")
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
        path = self.directory / name
        write_bytes_atomic(path, data)
        return path

    def write_json(self, name: str, document: Any) -> Path:
        path = self.directory / name
        write_json_atomic(path, document)
        return path

    def read(self, name: str) -> bytes:
        return (self.directory / name).read_bytes()

    def has(self, name: str) -> bool:
        return (self.directory / name).is_file()
