"""``attest version`` and ``attest completion``: the two questions asked of any CLI first.

``version`` reports what a bug report needs (attest, sigstore, Python, and the container
tools attest drives when they are installed); the tools are asked for their *client* version
only, so it answers in a second even when no engine is running.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from importlib import metadata

import click

from oci_attest import __version__
from oci_attest.cli.common import format_option

_TOOLS = {"docker": ["docker", "version", "--format", "{{.Client.Version}}"],
          "buildah": ["buildah", "--version"]}


def _tool_version(name: str) -> str | None:
    command = _TOOLS[name]
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (did not answer)"
    text = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    if name == "buildah":  # "buildah version 1.28.2 (image-spec 1.0.2, runtime-spec ...)"
        text = text.removeprefix("buildah version ").split(" ", 1)[0]
    return text or "unknown"


def versions() -> dict[str, str | None]:
    def dist(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"attest": __version__, "sigstore": dist("sigstore"),
            "python": platform.python_version(), "platform": platform.platform(terse=True),
            "docker": _tool_version("docker"), "buildah": _tool_version("buildah")}


@click.command()
@format_option
def version(output_format: str) -> None:
    """Print the versions of attest, sigstore, Python, and docker/buildah when installed.

    \b
    Example:
      attest version --format json

    Exit codes: 0 printed.
    """
    found = versions()
    if output_format == "json":
        click.echo(json.dumps(found, indent=2))
        return
    for name, value in found.items():
        if value is not None:
            click.echo(f"{name + ':':<10}{value}")


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    Examples (load it for the current shell, or install it for every new one):
      bash:  source <(attest completion bash)
             attest completion bash > /etc/bash_completion.d/attest
      zsh:   source <(attest completion zsh)
      fish:  attest completion fish > ~/.config/fish/completions/attest.fish

    Exit codes: 0 printed, 2 unknown shell.
    """
    from click.shell_completion import get_completion_class

    from oci_attest.cli import cli

    completion_class = get_completion_class(shell)
    assert completion_class is not None  # click ships all three
    click.echo(completion_class(cli, {}, "attest", "_ATTEST_COMPLETE").source())
