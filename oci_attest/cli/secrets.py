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
    """Scan every layer of IMAGE for secrets; exit 7 when any is found.

    IMAGE is a registry reference, docker-archive:PATH or docker-daemon:REF. Each finding
    names the rule, the file and the layer digest; the secret itself is never printed.

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
    if not report.clean:
        raise SecretsFound(f"{len(report.findings)} secret(s) in {report.image}",
                           hint="remove them from the image (and rotate them: they were "
                                "exposed), then rebuild")
    progress(f"no secrets found in {report.image} ({report.files_scanned} files in "
             f"{report.layers} layers)")
    if output_format == "text":
        click.echo(report.image)
