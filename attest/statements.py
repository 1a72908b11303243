"""in-toto Statement v1: the envelope every piece of evidence attest produces is wrapped in.

The header (type, subjects, predicate type) is built and validated with in-toto-attestation.
The predicate is serialized from the original JSON instead of the library's protobuf
``Struct``, which turns every integer into a float (``"version": 1.0``) and so would make a
CycloneDX predicate invalid against its schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement

from attest.errors import InputError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
CYCLONEDX_BOM = "https://cyclonedx.org/bom"
SPDX_DOCUMENT = "https://spdx.dev/Document"


@dataclass(frozen=True)
class Subject:
    """What a statement is about: a name and its digests (matching is by digest only)."""

    name: str
    digest: Mapping[str, str]


def make_statement(subjects: list[Subject], predicate_type: str,
                   predicate: Mapping[str, Any]) -> bytes:
    """Serialize a validated Statement v1 as compact UTF-8 JSON (the DSSE payload)."""
    header = Statement(
        [ResourceDescriptor(name=s.name, digest=dict(s.digest)).pb for s in subjects],
        predicate_type,
        {"_": True},  # a placeholder so validate() sees a predicate; replaced below
    )
    try:
        header.validate()
    except ValueError as error:
        raise InputError(f"invalid in-toto statement: {error}") from None
    document = json_format.MessageToDict(header.pb)
    document["predicate"] = dict(predicate)
    if not document["predicate"]:
        raise InputError("invalid in-toto statement: the predicate is empty")
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def parse_statement(payload: bytes) -> dict[str, Any]:
    """Parse a Statement (v1 or the older v0.1) and check its header's shape."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        raise InputError("statement is not valid JSON") from None
    if not isinstance(document, dict):
        raise InputError("statement is not a JSON object")
    if document.get("_type") not in (STATEMENT_TYPE, "https://in-toto.io/Statement/v0.1"):
        raise InputError(f"unknown statement type {str(document.get('_type'))[:80]!r}")
    subjects = document.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise InputError("statement has no subject")
    for subject in subjects:
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), dict):
            raise InputError("statement subject without a digest")
    if not isinstance(document.get("predicateType"), str):
        raise InputError("statement has no predicateType")
    return document
