"""The ``attest`` command line: a click group, one module per command family.

Commands only translate options into a library call and the result into output and an exit
code; the work lives in the library so that CI templates, the admission webhook and tests use
the same code paths. Every expected failure is an :class:`~oci_attest.errors.AttestError` and is
printed as one line; ``--debug`` (or ``ATTEST_DEBUG=1``) shows tracebacks.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback

import click

from oci_attest import __version__
from oci_attest.errors import EXIT_USAGE, AttestError

EXIT_INTERNAL = 70


#: Command name -> module defining it. Modules load on first use, so `attest verify` in an
#: admission path does not pay for importing the build pipeline (and vice versa).
COMMANDS = {
    "build": "oci_attest.cli.build",
    "provenance": "oci_attest.cli.provenance",
    "sign": "oci_attest.cli.sign",
    "attach": "oci_attest.cli.sign",
    "sbom": "oci_attest.cli.sbom",
    "verify": "oci_attest.cli.verify",
    "promote": "oci_attest.cli.promote",
    "scan-secrets": "oci_attest.cli.secrets",
    "vulndb": "oci_attest.cli.vulns",
    "scan": "oci_attest.cli.vulns",
    "inventory": "oci_attest.cli.inventory",
    "rescan": "oci_attest.cli.inventory",
    "pin": "oci_attest.cli.pin",
    "mirror": "oci_attest.cli.mirror",
    "admit": "oci_attest.cli.admit",
}


class _Group(click.Group):
    """Turns library errors into one line and an exit code, at the outermost layer, and loads
    each command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(module_name)
        command = next((c for c in vars(module).values()
                        if isinstance(c, click.Command) and c.name == cmd_name), None)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except AttestError as error:
            if _debug_enabled(ctx):
                traceback.print_exc()
            click.echo(error.render(), err=True)
            ctx.exit(error.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("attest: interrupted", err=True)
            ctx.exit(130)
        except Exception as error:  # a bug: say so briefly, never dump secrets by default
            if _debug_enabled(ctx):
                traceback.print_exc()
            click.echo(
                f"attest: internal error: {type(error).__name__}: {error} "
                "(rerun with --debug and report it)", err=True)
            ctx.exit(EXIT_INTERNAL)
        return None


def _debug_enabled(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) or os.environ.get("ATTEST_DEBUG") == "1"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="attest")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
def cli(debug: bool, quiet: bool) -> None:
    """Signed provenance and SBOMs for container images, and their verification.

    Exit codes: 0 ok, 1 verification/policy failed, 2 usage, 3 bad input, 4 build failed,
    5 registry error, 6 signing error, 7 secrets found, 70 internal error.
    """
    level = logging.DEBUG if debug else (logging.ERROR if quiet else logging.WARNING)
    logging.basicConfig(level=level, format="attest: %(message)s", stream=sys.stderr)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="attest", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        if code == 2 or code is None or isinstance(code, int):
            raise
        raise SystemExit(EXIT_USAGE) from None
