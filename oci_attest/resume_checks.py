"""What a run reads back from its state directory is checked before it is signed.

``--resume`` continues from files on disk; a name in ``state.json`` becomes a file name, and a
statement file is what gets signed. So names must be this build's own statements, and each
statement must say exactly what ``facts.json`` and the recorded steps derive: the subjects are
the pushed digests, the provenance predicate is derived again and compared whole, the SBOM
statement carries the SBOM file of the run, the vulnerability statement the run's
vuln-scan.json. An edited statement is never signed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from oci_attest.errors import InputError
from oci_attest.reference import ImageReference
from oci_attest.state import RunState
from oci_attest.statements import CYCLONEDX_BOM, SLSA_PROVENANCE_V1
from oci_attest.vulns.attestation import COSIGN_VULN_V1, vuln_predicate

#: The statements a build produces, in signing order: (name, predicate type).
STATEMENTS = (("provenance", SLSA_PROVENANCE_V1), ("sbom", CYCLONEDX_BOM),
              ("vuln", COSIGN_VULN_V1))


def statement_names(state: RunState) -> list[str]:
    """``steps.describe.statements``, validated (only this build's own statements)."""
    names = state.step("describe")["statements"]
    known = dict(STATEMENTS)
    if (not isinstance(names, list) or len(set(map(str, names))) != len(names)
            or any(not isinstance(n, str) or n not in known for n in names)):
        raise InputError(f"{state.directory}/state.json names statements {names!r:.80}"
                         f", expected some of {', '.join(known)}",
                         hint="the state file was tampered with; start a new run")
    return names


def check_statement(state: RunState, name: str, raw: bytes,
                    subjects: list[tuple[ImageReference, str]],
                    derive_provenance: Callable[[], dict[str, Any]]) -> None:
    """Refuse a statement file that differs from what the run's records derive."""
    where = f"{state.directory}/{name}.intoto.json"
    try:
        statement = json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError(f"{where} is not JSON") from None
    expected_subjects = [{"name": ref.name, "digest": {"sha256": digest.split(":", 1)[1]}}
                         for ref, digest in subjects]
    problems = []
    if not isinstance(statement, dict):
        problems.append("not a JSON object")
    else:
        if statement.get("subject") != expected_subjects:
            problems.append("its subject is not the pushed image")
        if statement.get("predicateType") != dict(STATEMENTS)[name]:
            problems.append("its predicate type is wrong")
        if name == "provenance":
            derived = json.loads(json.dumps(derive_provenance()))
            if statement.get("predicate") != derived:
                problems.append("its predicate differs from the one derived from facts.json")
        elif name == "vuln":
            derived = vuln_predicate(json.loads(state.read("vuln-scan.json")))
            if statement.get("predicate") != derived:
                problems.append("its predicate differs from the one derived from "
                                "vuln-scan.json")
        elif statement.get("predicate") != json.loads(state.read("sbom.cdx.json")):
            problems.append("its predicate differs from sbom.cdx.json")
    if problems:
        raise InputError(f"{where} does not match the run's recorded facts: "
                         f"{'; '.join(problems)}; it is not signed",
                         hint="the state directory was modified; start a new run")
