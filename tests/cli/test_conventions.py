"""Conventions users of cosign, syft and gh expect of any CLI: version, completion, typo
suggestions, and a --help that documents every option and the exit codes."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from oci_attest import __version__
from oci_attest.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    found = []

    def walk(group: click.Group, prefix: str) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            found.append((f"{prefix}{name}", command))
            if isinstance(command, click.Group):
                walk(command, f"{prefix}{name} ")

    walk(cli, "")
    return found


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_help_documents_every_option_and_the_exit_codes(name):
    commands = [(n, c) for n, c in _commands() if n.split()[0] == name]
    assert commands
    for full_name, command in commands:
        undocumented = [p.opts[0] for p in command.params
                        if isinstance(p, click.Option) and not p.hidden and not p.help]
        assert undocumented == [], f"attest {full_name}: options without help {undocumented}"
        result = CliRunner().invoke(cli, [*full_name.split(), "--help"])
        assert result.exit_code == 0, result.output
        assert "Exit codes:" in result.output, f"attest {full_name} --help has no exit codes"


def test_a_mistyped_command_gets_a_suggestion():
    result = CliRunner().invoke(cli, ["verfy", "app:1"])
    assert result.exit_code == 2
    assert "no such command 'verfy'; did you mean verify?" in result.output
    result = CliRunner().invoke(cli, ["zzzzzz"])
    assert result.exit_code == 2
    assert "no such command 'zzzzzz'" in result.output and "did you mean" not in result.output


def test_version_names_attest_sigstore_python_and_the_container_tools():
    from importlib import metadata

    result = CliRunner().invoke(cli, ["version", "--format", "json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["attest"] == __version__
    assert found["sigstore"] == metadata.version("sigstore")
    assert found["python"] == platform.python_version()
    if shutil.which("docker"):
        client = subprocess.run(["docker", "version", "--format", "{{.Client.Version}}"],
                                capture_output=True, text=True, check=False).stdout.strip()
        assert found["docker"] == client
    else:
        assert found["docker"] is None
    text = CliRunner().invoke(cli, ["version"]).stdout
    assert f"attest:   {__version__}" in text and "python:" in text


def _attest_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_bash_completion_completes_commands_in_a_real_bash():
    script = CliRunner().invoke(cli, ["completion", "bash"]).stdout
    program = (f"{script}\nCOMP_WORDS=(attest ver); COMP_CWORD=1; _attest_completion attest;"
               " printf '%s\\n' \"${COMPREPLY[@]}\"")
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True,
                          env=_attest_env(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == ["verify", "version"]


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "compdef _attest_completion attest"),
                                               ("fish", "complete --no-files --command attest")])
def test_zsh_and_fish_completion_scripts(shell, marker):
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0
    assert marker in result.stdout and "_ATTEST_COMPLETE" in result.stdout
    assert CliRunner().invoke(cli, ["completion", "tcsh"]).exit_code == 2


def test_dash_o_is_always_output():
    """One meaning for -o: where the result goes, spelled --output everywhere."""
    seen = 0
    for name, command in _commands():
        for param in command.params:
            if isinstance(param, click.Option) and "-o" in param.opts:
                assert "--output" in param.opts, (name, param.opts)
                seen += 1
    assert seen >= 5  # build, provenance, sign, sbom, report
