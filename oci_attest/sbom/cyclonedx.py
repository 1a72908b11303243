"""CycloneDX 1.6 JSON: the image as ``metadata.component``, its OS and packages as components.

The document is assembled as plain JSON data rather than through cyclonedx-python-lib's object
model: on a 230-component image the model's construction and serialization took about 0.4 s,
as long as the whole layer scan, mostly in sorted-set bookkeeping. The library still defines
correctness: its schema validates every document before it is returned (see
:mod:`oci_attest.sbom.schema`), its SPDX list classifies licenses (:mod:`oci_attest.sbom.licenses`),
and the tests run its own strict validator on the output.

Reproducibility: components are sorted, every ``bom-ref`` is derived from the content (the
purl, plus the path when one package is installed in several places), and only
``serialNumber`` and ``metadata.timestamp`` change between runs of the same image.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from packageurl import PackageURL

from oci_attest import __version__
from oci_attest.sbom import licenses
from oci_attest.sbom.model import ECOSYSTEMS, Distro, ImageInfo, Package, ScanResult

SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"
_ORDER = {name: number for number, name in enumerate(ECOSYSTEMS)}


def image_purl(image: ImageInfo) -> str:
    """``pkg:oci/<name>@<digest>?repository_url=<registry>/<repository>`` (purl's oci type)."""
    qualifiers = {"repository_url": image.repository_url}
    if image.tag:
        qualifiers["tag"] = image.tag
    name = image.repository_url.rsplit("/", 1)[-1].lower()
    return str(PackageURL(type="oci", name=name, version=image.digest, qualifiers=qualifiers))


def sort_key(package: Package) -> tuple[int, str, str, str]:
    return (_ORDER.get(package.ecosystem, len(_ORDER)), package.name, package.version,
            package.path)


def assign_refs(packages: list[Package], distro: Distro | None) -> dict[str, str]:
    """``Package.key`` -> bom-ref: the purl, made unique with the path where needed."""
    purls = {p.key: p.purl(distro) for p in packages}
    counts: dict[str, int] = {}
    for purl in purls.values():
        counts[purl] = counts.get(purl, 0) + 1
    return {p.key: purls[p.key] if counts[purls[p.key]] == 1
            else f"{purls[p.key]}|{_clean(p.path)}" for p in packages}


def build_document(result: ScanResult, *, serial: str | None = None,
                   timestamp: datetime | None = None) -> dict[str, Any]:
    packages = sorted(result.packages, key=sort_key)
    refs = assign_refs(packages, result.distro)
    image = result.image
    root_ref = image_purl(image)
    components: list[dict[str, Any]] = []
    dependencies: list[dict[str, Any]] = []
    os_ref = None
    if result.distro is not None:
        os_ref = f"os:{result.distro.id}@{result.distro.version_id or 'unknown'}"
        components.append(_os_component(result.distro, os_ref))
        dependencies.append({"ref": os_ref, "dependsOn": []})
    depended: set[str] = set()
    for package in packages:
        ref = refs[package.key]
        components.append(_component(package, ref, image, result.distro))
        depends_on = sorted({refs[key] for key in package.depends_on if key in refs} - {ref})
        depended.update(depends_on)
        dependencies.append({"ref": ref, "dependsOn": depends_on})
    roots = ([os_ref] if os_ref else []) + sorted(
        refs[p.key] for p in packages if refs[p.key] not in depended)
    dependencies.insert(0, {"ref": root_ref, "dependsOn": list(dict.fromkeys(roots))})
    when = (timestamp or datetime.now(UTC)).astimezone(UTC)
    metadata_properties = [
        {"name": "attest:image:platform", "value": image.platform},
        {"name": "attest:image:digest-kind",
         "value": "image-id" if image.digest_is_image_id else "manifest"},
    ] + [{"name": f"attest:image:layer:{number}", "value": digest}
         for number, digest in enumerate(image.layer_digests)]
    root: dict[str, Any] = {"type": "container", "bom-ref": root_ref, "name": image.name,
                            "version": image.digest, "purl": root_ref}
    return {
        "$schema": SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial or f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "attest",
                                      "version": __version__}]},
            "component": root,
            "properties": metadata_properties,
        },
        "components": components,
        "dependencies": dependencies,
    }


def _os_component(distro: Distro, ref: str) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "operating-system", "bom-ref": ref, "name": distro.id}
    if distro.version_id:
        component["version"] = distro.version_id
    if distro.pretty_name:
        component["description"] = _clean(distro.pretty_name)
    properties = []
    if distro.version_codename:
        properties.append({"name": "attest:distro:codename", "value": distro.version_codename})
    if distro.id_like:
        properties.append({"name": "attest:distro:id-like", "value": " ".join(distro.id_like)})
    if properties:
        component["properties"] = properties
    return component


def _component(package: Package, ref: str, image: ImageInfo,
               distro: Distro | None) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "library", "bom-ref": ref}
    if package.publisher:
        component["publisher"] = _clean(package.publisher)
    if package.ecosystem == "maven" and package.namespace:
        component["group"] = package.namespace
    component["name"] = _clean(package.name)
    component["version"] = _clean(package.display_version or package.version)
    if package.description:
        component["description"] = _clean(package.description)
    if package.author:
        component["authors"] = [{"name": _clean(package.author)}]
    license_entries = license_choices(package.licenses)
    if license_entries:
        component["licenses"] = license_entries
    component["purl"] = package.purl(distro)
    layer = image.layer_digests[package.layer] if 0 <= package.layer < len(
        image.layer_digests) else ""
    properties = [
        {"name": "attest:cataloger", "value": package.cataloger},
        {"name": "attest:layer-digest", "value": layer},
        {"name": "attest:path", "value": _clean(package.path)},
    ]
    properties.extend({"name": name, "value": _clean(value)}
                      for name, value in sorted(package.properties.items()))
    component["properties"] = properties
    return component


def license_choices(names: list[str]) -> list[dict[str, Any]]:
    """CycloneDX ``licenses``: one expression, or a list of ids and names (never mixed)."""
    cleaned = [n.strip() for n in names if n and n.strip()]
    if not cleaned:
        return []
    classified = [licenses.classify(n) for n in cleaned]
    if len(classified) == 1 and classified[0][0] == "expression":
        return [{"expression": classified[0][1]}]
    entries: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for kind, value in classified:
        key = ("id", value) if kind == "id" else ("name", _clean(value))
        if key in seen:
            continue
        seen.add(key)
        entries.append({"license": {key[0]: key[1]}})
    return entries


def _clean(text: str) -> str:
    """Valid Unicode for JSON: undecodable bytes from tar names become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
