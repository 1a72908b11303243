"""``attest report``: verify IMAGE and write what was found as one self-contained HTML file.

Exit codes: 0 the report was written and the policy holds; 1 the report was written and the
policy does not hold; 2 usage; 3 bad input (policy, trust root, unwritable output); 5 the
registry or the TUF repository could not be reached (no report is written then).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from oci_attest.cli.common import progress_printer
from oci_attest.cli.verify import build_policy, verification_options
from oci_attest.errors import EXIT_POLICY_FAILED, InputError


@click.command(context_settings={"max_content_width": 100})
@click.argument("image")
@click.option("-o", "--output", "output", required=True,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="The HTML file to write (replaced atomically).")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]",
              help="For a multi-platform image: report on this platform's manifest.")
@verification_options
def report(image: str, output: Path, platform: str | None, **params: Any) -> None:
    """Verify IMAGE against a policy and write the evidence as one HTML file.

    The file shows the verdict with every check, the provenance (source repository and
    commit, builder, run, base images, build parameters), the SBOM as a sortable, filterable
    table and the raw statements. It is self-contained: opening it loads nothing from the
    network, and every value from the image's attestations is shown as text. Vulnerability
    findings are not part of the report yet.

    \b
    Example:
      attest report registry.example/app:1.4 --policy policy.yaml -o report.html

    Exit codes: 0 written and the policy holds, 1 written and the policy does not hold,
    2 usage, 3 bad input, 5 registry/TUF unreachable.
    """
    from oci_attest._internal.files import write_text_atomic
    from oci_attest.report.model import report_data
    from oci_attest.report.render import render_html
    from oci_attest.verify.image import verify_image

    params.pop("output_format", None)
    policy, key = build_policy(params, image=True)
    show = progress_printer()
    show(f"verifying {image}")
    result = verify_image(image, policy, key=key, platform=platform)
    html = render_html(report_data(result.verdict))
    try:
        write_text_atomic(output, html)
    except OSError as error:
        raise InputError(f"cannot write report {output}: {error.strerror}",
                         hint="choose a writable path with -o") from None
    show(f"report for {result.reference} written to {output} "
         f"({'PASS' if result.verdict.passed else 'FAIL'})")
    if not result.verdict.passed:
        click.get_current_context().exit(EXIT_POLICY_FAILED)


# The shared verification options bring --format; a report is always HTML.
report.params = [p for p in report.params if p.name != "output_format"]
