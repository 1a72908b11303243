"""CycloneDX and SPDX output: valid, reproducible, and the fast validator agrees with the
library's own strict validator."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from oci_attest.sbom import generate_sbom
from oci_attest.sbom.schema import validation_errors
from tests.sbom.helpers import (
    debian_base,
    docker_archive,
    f,
    layer,
    metadata,
    oci_layout,
    package_json,
)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = "usr/lib/python3/dist-packages"
    layers = [
        debian_base(f("usr/share/doc/libc6/copyright", "License: LGPL-2.1+\n")),
        layer(f(f"{site}/caf\u00e9-1.0.dist-info/METADATA",
                metadata("caf\u00e9", "1.0", license="Some (odd) license")),
              f("app/package.json", package_json("app", "1.0.0", license="(MIT OR Apache-2.0)",
                                                 dependencies={"dup": "*"})),
              f("app/node_modules/dup/package.json", package_json("dup", "1.0.0",
                                                                  license="Custom-1")),
              f("other/node_modules/dup/package.json", package_json("dup", "1.0.0"))),
    ]
    return docker_archive(tmp_path_factory.mktemp("archive") / "image.tar", layers)


def test_cyclonedx_validates_with_the_library_validator(archive: Path) -> None:
    result = generate_sbom(f"docker-archive:{archive}")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(result.text) is None
    document = result.document
    assert document["specVersion"] == "1.6"
    root = document["metadata"]["component"]
    assert root["type"] == "container"
    assert root["purl"].startswith("pkg:oci/app@sha256:")
    assert "repository_url=example.test/app" in root["purl"]
    kinds = {c["type"] for c in document["components"]}
    assert kinds == {"operating-system", "library"}
    refs = [c["bom-ref"] for c in document["components"]]
    assert len(refs) == len(set(refs))  # the two installations of dup get distinct refs
    assert sum(1 for r in refs if r.startswith("pkg:npm/dup@1.0.0")) == 2
    libc = next(c for c in document["components"] if c["name"] == "libc6")
    assert libc["purl"] == ("pkg:deb/debian/libc6@2.36-9%2Bdeb12u13?arch=amd64&distro=debian-12"
                            "&upstream=glibc")
    assert libc["licenses"] == [{"license": {"id": "LGPL-2.1-or-later"}}]
    props = {p["name"]: p["value"] for p in libc["properties"]}
    assert props["attest:path"] == "/var/lib/dpkg/status"
    assert props["attest:layer-digest"].startswith("sha256:")
    app = next(c for c in document["components"] if c["name"] == "app")
    assert app["licenses"] == [{"expression": "(MIT OR Apache-2.0)"}]
    graph = {d["ref"]: d["dependsOn"] for d in document["dependencies"]}
    assert graph[app["bom-ref"]] == ["pkg:npm/dup@1.0.0|/app/node_modules/dup/package.json"]
    assert graph[libc["bom-ref"]] == [next(c["bom-ref"] for c in document["components"]
                                           if c["name"] == "libgcc-s1")]
    assert result.component_count == len(document["components"])


def test_output_is_reproducible_apart_from_serial_and_timestamp(archive: Path, tmp_path) -> None:
    first = generate_sbom(f"docker-archive:{archive}").document
    second = generate_sbom(f"docker-archive:{archive}").document
    assert first["serialNumber"] != second["serialNumber"]
    for document in (first, second):
        document.pop("serialNumber")
        document["metadata"].pop("timestamp")
    assert first == second


def test_fast_validator_agrees_with_the_library(archive: Path) -> None:
    good = generate_sbom(f"docker-archive:{archive}").document
    assert validation_errors(good) == []
    library = JsonStrictValidator(SchemaVersion.V1_6)
    breakages = [
        lambda d: d["components"][1]["licenses"].__setitem__(0, {"license": {"id": "NOT-SPDX"}}),
        lambda d: d["components"].append(copy.deepcopy(d["components"][1])),  # uniqueItems
        lambda d: d["components"][1].__setitem__("type", "gadget"),
        lambda d: d["components"][1].__setitem__("unknownField", 1),
        lambda d: d["metadata"].__setitem__("timestamp", "yesterday"),
        lambda d: d["dependencies"][0].__setitem__("dependsOn", ["a", "a"]),
        lambda d: d["components"][2].__setitem__("licenses", [{"expression": "MIT"},
                                                              {"expression": "ISC"}]),
    ]
    for number, breakage in enumerate(breakages):
        bad = copy.deepcopy(good)
        breakage(bad)
        assert validation_errors(bad), f"breakage {number} passed the fast validator"
        assert library.validate_str(json.dumps(bad)) is not None, f"breakage {number}"


def test_spdx_document_validates(archive: Path) -> None:
    from oci_attest.sbom.spdx import validation_errors as spdx_errors

    result = generate_sbom(f"docker-archive:{archive}", format="spdx-json")
    document = result.document
    assert document["spdxVersion"] == "SPDX-2.3"
    assert spdx_errors(document) == []
    by_name = {p["name"]: p for p in document["packages"]}
    assert by_name["libc6"]["externalRefs"][0]["referenceLocator"].startswith("pkg:deb/debian/")
    assert by_name["caf\u00e9"]["licenseDeclared"].startswith("LicenseRef-")
    assert by_name["app"]["licenseDeclared"] == "(MIT OR Apache-2.0)"
    relationships = {(r["spdxElementId"], r["relationshipType"]) for r in
                     document["relationships"]}
    assert ("SPDXRef-DOCUMENT", "DESCRIBES") in relationships
    assert any(kind == "DEPENDS_ON" for _, kind in relationships)
    assert result.component_count == len(document["packages"]) - 1
    broken = copy.deepcopy(document)
    broken["packages"][2]["licenseDeclared"] = "NOT A ( LICENSE"
    assert spdx_errors(broken)


def test_unknown_format_is_a_usage_error(archive: Path) -> None:
    from oci_attest.errors import UsageError

    with pytest.raises(UsageError):
        generate_sbom(f"docker-archive:{archive}", format="xml")


def test_same_components_from_archive_and_layout(archive: Path, tmp_path: Path) -> None:
    import tarfile

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        layers = [tar.extractfile(name).read() for name in manifest[0]["Layers"]]  # type: ignore[union-attr]
    layout = oci_layout(tmp_path / "oci", layers, compression="zstd")
    from_archive = generate_sbom(f"docker-archive:{archive}").document
    from_layout = generate_sbom(f"oci-layout:{layout}:test").document
    assert from_archive["components"] == from_layout["components"]
