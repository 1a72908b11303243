"""Image sources: registries (multi-platform indexes), docker-save archives, OCI layouts."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from oci_attest.errors import InputError, RegistryError
from oci_attest.registry.client import RegistryClient
from oci_attest.sbom import generate_sbom, scan_image
from oci_attest.sbom.sources import open_image
from tests.sbom.helpers import (
    debian_base,
    docker_archive,
    f,
    layer,
    metadata,
    names,
    oci_layout,
    package_json,
)

APP = layer(f("app/package.json", package_json("app", "1.0.0")))


def test_docker_archive_legacy_layout(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "a.tar", [debian_base(), APP], "registry.test/team/app:7")
    with open_image(f"docker-archive:{archive}") as image:
        assert image.name == "registry.test/team/app" and image.tag == "7"
        assert image.digest_is_image_id and image.digest.startswith("sha256:")
        assert len(image.layers) == 2
    result = scan_image(f"docker-archive:{archive}")
    assert names(result, "npm") == {("app", "1.0.0")}
    assert result.distro is not None and result.distro.id == "debian"


def test_docker_archive_with_oci_index_uses_the_manifest_digest(tmp_path: Path) -> None:
    """docker 25+ writes an OCI layout inside the archive: the manifest digest is known."""
    layout = oci_layout(tmp_path / "oci", [APP], compression=None)
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest[7:]).read_bytes())
    archive = tmp_path / "new.tar"
    with tarfile.open(archive, "w") as tar:
        for path in sorted(layout.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(layout)))
        entry = [{"Config": "blobs/sha256/" + manifest["config"]["digest"][7:],
                  "RepoTags": ["app:latest"],
                  "Layers": ["blobs/sha256/" + d["digest"][7:] for d in manifest["layers"]]}]
        data = json.dumps(entry).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        import io

        tar.addfile(info, io.BytesIO(data))
    with open_image(f"docker-archive:{archive}") as image:
        assert image.digest == manifest_digest and not image.digest_is_image_id
        assert image.name == "docker.io/library/app"


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_oci_layout_compressions(tmp_path: Path, compression: str | None) -> None:
    layout = oci_layout(tmp_path / "oci", [debian_base(), APP], compression=compression)
    for spec in (f"oci-layout:{layout}", f"oci-layout:{layout}:test", f"oci:{layout}"):
        result = scan_image(spec)
        assert names(result, "npm") == {("app", "1.0.0")}
        assert ("libc6", "2.36-9+deb12u13") in names(result, "deb")


def test_oci_layout_index_picks_the_platform(tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "oci", [APP], architectures=("amd64", "arm64"))
    with open_image(f"oci-layout:{layout}", platform="linux/arm64") as image:
        assert image.platform == "linux/arm64"
    with pytest.raises(InputError, match="no image for platform linux/s390x"):
        open_image(f"oci-layout:{layout}", platform="linux/s390x")


def test_bad_inputs_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "notatar").write_bytes(b"hello")
    cases = [f"docker-archive:{tmp_path / 'missing.tar'}", f"docker-archive:{tmp_path / 'notatar'}",
             f"oci-layout:{tmp_path}", "dir:/tmp", "UPPER/Case:tag"]
    for spec in cases:
        with pytest.raises(InputError):
            open_image(spec)
    with pytest.raises(InputError, match="invalid platform"):
        open_image(f"oci-layout:{tmp_path}", platform="amd64")


def test_corrupt_gzip_layer_fails_loudly(tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "oci", [APP], compression="gzip")
    blobs = layout / "blobs" / "sha256"
    manifest_digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((blobs / manifest_digest[7:]).read_text())
    blob = blobs / manifest["layers"][0]["digest"][7:]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data[:-8]))
    with pytest.raises(InputError):
        scan_image(f"oci-layout:{layout}")


# ------------------------------------------------------------------------------ registry


def _push(client: RegistryClient, repository: str, layers: list[bytes],
          architecture: str) -> dict[str, object]:
    descriptors = []
    for raw in layers:
        blob = gzip.compress(raw, mtime=0)
        descriptor = client.put_blob(repository, blob)
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": descriptor.digest, "size": len(blob)})
    config = json.dumps({"architecture": architecture, "os": "linux", "rootfs": {
        "type": "layers",
        "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest() for raw in layers]}}).encode()
    config_descriptor = client.put_blob(repository, config)
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_descriptor.digest, "size": len(config)},
                           "layers": descriptors}).encode()
    digest, _ = client.put_manifest(repository, digest_of(manifest), manifest,
                                    "application/vnd.oci.image.manifest.v1+json")
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
            "size": len(manifest), "platform": {"os": "linux", "architecture": architecture}}


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.integration
def test_registry_multi_platform_index(registry) -> None:
    client = RegistryClient(registry.host)
    amd = _push(client, "sbom/multi", [debian_base(), APP], "amd64")
    arm_app = layer(f("app/package.json", package_json("app", "2.0.0-arm")),
                    f("venv/lib/python3.11/site-packages/x-1.dist-info/METADATA",
                      metadata("x", "1")))
    arm = _push(client, "sbom/multi", [debian_base(), arm_app], "arm64")
    index = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [amd, arm]}).encode()
    index_digest, _ = client.put_manifest("sbom/multi", "v1", index,
                                          "application/vnd.oci.image.index.v1+json")
    progress: list[str] = []
    result = generate_sbom(f"{registry.host}/sbom/multi:v1", platform="linux/arm64",
                           progress=progress.append)
    assert result.image_digest == arm["digest"]
    assert result.image_name == f"{registry.host}/sbom/multi"
    npm = [c for c in result.document["components"]
           if c.get("purl", "").startswith("pkg:npm/")]
    assert [(c["name"], c["version"]) for c in npm] == [("app", "2.0.0-arm")]
    assert any(index_digest in line and "arm64" in line for line in progress)
    by_digest = generate_sbom(f"{registry.host}/sbom/multi@{amd['digest']}")
    assert by_digest.image_digest == amd["digest"]
    with pytest.raises(RegistryError):
        generate_sbom(f"{registry.host}/sbom/missing:v1")


def test_source_kinds() -> None:
    from oci_attest.sbom.sources import source_kind

    assert source_kind("registry:5000/app:1") == ("registry", "registry:5000/app:1")
    assert source_kind("docker:5000/app") == ("registry", "docker:5000/app")
    assert source_kind("localhost:5000/app") == ("registry", "localhost:5000/app")
    assert source_kind("debian:bookworm") == ("registry", "debian:bookworm")
    assert source_kind("registry:ghcr.io/x/y:1") == ("registry", "ghcr.io/x/y:1")
    assert source_kind("docker:app:1") == ("docker-daemon", "app:1")
    assert source_kind("oci:/tmp/x:tag") == ("oci-layout", "/tmp/x:tag")
    assert source_kind("docker-archive:/a:b.tar") == ("docker-archive", "/a:b.tar")
    with pytest.raises(InputError):
        source_kind("containers-storage:x")


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_a_layer_mismatch_is_sticky_and_drain_is_the_gate(tmp_path: Path,
                                                          compression: str | None) -> None:
    """A caller that swallowed the first error (a cataloger's try/except) must not see the
    rest of a failed stream as a clean end: every later read or drain fails the same way."""
    layout = oci_layout(tmp_path / "oci", [APP], compression=compression)
    with open_image(f"oci-layout:{layout}") as image:
        config = image.config
    config["rootfs"]["diff_ids"] = ["sha256:" + "0" * 64]
    raw = json.dumps(config).encode()
    blobs = layout / "blobs" / "sha256"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_bytes())
    (blobs / hashlib.sha256(raw).hexdigest()).write_bytes(raw)
    manifest["config"].update(digest="sha256:" + hashlib.sha256(raw).hexdigest(), size=len(raw))
    raw_manifest = json.dumps(manifest).encode()
    (blobs / hashlib.sha256(raw_manifest).hexdigest()).write_bytes(raw_manifest)
    index["manifests"][0].update(digest="sha256:" + hashlib.sha256(raw_manifest).hexdigest(),
                                 size=len(raw_manifest))
    (layout / "index.json").write_text(json.dumps(index))
    with open_image(f"oci-layout:{layout}") as image:
        source = image.layers[0].opener()
        try:
            assert source.read(512)  # reading works: the verdict comes at the end
            for _ in range(2):
                with pytest.raises(InputError, match=r"layer 1 .* does not match its diff_id"):
                    source.drain()
        finally:
            source.close()
