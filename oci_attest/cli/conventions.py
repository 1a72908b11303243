"""Help and typo conventions shared by every command, kept out of the command modules.

* Every command's ``--help`` ends with an exit-code section. Commands whose docstring does
  not carry one get it from :data:`EXIT_CODES` here, so the contract lives next to the codes
  in :mod:`oci_attest.errors` and README "Exit codes".
* Every option can come from the environment as ``ATTEST_<COMMAND>_<OPTION>``, named after
  the option's long flag (click's automatic names follow the Python parameter name, which is
  not what users read in ``--help``: ``--format`` would be ``..._OUTPUT_FORMAT``).
* A mistyped command gets a suggestion (``attest verfy`` -> "did you mean verify?"), as git
  and cosign do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import click

_COMMON = "2 usage, 3 bad input"
EXIT_CODES = {
    "build": f"0 built, pushed and attested, {_COMMON}, 4 build failed, 5 registry error, "
             "6 signing error, 7 secrets found (--scan-secrets), 8 a base image does not "
             "exist, 9 vulnerabilities found (--scan-vulns --fail-on)",
    "provenance": f"0 written (and attached), {_COMMON}, 5 registry error, 6 signing error",
    "sign": f"0 signed (and attached), {_COMMON}, 5 registry error, 6 signing error",
    "attach": f"0 attached, {_COMMON}, 5 registry error, 6 signing error",
    "scan-secrets": f"0 no secrets found, {_COMMON}, 5 registry error, 7 secrets found",
}


def with_exit_codes(command: click.Command, name: str) -> click.Command:
    """Append the exit-code section to ``command``'s help when its docstring lacks one."""
    help_text = command.help or ""
    if "Exit codes" not in help_text + (command.epilog or "") and name in EXIT_CODES:
        command.help = f"{help_text.rstrip()}\n\nExit codes: {EXIT_CODES[name]}."
    return command


def suggestion(name: str, known: Iterable[str]) -> str:
    """`` (did you mean verify?)`` for a near miss, else an empty string."""
    close = difflib.get_close_matches(name, list(known), n=2, cutoff=0.6)
    if not close:
        return ""
    return f"; did you mean {' or '.join(close)}?"


def with_env_vars(command: click.Command, prefix: str) -> click.Command:
    """Give every option of ``command`` (and of its subcommands) ``PREFIX_<FLAG>``."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar is None:
            flag = max(param.opts, key=len).lstrip("-").upper().replace("-", "_")
            param.envvar = f"{prefix}_{flag}"
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            with_env_vars(sub, f"{prefix}_{name.upper().replace('-', '_')}")
    return command
