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
@click.option("--vulndb", "vulndb_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Advisory database for the findings section (default: $ATTEST_VULNDB or "
                   "~/.cache/attest/vulndb when one exists there).")
@verification_options
def report(image: str, output: Path, platform: str | None, vulndb_dir: Path | None,
           **params: Any) -> None:
    """Verify IMAGE against a policy and write the evidence as one HTML file.

    The file shows the verdict with every check, the provenance (source repository and
    commit, builder, run, base images, build parameters), the SBOM as a sortable, filterable
    table and the raw statements. It is self-contained: opening it loads nothing from the
    network, and every value from the image's attestations is shown as text. With an
    advisory database (`attest vulndb`), the verified SBOM's components are matched as
    `attest scan` does and the findings are listed.

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
    data = report_data(result.verdict)
    _add_findings(data, vulndb_dir)
    html = render_html(data)
    try:
        write_text_atomic(output, html)
    except OSError as error:
        raise InputError(f"cannot write report {output}: {error.strerror}",
                         hint="choose a writable path with -o") from None
    show(f"report for {result.reference} written to {output} "
         f"({'PASS' if result.verdict.passed else 'FAIL'})")
    if not result.verdict.passed:
        click.get_current_context().exit(EXIT_POLICY_FAILED)


def _add_findings(data: Any, vulndb_dir: Path | None) -> None:
    """Match the verified SBOM's components when an advisory database is there; a database
    given with --vulndb must exist (exit 3), the default one is used only if present."""
    from oci_attest.report.model import finding_rows
    from oci_attest.vulns.match import match_components
    from oci_attest.vulns.store import AdvisoryStore, default_location

    directory = vulndb_dir or default_location()
    store = AdvisoryStore(directory)
    if vulndb_dir is None and not store.path.exists():
        return
    purls = [row.purl for row in data.components if row.purl]
    data.findings = finding_rows(match_components(store, purls))
    data.findings_source = f"{len(purls)} components, advisory database {directory}"
    store.close()


# The shared verification options bring --format; a report is always HTML.
report.params = [p for p in report.params if p.name != "output_format"]
