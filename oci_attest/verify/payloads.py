"""Verified statements as documents, for ``attest verify --print-statements`` and the report.

Only accepted evidence is printed (signature valid, signer trusted, subject is the image), as
cosign prints payloads and slsa-verifier ``--print-provenance`` does: a pipeline that consumes
them must never see a statement that did not verify. A statement attached in several layouts
is printed once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from oci_attest.verify.results import Verdict
from oci_attest.verify.statements import Statement


def statement_document(statement: Statement) -> dict[str, Any]:
    return {"_type": statement.type,
            "subject": [{"name": name, "digest": dict(digests)}
                        for name, digests in statement.subjects],
            "predicateType": statement.predicate_type,
            "predicate": statement.predicate}


def verified_statements(verdict: Verdict) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    for examined in verdict.examined:
        if not examined.accepted or examined.statement is None or not examined.signed:
            continue
        document = statement_document(examined.statement)
        key = json.dumps(document, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            yield document


def json_lines(verdict: Verdict) -> str:
    return "".join(json.dumps(doc, separators=(",", ":"), default=str) + "\n"
                   for doc in verified_statements(verdict))
