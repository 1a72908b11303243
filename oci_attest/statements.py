"""in-toto Statement v1: the envelope every piece of evidence attest produces is wrapped in.

The header (type, subjects, predicate type) is built and validated with in-toto-attestation.
The predicate is serialized from the original JSON instead of the library's protobuf
``Struct``, which turns every integer into a float (``"version": 1.0``) and so would make a
CycloneDX predicate invalid against its schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf import json_format
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement as InTotoStatement

from oci_attest._internal import strict_json
from oci_attest.errors import InputError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
STATEMENT_TYPE_V01 = "https://in-toto.io/Statement/v0.1"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
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
    header = InTotoStatement(
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


class StatementError(InputError):
    """The payload is not a usable in-toto statement."""


class _Digest(Protocol):
    @property
    def algorithm(self) -> str: ...

    @property
    def hex(self) -> str: ...


@dataclass(frozen=True)
class ParsedStatement:
    """A statement read from untrusted bytes, every header field type-checked."""

    type: str
    subjects: tuple[tuple[str, Mapping[str, str]], ...]
    predicate_type: str
    predicate: Mapping[str, Any]

    def has_subject(self, digest: _Digest) -> bool:
        """Subjects are matched by digest only (names are free text)."""
        return any(digests.get(digest.algorithm, "").lower() == digest.hex
                   for _, digests in self.subjects)

    def subject_digests(self) -> list[str]:
        return [f"{alg}:{value}" for _, digests in self.subjects
                for alg, value in sorted(digests.items())]


def parse_statement(payload: bytes,
                    payload_type: str | None = IN_TOTO_PAYLOAD_TYPE) -> ParsedStatement:
    """Parse a Statement (v1 or the older v0.1); ``payload_type`` is the DSSE envelope's, or
    None when there is no envelope (an unsigned statement)."""
    if payload_type is not None and payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise StatementError(f"payload type is {payload_type!r}, not {IN_TOTO_PAYLOAD_TYPE}")
    try:
        document = strict_json.loads(payload)
    except strict_json.DuplicateKeyError as error:
        raise StatementError(f"statement is ambiguous: {error} (readers disagree on which "
                             f"one counts)") from None
    except (ValueError, RecursionError):
        raise StatementError("statement is not valid JSON") from None
    if not isinstance(document, dict):
        raise StatementError("statement is not a JSON object")
    kind = document.get("_type")
    if kind not in (STATEMENT_TYPE, STATEMENT_TYPE_V01):
        raise StatementError(f"unknown statement type {str(kind)[:80]!r}")
    raw_subjects = document.get("subject")
    if not isinstance(raw_subjects, list) or not raw_subjects:
        raise StatementError("statement has no subject")
    subjects = []
    for item in raw_subjects:
        digests = item.get("digest") if isinstance(item, dict) else None
        if not isinstance(digests, dict) or not digests:
            raise StatementError("statement has a subject without a digest")
        subjects.append((str(item.get("name", "")), _digest_set(digests)))
    predicate_type = document.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise StatementError("statement has no predicateType")
    predicate = document.get("predicate", {})
    if not isinstance(predicate, dict):
        raise StatementError("statement predicate is not an object")
    return ParsedStatement(type=str(kind), subjects=tuple(subjects),
                           predicate_type=predicate_type, predicate=predicate)


_ALGORITHM = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _digest_set(digests: Mapping[str, Any]) -> dict[str, str]:
    """A subject's digests, exactly as in-toto defines them: lowercase algorithm names, string
    values. ``SHA256`` is refused rather than folded: folding would let ``sha256`` and
    ``SHA256`` name two different images in one subject, one for each kind of reader."""
    result: dict[str, str] = {}
    for algorithm, value in digests.items():
        if not _ALGORITHM.fullmatch(algorithm):
            raise StatementError(f"subject digest algorithm {algorithm[:40]!r} is not a "
                                 f"lowercase name (write e.g. 'sha256')")
        if not isinstance(value, str) or not value:
            raise StatementError(f"subject digest {algorithm} is not a non-empty string")
        result[algorithm] = value
    return result
