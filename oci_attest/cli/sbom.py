"""``attest sbom``: the SBOM of an image, read from its layers (no daemon needed, nothing run).

The SBOM goes to stdout (or ``-o FILE``, written atomically); progress, the resolved digest
and every skipped item go to stderr, so ``attest sbom IMG > sbom.json`` stays clean.
"""

from __future__ import annotations

from pathlib import Path

import click

from oci_attest._internal.files import write_bytes_atomic
from oci_attest.cli.common import progress_printer

_EPILOG = """\b
IMAGE is one of
  REGISTRY/REPO[:TAG|@DIGEST]   a registry image (a tag is resolved; the digest is printed)
  docker-archive:PATH           a tarball written by `docker save`
  oci-layout:PATH[:TAG]         an OCI image layout directory
  docker-daemon:REF             an image in the local docker engine

\b
Examples:
  attest sbom 127.0.0.1:5000/app:1.2 -o app.cdx.json
  attest sbom docker-archive:app.tar --format spdx-json > app.spdx.json
  attest sbom ghcr.io/org/app:1.2 --platform linux/arm64

Exit codes: 0 written, 2 usage, 3 unreadable image or archive, 5 registry error.
"""


@click.command(epilog=_EPILOG)
@click.argument("image", metavar="IMAGE")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the SBOM to FILE instead of stdout.")
@click.option("--format", "sbom_format", type=click.Choice(["cyclonedx-json", "spdx-json"]),
              default="cyclonedx-json", show_default=True, help="SBOM format.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]",
              help="Platform to pick from a multi-platform image [default: this machine's].")
def sbom(image: str, output: Path | None, sbom_format: str, platform: str | None) -> None:
    """Write a CycloneDX 1.6 (or SPDX 2.3) SBOM of IMAGE.

    Every layer is streamed once, in order, with deleted and replaced files taken into account;
    OS packages (dpkg, apk, rpm), Python, npm, Go and Rust binaries and Java archives are
    cataloged, each with its purl, licenses, the layer that introduced it and its path.
    """
    from oci_attest.sbom import generate_sbom

    say = progress_printer()
    result = generate_sbom(image, platform=platform, format=sbom_format, progress=say)
    for warning in result.warnings:
        say(f"attest: warning: {warning}")
    if output is not None:
        write_bytes_atomic(output, result.text.encode())
        say(f"wrote {output}")
    else:
        click.echo(result.text, nl=False)
    click.echo(f"{result.image_name}@{result.image_digest}: {result.component_count} components"
               + (f", {len(result.warnings)} warnings" if result.warnings else ""), err=True)
