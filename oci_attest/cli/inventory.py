"""``attest inventory add|sync|query`` and ``attest rescan``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from oci_attest.cli.common import progress_printer
from oci_attest.cli.vulns import SEVERITIES, _store, _vulndb_option
from oci_attest.errors import EXIT_POLICY_FAILED, UsageError

_inventory_option = click.option(
    "--inventory", "location", metavar="PATH|URL",
    help="Inventory: a SQLite file or a postgresql:// URL (default $ATTEST_INVENTORY, else "
         "~/.local/share/attest/inventory.sqlite3).")
_policy_option = click.option(
    "--policy", "policy_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Record the components of the image's verified SBOM attestation under this verify "
         "policy (instead of reading its layers).")


def _open(location: str | None) -> Any:
    from oci_attest.inventory import open_inventory

    return open_inventory(location)


def _policy(policy_file: Path | None) -> Any:
    if policy_file is None:
        return None
    from oci_attest.verify.policy import PolicyFlags, combine, for_images, load_policy

    return for_images(combine(load_policy(policy_file), PolicyFlags()))


@click.group(context_settings={"max_content_width": 100})
def inventory() -> None:
    """The inventory of shipped images: which of them contain a package or are affected by an
    advisory (SQLite by default, PostgreSQL with --inventory postgresql://...).

    \b
    Examples:
      attest inventory add registry.example/acme/app:1.4 --policy policy.yaml
      attest inventory sync registry.example/acme/app
      attest inventory query --vuln CVE-2024-3094 --format json

    Exit codes: those of each subcommand (see its --help).
    """


@inventory.command()
@click.argument("images", nargs=-1, required=True)
@_inventory_option
@_policy_option
def add(images: tuple[str, ...], location: str | None, policy_file: Path | None) -> None:
    """Record images (digest, repository, tag, time) and their components.

    \b
    Example (at release):
      attest inventory add registry.example/app:1.4 --policy policy.yaml

    Exit codes: 0 recorded, 1 the policy failed, 2 usage, 3 bad input, 5 registry error.
    """
    from oci_attest.inventory.record import add_image

    store, policy, say = _open(location), _policy(policy_file), progress_printer()
    try:
        for image in images:
            record = add_image(store, image, policy, progress=say)
            click.echo(f"recorded {record.reference} ({len(record.purls)} components from "
                       f"{record.source})")
    finally:
        store.close()


@inventory.command()
@click.argument("repositories", nargs=-1, required=True)
@_inventory_option
@_policy_option
def sync(repositories: tuple[str, ...], location: str | None, policy_file: Path | None) -> None:
    """Record every tag of REGISTRY/REPO (the registry's tags list); only digests not yet
    recorded are read.

    Exit codes: 0 recorded, 1 the policy failed, 2 usage, 3 bad input, 5 registry error.
    """
    from oci_attest.inventory.record import sync_repository

    store, policy, say = _open(location), _policy(policy_file), progress_printer()
    try:
        for repository in repositories:
            counts = sync_repository(store, repository, policy, progress=say)
            click.echo(f"{repository}: {counts['tags']} tags, {counts['images']} images, "
                       f"{counts['added']} newly recorded")
    finally:
        store.close()


@inventory.command()
@click.option("--purl", metavar="PURL", help="Package: pkg:TYPE/NAME[@VERSION].")
@click.option("--versions", metavar="VERS", help="With --purl: a vers range, e.g. "
              "vers:pypi/>=3.0|<3.2.19.")
@click.option("--vuln", metavar="ID", help="Advisory: an OSV id, GHSA or CVE alias.")
@_inventory_option
@_vulndb_option
@click.option("--format", "output_format", type=click.Choice(["table", "json"]),
              default="table", show_default=True, help="Output format.")
def query(purl: str | None, versions: str | None, vuln: str | None, location: str | None,
          vulndb_dir: Path | None, output_format: str) -> None:
    """List the recorded images holding a package (--purl) or affected by an advisory (--vuln).

    \b
    Examples:
      attest inventory query --purl pkg:pypi/django --versions 'vers:pypi/<3.2.19'
      attest inventory query --vuln CVE-2023-4911 --format json

    Exit codes: 0 answered (even with no images), 2 usage, 3 unknown advisory or no database.
    """
    from oci_attest.inventory import query as queries

    if (purl is None) == (vuln is None):
        raise UsageError("give exactly one of --purl and --vuln",
                         hint="attest inventory query --purl pkg:pypi/django")
    if versions and not purl:
        raise UsageError("--versions narrows --purl", hint="add --purl pkg:TYPE/NAME")
    store = _open(location)
    try:
        if purl is not None:
            hits = queries.by_purl(store, purl, versions)
        else:
            hits = queries.by_vuln(store, _store(vulndb_dir), str(vuln))
    finally:
        store.close()
    if output_format == "json":
        click.echo(json.dumps({"query": {"purl": purl, "versions": versions, "vuln": vuln},
                               "images": [h.to_json() for h in hits]}, indent=2))
        return
    if not hits:
        click.echo("no recorded image matches")
    for hit in hits:
        tags = f" [{', '.join(hit.tags)}]" if hit.tags else ""
        click.echo(f"{hit.reference}{tags}")
        for component in hit.components:
            advisory = f"  {component['advisory']}" if "advisory" in component else ""
            click.echo(f"  {component['purl']}{advisory}")


@click.command(context_settings={"max_content_width": 100})
@_inventory_option
@_vulndb_option
@click.option("--format", "output_format", type=click.Choice(["table", "json"]),
              default="table", show_default=True, help="Output format.")
@click.option("--fail-on", type=click.Choice(SEVERITIES),
              help="Exit 1 when a new finding (or a new image's) is at or above this severity.")
def rescan(location: str | None, vulndb_dir: Path | None, output_format: str,
           fail_on: str | None) -> None:
    """Match every recorded image against the current advisory database, store the findings,
    and report what is new since the last rescan: each finding of an advisory added or changed
    since, on the images already rescanned; and, per image recorded since, its finding counts.

    \b
    Example (nightly):
      attest vulndb update && attest rescan --fail-on high

    Exit codes: 0 nothing new at or above --fail-on, 1 something is, 2 usage,
    3 no advisory database or unusable inventory.
    """
    from oci_attest.inventory.rescan import rescan as run_rescan
    from oci_attest.vulns.severity import LEVELS

    advisories = _store(vulndb_dir)
    advisories.require()
    store = _open(location)
    try:
        result = run_rescan(store, advisories)
    finally:
        store.close()
    new = result.new_findings()
    if output_format == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(f"rescan {result.rescan}: {result.images} images, "
                   f"{result.advisories_changed} advisories new or changed, "
                   f"{result.packages_matched} packages matched in full, {result.rows_touched} "
                   f"rows touched; {len(new)} new findings, {result.resolved} resolved")
        for hit in result.new:
            tags = f" [{', '.join(hit.tags)}]" if hit.tags else ""
            click.echo(f"{hit.reference}{tags}")
            for c in hit.components:
                click.echo(f"  {c['severity']:<8} {c['advisory']:<22} {c['purl']}  "
                           f"fixed: {', '.join(c['fixed']) or '-'}")
        for image in result.new_images:
            counts = ", ".join(f"{n} {level}" for level in reversed(LEVELS)
                               if (n := image["findings"].get(level)))
            tags = f" [{', '.join(image['tags'])}]" if image["tags"] else ""
            click.echo(f"new image {image['reference']}{tags}: {counts or 'no findings'}")
    _summary(result)
    if fail_on is not None:
        floor = LEVELS.index(fail_on)
        levels = [c["severity"] for c in new] + [
            level for image in result.new_images for level in image["findings"]]
        if any(LEVELS.index(level) >= floor for level in levels):
            click.get_current_context().exit(EXIT_POLICY_FAILED)


def _summary(result: Any) -> None:
    """New findings as a Markdown table on the GitHub Actions job page, when running there
    (the scheduled-rescan template): the alert says what is new without opening the log."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    lines = [f"### attest rescan {result.rescan}\n",
             f"{len(result.new_findings())} new findings on {len(result.new)} images, "
             f"{len(result.new_images)} newly recorded images, {result.resolved} resolved.\n"]
    if result.new:
        lines += ["| image | component | advisory | severity | fixed |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {hit.reference} | {c['purl']} | {c['advisory']} | {c['severity']} | "
                  f"{', '.join(c['fixed']) or '-'} |" for hit in result.new for c in hit.components]
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n\n")
    except OSError:
        return
