"""Every option from the environment (ATTEST_<COMMAND>_<OPTION>), and one documented table of
every environment variable the code reads."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import click
from click.testing import CliRunner

from oci_attest.cli import cli
from tests.cli.test_conventions import _commands

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")


def test_every_option_has_an_attest_environment_variable_named_after_its_flag():
    for name, command in _commands():
        prefix = "ATTEST_" + name.upper().replace("-", "_").replace(" ", "_")
        for param in command.params:
            if isinstance(param, click.Option):
                flag = max(param.opts, key=len).lstrip("-").upper().replace("-", "_")
                assert param.envvar == f"{prefix}_{flag}", (name, param.opts)


def test_options_are_read_from_the_environment():
    result = CliRunner().invoke(cli, ["version"], env={"ATTEST_VERSION_FORMAT": "json"})
    assert result.exit_code == 0
    assert json.loads(result.stdout)["attest"]
    result = CliRunner().invoke(cli, ["verify", "reg.test/app:1", "--certificate-identity", "a",
                                      "--certificate-oidc-issuer", "b"],
                                env={"ATTEST_VERIFY_PREDICATE_TYPE": "bogus"})
    assert result.exit_code == 2
    assert "unknown --type 'bogus'" in result.stderr
    # the command line wins
    result = CliRunner().invoke(cli, ["version", "--format", "text"],
                                env={"ATTEST_VERSION_FORMAT": "json"})
    assert result.stdout.startswith("attest:")


def _variables_read() -> set[str]:
    """Names passed to os.getenv / environ.get / environ[...] / env.get, and *_ENV constants."""
    found: set[str] = set()
    for path in (ROOT / "oci_attest").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            key = None
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.endswith("_ENV")
                    and isinstance(node.value, ast.Constant)):
                key = node.value.value
            elif (isinstance(node, ast.Call) and node.args
                  and isinstance(node.args[0], ast.Constant)):
                func = node.func
                owner = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called == "getenv" or (called in ("get", "pop")
                                          and re.search(r"environ|\benv\b", owner)):
                    key = node.args[0].value
            elif (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
                  and re.search(r"environ|^env$", ast.unparse(node.value))):
                key = node.slice.value
            if isinstance(key, str) and _NAME.match(key):
                found.add(key)
    return found


def test_every_environment_variable_read_is_documented():
    table = (ROOT / "docs" / "environment.md").read_text()
    read = _variables_read()
    assert {"ATTEST_INSECURE_REGISTRIES", "ATTEST_HTTP_TIMEOUT", "ATTEST_RETRY_ATTEMPTS",
            "SIGSTORE_ID_TOKEN", "GITHUB_STEP_SUMMARY"} <= read  # the scan sees them
    missing = sorted(name for name in read if f"`{name}`" not in table)
    assert missing == []
