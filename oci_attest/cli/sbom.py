"""``attest sbom``: the SBOM of an image, read from its layers (no daemon needed, nothing run).

``-o`` means what it means in syft: ``-o FORMAT[=FILE]``, repeatable, so one read of the
image gives several documents; a format without ``=FILE`` goes to stdout (at most one). Files
are written atomically. Progress, the resolved digest and every skipped item go to stderr, so
``attest sbom IMG > sbom.json`` stays clean. ``-o app.json`` (a file name where a format
belongs) is refused with the spelling that works, never written to a file named after it.
"""

from __future__ import annotations

from pathlib import Path

import click

from oci_attest._internal.files import write_bytes_atomic
from oci_attest.cli.common import progress_printer
from oci_attest.errors import InputError, UsageError

_EPILOG = """\b
IMAGE is one of
  REGISTRY/REPO[:TAG|@DIGEST]   a registry image (a tag is resolved; the digest is printed)
  docker-archive:PATH           a tarball written by `docker save`
  oci-layout:PATH[:TAG]         an OCI image layout directory
  docker-daemon:REF             an image in the local docker engine

\b
Examples:
  attest sbom 127.0.0.1:5000/app:1.2 -o cyclonedx-json=app.cdx.json
  attest sbom docker-archive:app.tar -o spdx-json > app.spdx.json
  attest sbom app.tar -o cyclonedx-json=app.cdx.json -o spdx-json=app.spdx.json
  attest sbom ghcr.io/org/app:1.2 --platform linux/arm64

Exit codes: 0 written, 2 usage, 3 unreadable image or archive, 5 registry error.
"""


@click.command(epilog=_EPILOG)
@click.argument("image", metavar="IMAGE")
@click.option("-o", "--output", "outputs", multiple=True, metavar="FORMAT[=FILE]",
              help="Output format (cyclonedx-json, spdx-json) and optional file, as in syft; "
                   "repeatable; without =FILE to stdout.")
@click.option("--format", "sbom_format", type=click.Choice(["cyclonedx-json", "spdx-json"]),
              default="cyclonedx-json", show_default=True,
              help="Format written to stdout when no -o is given.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]",
              help="Platform to pick from a multi-platform image [default: this machine's].")
def sbom(image: str, outputs: tuple[str, ...], sbom_format: str, platform: str | None) -> None:
    """Write a CycloneDX 1.6 (or SPDX 2.3) SBOM of IMAGE.

    Every layer is streamed once, in order, with deleted and replaced files taken into account;
    OS packages (dpkg, apk, rpm), Python, npm, Go and Rust binaries and Java archives are
    cataloged, each with its purl, licenses, the layer that introduced it and its path.
    """
    from oci_attest.sbom import generate_sboms
    from oci_attest.sbom.sources import image_label

    targets = parse_outputs(outputs) if outputs else [(sbom_format, None)]
    say = progress_printer()
    results = generate_sboms(image, [f for f, _ in targets], platform=platform, progress=say)
    first = results[targets[0][0]]
    for warning in first.warnings:
        say(f"attest: warning: {warning}")
    for format_name, path in targets:
        if path is None:
            click.echo(results[format_name].text, nl=False)
            continue
        try:
            write_bytes_atomic(path, results[format_name].text.encode())
        except OSError as error:
            raise InputError(f"cannot write {path}: {error.strerror}",
                             hint="choose a writable path in -o FORMAT=FILE") from None
        say(f"wrote {format_name} to {path}")
    label = image_label(first.image_name, first.image_digest, first.digest_is_image_id)
    click.echo(f"{label}: {first.component_count} components"
               + (f", {len(first.warnings)} warnings" if first.warnings else ""), err=True)


def parse_outputs(values: tuple[str, ...]) -> list[tuple[str, Path | None]]:
    """``FORMAT[=FILE]`` items; one stdout at most; a bare file name is a usage error."""
    from oci_attest.sbom import FORMATS

    targets: list[tuple[str, Path | None]] = []
    for value in values:
        format_name, sep, file_name = value.partition("=")
        if format_name not in FORMATS:
            guess = "spdx-json" if "spdx" in value.lower() else "cyclonedx-json"
            hint = (f"-o {guess}={value}" if not sep and ("." in value or "/" in value)
                    else f"-o FORMAT[=FILE] with FORMAT one of {', '.join(FORMATS)}")
            raise UsageError(f"-o {value!r}: unknown SBOM format {format_name!r}",
                             hint=f"write {hint}")
        if sep and not file_name:
            raise UsageError(f"-o {value!r} names no file after '='",
                             hint=f"write -o {format_name}=FILE, or -o {format_name} for stdout")
        targets.append((format_name, Path(file_name) if sep else None))
    if sum(1 for _, path in targets if path is None) > 1:
        raise UsageError("more than one -o FORMAT goes to stdout",
                         hint="give all but one a file: -o FORMAT=FILE")
    return targets
