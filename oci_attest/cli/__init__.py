"""The ``attest`` command line: a click group, one module per command family.

Commands only translate options into a library call and the result into output and an exit
code; the work lives in the library so that CI templates, the admission webhook and tests use
the same code paths. Every expected failure is an :class:`~oci_attest.errors.AttestError` and is
printed as one line; ``--debug`` (or ``ATTEST_DEBUG=1``) shows tracebacks. The global options
(``--debug``, ``-q``, ``--registry-ca``) are accepted after the command name too
(``attest verify IMAGE --debug``), where people put them.
"""

from __future__ import annotations

import importlib
import logging
import os
import traceback
import warnings
from pathlib import Path

import click

from oci_attest import __version__
from oci_attest.cli.conventions import suggestion, with_env_vars, with_exit_codes
from oci_attest.cli.logs import configure_logging, safe_text
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
    "help": "oci_attest.cli.help",
    "report": "oci_attest.cli.report",
    "tree": "oci_attest.cli.tree",
    "version": "oci_attest.cli.version",
    "completion": "oci_attest.cli.version",
}


#: Options of the group, movable from after the command name to before it; value: whether
#: the option takes a value.
_GLOBAL_OPTIONS = {"--debug": False, "-q": False, "--quiet": False, "--registry-ca": True}


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options found after the command name in front of it, so that
    ``attest verify IMAGE --debug`` means ``attest --debug verify IMAGE``."""
    command_at = None
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return args
        if _GLOBAL_OPTIONS.get(arg):
            index += 2
            continue
        if not arg.startswith("-"):
            command_at = index
            break
        index += 1
    if command_at is None:
        return args
    hoisted: list[str] = []
    rest: list[str] = []
    index = command_at + 1
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_OPTIONS:
            takes_value = _GLOBAL_OPTIONS[name]
            if takes_value and "=" not in arg and index + 1 < len(args):
                hoisted += args[index:index + 2]
                index += 2
                continue
            hoisted.append(arg)
        else:
            rest.append(arg)
        index += 1
    return args[:command_at] + hoisted + [args[command_at]] + rest


class _Group(click.Group):
    """Turns library errors into one line and an exit code, at the outermost layer, and loads
    each command's module only when that command runs."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(module_name)
        command = next((c for c in vars(module).values()
                        if isinstance(c, click.Command) and c.name == cmd_name), None)
        if command is None:
            return None
        with_env_vars(command, f"ATTEST_{cmd_name.upper().replace('-', '_')}")
        return with_exit_codes(command, cmd_name)

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else ""
        if args and name not in COMMANDS and not name.startswith("-"):
            raise click.UsageError(f"no such command {name!r}{suggestion(name, COMMANDS)}",
                                   ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except AttestError as error:
            if _debug_enabled(ctx):
                _print_traceback()
            click.echo(error.render(), err=True)
            ctx.exit(error.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("attest: interrupted", err=True)
            ctx.exit(130)
        except Exception as error:  # a bug: say so briefly, never dump secrets by default
            if _debug_enabled(ctx):
                _print_traceback()
            click.echo(
                f"attest: internal error: {type(error).__name__}: {safe_text(str(error))} "
                "(rerun with --debug and report it)", err=True)
            ctx.exit(EXIT_INTERNAL)
        return None


def _print_traceback() -> None:
    click.echo(safe_text(traceback.format_exc()).rstrip(), err=True)


def _debug_enabled(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) or os.environ.get("ATTEST_DEBUG") == "1"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"],
                                           # every option from ATTEST_<COMMAND>_<OPTION>
                                           # (docs/environment.md)
                                           "auto_envvar_prefix": "ATTEST"})
# Not from the environment: ATTEST_VERSION is what CI files commonly pin the install with.
@click.version_option(__version__, prog_name="attest", allow_from_autoenv=False)
@click.option("--debug", is_flag=True,
              help="Show tracebacks and attest's own debug logging (secrets stay hidden).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.option("--registry-ca", metavar="FILE",
              help="Trust this CA (PEM) for registries' TLS certificates (also "
                   "ATTEST_REGISTRY_CA; /etc/docker/certs.d/HOST/ca.crt is read per host).")
def cli(debug: bool, quiet: bool, registry_ca: str | None) -> None:
    """Signed provenance and SBOMs for container images, and their verification.

    Exit codes: 0 ok, 1 verification/policy failed, 2 usage, 3 bad input (a missing file too),
    4 build failed, 5 registry error (worth retrying), 6 signing error, 7 secrets found,
    8 image/tag/digest not found, 9 vulnerabilities found (build --scan-vulns), 70 internal
    error.

    The policy format: `attest help policy`; the provenance fields: `attest help buildtype`.
    """
    configure_logging(debug=debug, quiet=quiet)
    if not debug:
        # urllib3 (under TUF, docker, kubernetes) logs each retry with its pool internals; the
        # failure that matters reaches the user as attest's own one line, so hide the noise.
        logging.getLogger("urllib3").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module="urllib3")
    if registry_ca is not None:
        from oci_attest.registry.transport import set_registry_ca

        set_registry_ca(Path(registry_ca))


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="attest", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        if code == 2 or code is None or isinstance(code, int):
            raise
        raise SystemExit(EXIT_USAGE) from None
