"""A command with a bug in it, to see the CLI report an unexpected exception as exit 70."""

import click


@click.command(name="bug")
def bug() -> None:
    """Example: attest bug"""
    raise ZeroDivisionError("a bug")
