"""SPDX 2.3 JSON, the second format, from the same scan result as CycloneDX.

Packages keep their purl as a ``PACKAGE-MANAGER`` external reference; the image is a package
of purpose ``CONTAINER`` that ``CONTAINS`` the operating system and every package, and the
dependency edges become ``DEPENDS_ON`` relationships. License names that are not SPDX ids
become ``LicenseRef-`` identifiers with their text in ``hasExtractedLicensingInfos``, as the
specification requires. The document is checked with spdx-tools (the SPDX project's own
parser and validator) before it is returned.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from oci_attest import __version__
from oci_attest.sbom import licenses
from oci_attest.sbom.cyclonedx import assign_refs, image_purl, sort_key
from oci_attest.sbom.model import Package, ScanResult

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def _spdx_id(prefix: str, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    return f"SPDXRef-{prefix}-{digest[:16]}"


def _clean(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class _Licenses:
    """Turns license names into one SPDX expression, collecting ``LicenseRef-`` texts."""

    def __init__(self) -> None:
        self.extracted: dict[str, str] = {}

    def expression(self, names: list[str]) -> str:
        parts: list[str] = []
        for name in names:
            kind, value = licenses.classify(name)
            if kind == "id":
                part = value
            elif kind == "expression":
                part = f"({value})"
            else:
                ref = "LicenseRef-" + (_ID_UNSAFE.sub("-", value).strip("-") or "unknown")[:64]
                self.extracted.setdefault(ref, _clean(value))
                part = ref
            if part not in parts:
                parts.append(part)
        if not parts:
            return "NOASSERTION"
        if len(parts) == 1 and parts[0].startswith("("):
            return parts[0][1:-1]
        return " AND ".join(parts)


def build_document(result: ScanResult, *, namespace_id: str | None = None,
                   timestamp: datetime | None = None) -> dict[str, Any]:
    packages = sorted(result.packages, key=sort_key)
    refs = assign_refs(packages, result.distro)
    ids = {p.key: _spdx_id("Package", refs[p.key]) for p in packages}
    image = result.image
    when = (timestamp or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    image_id = "SPDXRef-Image"
    license_refs = _Licenses()
    spdx_packages: list[dict[str, Any]] = [{
        "SPDXID": image_id, "name": _clean(image.name), "versionInfo": image.digest,
        "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION", "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": image_purl(image)}],
    }]
    relationships: list[dict[str, str]] = [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
         "relatedSpdxElement": image_id}]
    if result.distro is not None:
        os_package: dict[str, Any] = {
            "SPDXID": "SPDXRef-OperatingSystem", "name": result.distro.id,
            "versionInfo": result.distro.version_id or "NOASSERTION",
            "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION", "primaryPackagePurpose": "OPERATING-SYSTEM"}
        if result.distro.pretty_name:
            os_package["description"] = _clean(result.distro.pretty_name)
        spdx_packages.append(os_package)
        relationships.append({"spdxElementId": image_id, "relationshipType": "CONTAINS",
                              "relatedSpdxElement": "SPDXRef-OperatingSystem"})
    for package in packages:
        spdx_packages.append(_package(package, ids[package.key], refs[package.key],
                                      result, license_refs))
        relationships.append({"spdxElementId": image_id, "relationshipType": "CONTAINS",
                              "relatedSpdxElement": ids[package.key]})
    for package in packages:
        for target in sorted({ids[key] for key in package.depends_on if key in ids}):
            if target != ids[package.key]:
                relationships.append({"spdxElementId": ids[package.key],
                                      "relationshipType": "DEPENDS_ON",
                                      "relatedSpdxElement": target})
    document: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": _clean(f"{image.name}@{image.digest}"),
        "documentNamespace": "https://attest.invalid/spdxdocs/"
                             f"{_ID_UNSAFE.sub('-', image.name)}-{namespace_id or uuid.uuid4()}",
        "creationInfo": {"created": when, "creators": [f"Tool: attest-{__version__}"]},
        "packages": spdx_packages,
        "relationships": relationships,
    }
    if license_refs.extracted:
        document["hasExtractedLicensingInfos"] = [
            {"licenseId": ref, "extractedText": text, "name": text}
            for ref, text in sorted(license_refs.extracted.items())]
    return document


def _package(package: Package, spdx_id: str, ref: str, result: ScanResult,
             license_refs: _Licenses) -> dict[str, Any]:
    layer = result.image.layer_digests[package.layer] if 0 <= package.layer < len(
        result.image.layer_digests) else "unknown"
    entry: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": _clean(package.name),
        "versionInfo": _clean(package.display_version or package.version),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": license_refs.expression(package.licenses),
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "LIBRARY",
        "sourceInfo": _clean(f"found by the {package.cataloger} cataloger at {package.path} "
                             f"in layer {layer}"),
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": package.purl(result.distro)}],
    }
    if package.description:
        entry["summary"] = _clean(package.description)
    if package.publisher:
        entry["supplier"] = f"Organization: {_clean(package.publisher)}"
    if ref != entry["externalRefs"][0]["referenceLocator"]:
        entry["comment"] = _clean(f"attest bom-ref {ref}")
    return entry


def validation_errors(document: dict[str, Any], limit: int = 5) -> list[str]:
    """Parse the document with spdx-tools and run its full SPDX 2.3 validation."""
    try:
        from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
        from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    except ImportError:  # pragma: no cover - declared dependency
        return ["spdx-tools is not installed; cannot validate SPDX output"]
    try:
        parsed = JsonLikeDictParser().parse(document)  # type: ignore[no-untyped-call]
    except Exception as error:
        return [f"spdx-tools could not parse the document: {str(error)[:300]}"]
    messages = validate_full_spdx_document(parsed, "SPDX-2.3")
    return [f"{m.context.spdx_id or 'document'}: {m.validation_message}"
            for m in messages[:limit]]
