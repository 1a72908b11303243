"""The command surface: every command documents itself with an example, errors are one line."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    import click
    names = cli.list_commands(click.Context(cli))
    assert {"build", "sbom", "verify", "promote", "sign", "attach", "provenance",
            "scan-secrets"} <= set(names)
    for name in names:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.output, f"attest {name} --help shows no example"


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "oci_attest", "--version"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0 and "attest" in result.stdout


def test_unknown_option_is_a_usage_error():
    assert CliRunner().invoke(cli, ["build", "--no-such-flag"]).exit_code == 2


@pytest.mark.parametrize("args", [["sign", "/nonexistent.json"],
                                  ["attach", "127.0.0.1:9/x:1", "/nonexistent.json"]])
def test_missing_files_are_bad_input_without_traceback(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3  # bad input, as for every file attest reads (issue 8)
    assert "Traceback" not in result.output


def test_a_non_statement_is_refused_before_signing(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": "world"}')
    result = CliRunner().invoke(cli, ["sign", str(path)])
    assert result.exit_code == 3
    assert "statement" in result.stderr and "Traceback" not in result.output
