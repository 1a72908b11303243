"""The build's vulnerability scan and its attestation (cosign's vuln/v1 predicate).

``attest build --scan-vulns`` scans the built image in the docker engine, before anything is
pushed, with the same engine as ``attest scan`` (layers -> purls -> OSV matching, VEX and
``--ignore`` applied). The result is kept in the state directory as ``vuln-scan.json`` and the
predicate is *derived* from that file, so a resumed run signs exactly what was scanned and a
verifier reads the same findings, waivers included (a waived finding stays listed, marked,
because people need to see what was waived and why).

The predicate follows cosign's ``https://cosign.sigstore.dev/attestation/vuln/v1``:
``invocation``, ``scanner`` {uri, version, db {uri, version}, result} and ``metadata``
{scanStartedOn, scanFinishedOn}. ``scanner.result`` is attest's own (``findings`` as
``attest scan --format json`` writes them), which the cosign format leaves to the scanner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oci_attest import __version__
from oci_attest.errors import InputError

COSIGN_VULN_V1 = "https://cosign.sigstore.dev/attestation/vuln/v1"
SCANNER_URI = "https://github.com/attest-build/attest"
#: The advisory format and its publisher; the database version says which snapshot.
DB_URI = "https://osv.dev"
LEVELS = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class ScanSettings:
    """What ``--scan-vulns`` was given; paths are absolute so a resume finds them again."""

    vulndb: Path
    fail_on: str | None = None
    vex: tuple[Path, ...] = ()
    ignores: Mapping[str, str] = field(default_factory=dict)

    def parameters(self) -> list[str]:
        """The invocation, as arguments (file names only: paths say nothing to a verifier)."""
        args = ["--scan-vulns"]
        if self.fail_on:
            args += ["--fail-on", self.fail_on]
        for path in self.vex:
            args += ["--vex", path.name]
        for name, reason in sorted(self.ignores.items()):
            args += ["--ignore", f"{name}={reason}"]
        return args


def open_store(directory: Path) -> Any:
    """The advisory store, failing now (exit 3, with the fix) when there is no database."""
    from oci_attest.vulns.store import AdvisoryStore

    store = AdvisoryStore(directory)
    store.require()
    return store


def check_settings(settings: ScanSettings) -> None:
    """Every input of the scan is usable, before the build starts."""
    if settings.fail_on is not None and settings.fail_on not in LEVELS:
        raise InputError(f"--fail-on {settings.fail_on!r} is not one of {', '.join(LEVELS)}")
    from oci_attest.vulns.vex import load_openvex

    for path in settings.vex:
        load_openvex(path)
    open_store(settings.vulndb).close()


def scan_built_image(image: str, settings: ScanSettings,
                     progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Scan ``image`` (e.g. ``docker-daemon:sha256:...``); the record for vuln-scan.json."""
    from oci_attest.vulns.match import match_components
    from oci_attest.vulns.scan import from_image_layers
    from oci_attest.vulns.vex import apply_ignores, apply_vex, load_openvex

    statements = [s for path in settings.vex for s in load_openvex(path)]
    store = open_store(settings.vulndb)
    try:
        started = _now()
        source = from_image_layers(image, progress=progress)
        findings = match_components(store, source.purls)
        apply_vex(findings, statements)
        apply_ignores(findings, dict(settings.ignores))
        finished = _now()
        database = store.status()
    finally:
        store.close()
    newest = max((row["newestModified"] or "" for row in database), default="")
    return {
        "target": image,
        "scanStartedOn": started,
        "scanFinishedOn": finished,
        "components": len(set(source.purls)),
        "failOn": settings.fail_on,
        "parameters": settings.parameters(),
        "db": {"uri": DB_URI, "version": newest or "empty",
               "ecosystems": {row["ecosystem"]: row["records"] for row in database}},
        "findings": [f.to_json() for f in findings],
    }


def blocking(record: Mapping[str, Any], fail_on: str | None) -> list[dict[str, Any]]:
    """The active findings at or above ``fail_on`` (none when no threshold is set)."""
    if fail_on is None:
        return []
    return [f for f in record["findings"] if active_at_or_above(f, fail_on)]


def active_at_or_above(finding: Mapping[str, Any], level: str) -> bool:
    """An ``affected`` finding (not waived by VEX or --ignore) of ``level`` or worse."""
    if finding.get("status") != "affected":
        return False
    severity = finding.get("severity")
    if severity not in LEVELS:
        return False  # "unknown" meets no threshold, as in ``attest scan --fail-on``
    return LEVELS.index(str(severity)) <= LEVELS.index(level)


def counts(findings: list[Mapping[str, Any]]) -> dict[str, int]:
    active = [f for f in findings if f.get("status") == "affected"]
    summary = {level: sum(1 for f in active if f.get("severity") == level)
               for level in (*LEVELS, "unknown")}
    summary["waived"] = len(findings) - len(active)
    return summary


def vuln_predicate(record: Mapping[str, Any]) -> dict[str, Any]:
    """cosign's vuln/v1 predicate for a vuln-scan.json record (a pure function of it).
    ``invocation`` names the CI run (``uri``) and builder the build recorded, when known."""
    findings = list(record["findings"])
    invocation = record.get("invocation") or {}
    return {
        "invocation": {"parameters": list(record["parameters"]),
                       "uri": str(invocation.get("uri", "")), "event_id": "",
                       "builder.id": str(invocation.get("builder.id", ""))},
        "scanner": {
            "uri": SCANNER_URI,
            "version": __version__,
            "db": {"uri": record["db"]["uri"], "version": record["db"]["version"]},
            "result": {"target": record["target"], "components": record["components"],
                       "failOn": record["failOn"], "summary": counts(findings),
                       "database": dict(record["db"]["ecosystems"]), "findings": findings},
        },
        "metadata": {"scanStartedOn": record["scanStartedOn"],
                     "scanFinishedOn": record["scanFinishedOn"]},
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
