"""The ``vuln-scan`` step of ``attest build --scan-vulns`` and its statement.

Kept out of ``pipeline.py`` so the pipeline only wires the step in: the scan runs after the
build and before the push, on the image in the docker engine (``docker-daemon:<image id>``),
so an image that fails ``--fail-on`` is never pushed, signed or attested. The record goes to
``vuln-scan.json`` in the state directory; the step is marked done only when it passed, so a
resumed run scans again (a newer database or a rebuilt image may change the answer). The
vuln/v1 statement is derived from the record by ``describe`` and checked again before signing
(``resume_checks``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from oci_attest.errors import VulnerabilitiesFound
from oci_attest.state import RunState
from oci_attest.statements import Subject, make_statement
from oci_attest.vulns.attestation import (
    COSIGN_VULN_V1,
    ScanSettings,
    blocking,
    check_settings,
    counts,
    scan_built_image,
    vuln_predicate,
)

if TYPE_CHECKING:
    from oci_attest.pipeline import BuildOptions

__all__ = ["check_settings", "scan_step", "settings_of", "vuln_statement"]


def settings_of(options: BuildOptions) -> ScanSettings:
    """The ``--scan-vulns`` inputs as the scanner takes them."""
    from oci_attest.vulns.store import default_location

    return ScanSettings(vulndb=Path(options.vulndb) if options.vulndb else default_location(),
                        fail_on=options.vuln_fail_on, vex=tuple(Path(p) for p in options.vex),
                        ignores=dict(options.vuln_ignores))


def scan_step(state: RunState, options: BuildOptions, progress: Callable[[str], None]) -> None:
    build = state.step("build")
    settings = settings_of(options)
    progress("scanning the built image for known vulnerabilities")
    record = scan_built_image(f"docker-daemon:{build['imageId']}", settings, progress=progress)
    ci = json.loads(state.read("facts.json")).get("ci") or {}
    record["invocation"] = {"uri": str(ci.get("invocation_id") or ""),
                            "builder.id": str(ci.get("builder_id") or "")}
    state.write_json("vuln-scan.json", record)
    summary = counts(record["findings"])
    stopping = blocking(record, settings.fail_on)
    if stopping:
        for finding in stopping:
            progress(f"vulnerability: {finding['id']} ({finding['severity']}) in "
                     f"{finding['purl']}")
        raise VulnerabilitiesFound(
            f"{len(stopping)} finding(s) at or above {settings.fail_on} in the built image; "
            "nothing was pushed or signed",
            hint=f"see {state.directory}/vuln-scan.json; update the packages, or waive a "
                 "finding that does not apply with --vex FILE or --ignore ID=REASON")
    shown = ", ".join(f"{n} {level}" for level, n in summary.items() if n) or "nothing found"
    progress(f"vulnerability scan of {record['components']} components: {shown}")
    state.done("vuln-scan", {"findings": len(record["findings"]), **summary})


def vuln_statement(state: RunState, subjects: list[Subject]) -> bytes:
    """The vuln/v1 statement over the pushed digests, from the run's vuln-scan.json."""
    record = json.loads(state.read("vuln-scan.json"))
    return make_statement(subjects, COSIGN_VULN_V1, vuln_predicate(record))
