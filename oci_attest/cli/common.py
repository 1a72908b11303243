"""Options and helpers every command shares, so flags mean the same thing everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from oci_attest.errors import InputError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def format_option(func: F) -> F:
    """``--format text|json``: json is for machines and goes to stdout alone."""
    return click.option("--format", "output_format", type=click.Choice(["text", "json"]),
                        default="text", show_default=True, help="Output format.")(func)


def key_value_pairs(values: Iterable[str], flag: str) -> dict[str, str]:
    """Parse repeated ``K=V`` options; ``K`` alone takes the value from the environment,
    as ``docker build --build-arg K`` does."""
    import os

    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key or any(c.isspace() for c in key):
            raise UsageError(f"{flag} {item[:40]!r} is not KEY=VALUE",
                             hint=f"write {flag} NAME=value")
        if not sep:
            if key not in os.environ:
                raise UsageError(f"{flag} {key} has no value and ${key} is not set",
                                 hint=f"write {flag} {key}=value")
            value = os.environ[key]
        pairs[key] = value
    return pairs


def progress_printer() -> Callable[[str], None]:
    """Progress goes to stderr so stdout stays parseable; ``-q`` silences it."""
    root = click.get_current_context().find_root()
    quiet = bool(root.params.get("quiet"))

    def show(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    return show


class ExistingPath(click.Path):
    """A path that must exist; a missing one is bad input (exit 3) like any file attest reads
    later, not a usage error (exit 2) because click happened to check it first."""

    def __init__(self, *, file_okay: bool = True, dir_okay: bool = False,
                 path_type: type[Any] | None = None) -> None:
        super().__init__(file_okay=file_okay, dir_okay=dir_okay, exists=False,
                         path_type=path_type)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        path = Path(value)
        flag = _flag(param)
        what = "directory" if not self.file_okay else "file"
        if not path.exists():
            raise InputError(f"{flag}{value}: no such {what}",
                             hint=f"check the path of the {what}")
        if self.file_okay and not self.dir_okay and path.is_dir():
            raise InputError(f"{flag}{value} is a directory, not a file")
        if self.dir_okay and not self.file_okay and not path.is_dir():
            raise InputError(f"{flag}{value} is not a directory")
        return super().convert(value, param, ctx)


def _flag(param: click.Parameter | None) -> str:
    if isinstance(param, click.Option) and param.opts:
        return f"{max(param.opts, key=len)} "
    return ""


#: A file that must exist (exit 3 when it does not), as a ``str`` / as a :class:`Path`.
EXISTING_FILE = ExistingPath()
EXISTING_FILE_PATH = ExistingPath(path_type=Path)
#: A directory that must exist (exit 3 when it does not).
EXISTING_DIR = ExistingPath(file_okay=False, dir_okay=True)
