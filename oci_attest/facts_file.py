"""``facts.json``: what the collect step records, and the provenance derived from it.

The describe step and the check before signing both derive the provenance predicate from this
file and the recorded steps alone, so the two derivations are one function: a statement that
differs from it was not written by this run.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from oci_attest.collect.builder import CiFacts
from oci_attest.collect.materials import ExternalImage
from oci_attest.collect.remote import remote_file_from_json
from oci_attest.collect.source import SourceFacts
from oci_attest.provenance import BuildParameters, RunFacts, build_predicate
from oci_attest.reference import parse_reference
from oci_attest.state import RunState


def image_to_json(image: ExternalImage) -> dict[str, Any]:
    assert image.resolved is not None
    return {"written": image.written, "raw": image.raw, "reference": str(image.reference),
            "instruction": image.instruction, "line": image.line, "stage": image.stage,
            "resolved": str(image.resolved), "platform": image.platform, "via": image.via,
            "manifest": image.manifest}


def image_from_json(data: dict[str, Any]) -> ExternalImage:
    return ExternalImage(
        written=data["written"], raw=data["raw"],
        reference=parse_reference(data["reference"], default_tag=None),
        instruction=data["instruction"], line=data["line"], stage=data["stage"],
        resolved=parse_reference(data["resolved"], default_tag=None),
        platform=data.get("platform"), via=data.get("via"), manifest=data.get("manifest"))


def derive_provenance(state: RunState) -> dict[str, Any]:
    """The provenance predicate from facts.json and the recorded steps only."""
    facts = json.loads(state.read("facts.json"))
    build = state.step("build")
    checked = state.step("check-build") or {}
    params = BuildParameters(**facts["params"])
    if checked.get("platform"):
        # The platform of the built image's config, not what was asked for.
        params = BuildParameters(**{**facts["params"], "platform": str(checked["platform"])})
    return build_predicate(
        source=SourceFacts(**facts["source"]),
        ci=CiFacts(**facts["ci"]),
        params=params,
        images=[image_from_json(i) for i in facts["images"]],
        remote_files=[remote_file_from_json(f) for f in facts["remoteFiles"]],
        onbuild=list(facts.get("onbuild") or []),
        run=RunFacts(
            backend=build["backend"],
            backend_version=build["backendVersion"],
            started=datetime.fromisoformat(build["startedOn"]),
            finished=datetime.fromisoformat(build.get("pushedOn") or build["finishedOn"]),
            secret_scan=state.step("secret-scan"),
        ),
    )
