"""``attest scan-secrets IMAGE``: find private keys, cloud credentials and tokens in layers."""

from __future__ import annotations

import json

import click

from oci_attest.cli.common import format_option, progress_printer
from oci_attest.errors import SecretsFound


@click.command("scan-secrets")
@click.argument("image")
@format_option
def scan_secrets(image: str, output_format: str) -> None:
    """Scan every layer and the config of IMAGE for secrets; exit 7 when any is found.

    IMAGE is a registry reference, docker-archive:PATH or docker-daemon:REF. Each finding
    names the rule and the file and layer (or the config field); the secret itself is never
    printed. Binary and large files are scanned too; anything unreadable is listed as skipped
    and the JSON report then says "clean": false.

    \b
    Example:
      attest scan-secrets registry.example.com/team/app:1.4
      attest scan-secrets docker-archive:app.tar --format json
    """
    from oci_attest.secrets import scan_image

    progress = progress_printer()
    report = scan_image(image, progress=progress)
    if output_format == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    for finding in report.findings:
        click.echo(f"secret: {finding.render()}", err=True)
    if report.findings:
        raise SecretsFound(f"{len(report.findings)} secret(s) in {report.image}",
                           hint="remove them from the image (and rotate them: they were "
                                "exposed), then rebuild")
    if report.complete:
        progress(f"no secrets found in {report.image} ({report.files_scanned} files in "
                 f"{report.layers} layers, and the image config)")
    else:
        for skipped in report.skipped:
            item = skipped.to_json()
            where = (f"config {item['field']}" if "field" in item else
                     f"layer {skipped.layer_index + 1}" + (f" {item['path']}" if "path" in item
                                                           else ""))
            progress(f"skipped: {where}: {skipped.reason}")
        progress(f"warning: no secrets found in what could be read of {report.image}, but "
                 f"{len(report.skipped)} item(s) were skipped: the scan is not clean")
    if output_format == "text":
        click.echo(report.image)
