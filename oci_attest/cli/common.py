"""Options and helpers every command shares, so flags mean the same thing everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from oci_attest.errors import UsageError

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
