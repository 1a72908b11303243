"""``attest vulndb import|update|status`` and ``attest scan TARGET``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from oci_attest.cli.common import EXISTING_FILE_PATH, ExistingPath, progress_printer
from oci_attest.errors import EXIT_POLICY_FAILED, InputError, RegistryError, UsageError

#: Where the OSV project publishes per-ecosystem exports (``<ECOSYSTEM>/all.zip``).
OSV_EXPORTS = "https://osv-vulnerabilities.storage.googleapis.com"
DEFAULT_ECOSYSTEMS = ("PyPI", "npm", "Go", "Maven", "crates.io", "RubyGems", "Debian",
                      "Alpine")
MAX_EXPORT_BYTES = 2 * 1024 * 1024 * 1024
SEVERITIES = ("critical", "high", "medium", "low")

_vulndb_option = click.option(
    "--vulndb", "vulndb_dir", type=click.Path(file_okay=False, path_type=Path),
    help="Advisory database directory (default $ATTEST_VULNDB, else ~/.cache/attest/vulndb).")


def _store(directory: Path | None) -> Any:
    from oci_attest.vulns.store import AdvisoryStore, default_location

    return AdvisoryStore(directory or default_location())


@click.group(context_settings={"max_content_width": 100})
def vulndb() -> None:
    """The local OSV advisory database that `attest scan` matches against.

    \b
    Examples:
      attest vulndb import PyPI/all.zip Go/all.zip
      attest vulndb update --ecosystem PyPI
      attest vulndb status --format json

    Exit codes: see each subcommand's --help.
    """


@vulndb.command("import")
@click.argument("paths", nargs=-1, required=True,
                type=ExistingPath(dir_okay=True, path_type=Path))
@_vulndb_option
def import_(paths: tuple[Path, ...], vulndb_dir: Path | None) -> None:
    """Import OSV records: per-ecosystem all.zip exports, directories of OSV JSON, or files.
    Incremental: unchanged records are skipped; changed ones replaced; withdrawn ones kept
    but never matched.

    \b
    Example:
      attest vulndb import PyPI/all.zip Go/all.zip

    Exit codes: 0 imported, 2 usage, 3 unreadable input.
    """
    store = _store(vulndb_dir)
    result = store.import_paths(list(paths))
    click.echo(f"read {result.read} records: {len(result.added)} new, {len(result.changed)} "
               f"changed, {result.unchanged} unchanged, {result.skipped} not OSV records "
               f"({store.path})")


@vulndb.command()
@click.option("--ecosystem", "ecosystems", multiple=True, metavar="NAME",
              help=f"Ecosystem to download (repeatable; default: {', '.join(DEFAULT_ECOSYSTEMS)}).")
@click.option("--source", default=OSV_EXPORTS, show_default=True, metavar="URL",
              help="Base URL of the OSV exports (a mirror serving <ECOSYSTEM>/all.zip).")
@_vulndb_option
def update(ecosystems: tuple[str, ...], source: str, vulndb_dir: Path | None) -> None:
    """Download the OSV exports and import them (incrementally).

    Exit codes: 0 updated, 2 usage, 3 a download is not an OSV export, 5 unreachable.
    """
    import requests

    store = _store(vulndb_dir)
    say = progress_printer()
    for ecosystem in ecosystems or DEFAULT_ECOSYSTEMS:
        url = f"{source.rstrip('/')}/{ecosystem}/all.zip"
        say(f"downloading {url}")
        with tempfile.NamedTemporaryFile(suffix=".zip") as handle:
            try:
                with requests.get(url, stream=True, timeout=(10, 60)) as answer:
                    if answer.status_code != 200:
                        raise RegistryError(f"{url} answered {answer.status_code}",
                                            hint="check --source and --ecosystem")
                    size = 0
                    for chunk in answer.iter_content(1024 * 1024):
                        size += len(chunk)
                        if size > MAX_EXPORT_BYTES:
                            raise InputError(f"{url} is larger than "
                                             f"{MAX_EXPORT_BYTES // 2**30} GiB")
                        handle.write(chunk)
            except requests.RequestException as error:
                raise RegistryError(f"cannot download {url}: {type(error).__name__}",
                                    hint="check the network, or import a downloaded file "
                                         "with `attest vulndb import`") from None
            handle.flush()
            result = store.import_paths([Path(handle.name)])
        click.echo(f"{ecosystem}: {len(result.added)} new, {len(result.changed)} changed, "
                   f"{result.unchanged} unchanged")


@vulndb.command()
@_vulndb_option
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
def status(vulndb_dir: Path | None, output_format: str) -> None:
    """Ecosystems, record counts and the newest `modified` per ecosystem.

    Exit codes: 0, 3 no database yet.
    """
    import json

    rows = _store(vulndb_dir).status()
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['ecosystem']}: {row['records']} records (newest modified "
                   f"{row['newestModified']}, {row['withdrawn']} withdrawn)")


@click.command(context_settings={"max_content_width": 100})
@click.argument("target")
@_vulndb_option
@click.option("--format", "output_format", type=click.Choice(["table", "json", "sarif"]),
              default="table", show_default=True, help="Output format.")
@click.option("--fail-on", type=click.Choice(SEVERITIES),
              help="Exit 1 when an active finding is at or above this severity.")
@click.option("--vex", "vex_files", multiple=True,
              type=EXISTING_FILE_PATH,
              help="OpenVEX document: not_affected/fixed statements waive findings (repeatable).")
@click.option("--ignore", "ignores", multiple=True, metavar="ID=REASON",
              help="Waive a finding by id or alias; the reason is required and shown.")
@click.option("--policy", "policy_file", type=EXISTING_FILE_PATH,
              help="Scan the image's verified SBOM attestation under this verify policy "
                   "(instead of reading its layers).")
def scan(target: str, vulndb_dir: Path | None, output_format: str, fail_on: str | None,
         vex_files: tuple[Path, ...], ignores: tuple[str, ...], policy_file: Path | None) -> None:
    """Match an image's or an SBOM's components against the advisory database.

    TARGET: an image reference, sbom:FILE (CycloneDX or SPDX JSON), docker-archive:PATH,
    oci-layout:PATH[:TAG] or docker-daemon:REF.

    \b
    Examples:
      attest scan registry.example/app:1.4 --fail-on high
      attest scan sbom:app.cdx.json --format sarif > results.sarif
      attest scan registry.example/app:1.4 --policy policy.yaml --vex app.openvex.json

    Exit codes: 0 nothing at or above --fail-on, 1 something is (or the policy failed),
    2 usage, 3 bad input or no database, 5 registry error.
    """
    from oci_attest.vulns.match import match_components
    from oci_attest.vulns.report import render_json, render_sarif, render_table
    from oci_attest.vulns.scan import from_image_layers, from_sbom_file, from_verified_attestation
    from oci_attest.vulns.severity import LEVELS
    from oci_attest.vulns.vex import apply_ignores, apply_vex, load_openvex

    waivers = parse_ignores(ignores)
    statements = [s for path in vex_files for s in load_openvex(path)]
    store = _store(vulndb_dir)
    store.require()
    say = progress_printer()
    if target.startswith("sbom:"):
        if policy_file:
            raise UsageError("--policy verifies an image's attestation; sbom:FILE has none")
        source = from_sbom_file(Path(target.removeprefix("sbom:")))
    elif policy_file is not None:
        from oci_attest.verify.policy import PolicyFlags, combine, for_images, load_policy

        source = from_verified_attestation(
            target, for_images(combine(load_policy(policy_file), PolicyFlags())))
    else:
        source = from_image_layers(target, progress=say)
    say(f"{len(source.purls)} components from {source.source}")
    findings = match_components(store, source.purls)
    apply_vex(findings, statements)
    apply_ignores(findings, waivers)
    label = f"{target}@{source.digest}" if source.digest and "@" not in target else target
    if output_format == "json":
        click.echo(render_json(target, source.digest, source.source, findings), nl=False)
    elif output_format == "sarif":
        click.echo(render_sarif(label, findings), nl=False)
    else:
        click.echo(render_table(label, findings), nl=False)
    _summary(findings)
    if fail_on is not None:
        floor = LEVELS.index(fail_on)
        if any(f.status == "affected" and f.severity.rank >= floor for f in findings):
            click.get_current_context().exit(EXIT_POLICY_FAILED)


def parse_ignores(values: tuple[str, ...]) -> dict[str, str]:
    waivers: dict[str, str] = {}
    for value in values:
        name, _, reason = value.partition("=")
        if not name.strip() or not reason.strip():
            raise UsageError(f"--ignore {value!r} needs a reason",
                             hint="write --ignore GHSA-xxxx=\"not reachable: we never parse "
                                  "YAML from users\"")
        waivers[name.strip()] = reason.strip()
    return waivers


def _summary(findings: list[Any]) -> None:
    """A Markdown summary for the GitHub Actions job page, when running there."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    active = [f for f in findings if f.status == "affected"]
    counts = {level: sum(1 for f in active if f.severity.level == level)
              for level in ("critical", "high", "medium", "low", "unknown")}
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("### attest scan\n\n| critical | high | medium | low | unknown |\n"
                         "| --- | --- | --- | --- | --- |\n| "
                         + " | ".join(str(counts[k]) for k in counts) + " |\n\n")
    except OSError:
        return
