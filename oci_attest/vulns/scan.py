"""What to scan: the component purls of an image or an SBOM file, and where they came from.

Three sources, in order of trust: the image's *verified* SBOM attestation (when a policy or
identity is given: the components are the ones the builder signed, judged like ``attest
verify``); an SBOM file (``sbom:FILE``, CycloneDX or SPDX JSON, attest's or syft's); or the
image's layers read directly (registry, ``docker-archive:``, ``oci-layout:``,
``docker-daemon:``), exactly as ``attest sbom`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oci_attest.errors import InputError, VerificationFailed

CYCLONEDX = "https://cyclonedx.org/bom"
SPDX_TYPES = ("https://spdx.dev/Document", "https://spdx.dev/Document/v2.3")
MAX_SBOM_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ScanInput:
    target: str
    digest: str | None
    source: str         # "verified attestation", "sbom file", "image layers"
    purls: list[str]


def purls_of_document(document: Any) -> list[str]:
    """Every purl in a CycloneDX (components, nested) or SPDX (externalRefs) JSON document."""
    if not isinstance(document, dict):
        raise InputError("the SBOM is not a JSON object")
    if document.get("bomFormat") == "CycloneDX":
        return list(_cyclonedx_purls(document.get("components") or []))
    if str(document.get("spdxVersion", "")).startswith("SPDX-"):
        purls = []
        for package in document.get("packages") or []:
            for ref in (package.get("externalRefs") or []) if isinstance(package, dict) else []:
                if isinstance(ref, dict) and ref.get("referenceType") == "purl":
                    purls.append(str(ref.get("referenceLocator", "")))
        return [p for p in purls if p]
    raise InputError("the SBOM is neither CycloneDX (bomFormat) nor SPDX (spdxVersion) JSON")


def _cyclonedx_purls(components: Any) -> Iterator[str]:
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict):
            if isinstance(component.get("purl"), str):
                yield component["purl"]
            yield from _cyclonedx_purls(component.get("components"))


def from_sbom_file(path: Path) -> ScanInput:
    try:
        if path.stat().st_size > MAX_SBOM_BYTES:
            raise InputError(f"{path} is larger than {MAX_SBOM_BYTES // 2**20} MiB")
        document = json.loads(path.read_bytes())
    except OSError as error:
        raise InputError(f"cannot read SBOM {path}: {error.strerror}") from None
    except ValueError as error:
        raise InputError(f"SBOM {path} is not JSON: {error}") from None
    try:
        purls = purls_of_document(document)
    except InputError as error:
        raise InputError(f"{path}: {error.message}") from None
    return ScanInput(target=str(path), digest=None, source="sbom file", purls=purls)


def from_image_layers(image: str, progress: Any = None) -> ScanInput:
    from oci_attest.sbom import scan_image

    result = scan_image(image, progress=progress)
    purls = [package.purl(result.distro) for package in result.packages]
    digest = None if result.image.digest_is_image_id else result.image.digest
    return ScanInput(target=image, digest=digest, source="image layers", purls=purls)


def from_verified_attestation(image: str, policy: Any, key: Any = None) -> ScanInput:
    """The components of the image's verified SBOM; the policy must hold (exit 1 if not)."""
    from oci_attest.verify.image import verify_image
    from oci_attest.verify.report import summary_line

    result = verify_image(image, policy, key=key)
    if not result.verdict.passed:
        raise VerificationFailed(f"{image}: {summary_line(result.verdict)}; not scanning an "
                                 "SBOM whose evidence does not verify",
                                 hint="drop the policy to scan the image's layers instead")
    for examined in result.verdict.examined:
        statement = examined.statement
        if examined.accepted and statement is not None and (
                statement.predicate_type == CYCLONEDX or statement.predicate_type in SPDX_TYPES):
            return ScanInput(target=image, digest=result.reference.digest,
                             source=f"verified attestation ({examined.signer})",
                             purls=purls_of_document(statement.predicate))
    raise VerificationFailed(f"{image} has no verified SBOM attestation",
                             hint="require one with --require-sbom, or drop the policy")
