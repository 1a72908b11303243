"""Tampered local images: a layer that does not match its digests is refused, never scanned.

Real images built by the engine FROM scratch: ``leaky`` holds a private key and an npm package
``victim``; ``decoy`` holds only an npm package ``decoy``. Each attack below swaps or alters a
layer of ``leaky`` on disk while keeping its config (and so its image id or manifest digest):
before the fix ``attest scan-secrets`` said "no secrets found in …@<leaky's digest>" and the
SBOM listed ``decoy``. Now both end with exit 3 naming the layer, and write nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from tests.secrets.planted import rsa_pem

pytestmark = pytest.mark.integration


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True,
                          text=True).stdout


def _build(root: Path, tag: str, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        target = root / "rootfs" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY rootfs/ /\n")
    _docker("build", "-q", "-t", tag, str(root))


@pytest.fixture(scope="module")
def images(docker_engine, tmp_path_factory):
    """``(leaky.tar, decoy.tar, key line)``: two real images, saved by the engine."""
    root = tmp_path_factory.mktemp("tampered")
    key = rsa_pem()
    tag = f"attest-tamper-{os.getpid()}"
    _build(root / "leaky", f"{tag}-leaky:1", {
        "root/.ssh/id_rsa": key.encode(),
        "app/package.json": json.dumps({"name": "victim", "version": "1.0.0"}).encode(),
        # Incompressible padding: the gzip blob of this layer is larger than the decoy's tar.
        "app/blob.bin": os.urandom(64 * 1024)})
    _build(root / "decoy", f"{tag}-decoy:1", {
        "app/package.json": json.dumps({"name": "decoy", "version": "9.9.9"}).encode()})
    saved = []
    for name in ("leaky", "decoy"):
        archive = root / f"{name}.tar"
        _docker("save", "-o", str(archive), f"{tag}-{name}:1")
        saved.append(archive)
    yield saved[0], saved[1], key.splitlines()[1]
    subprocess.run(["docker", "rmi", f"{tag}-leaky:1", f"{tag}-decoy:1"], capture_output=True,
                   check=False)


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()  # type: ignore[union-attr]
                if m.isfile()}


def _layer_names(archive: Path) -> list[str]:
    return json.loads(_members(archive)["manifest.json"])[0]["Layers"]


def _write_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _refused(spec: str, tmp_path: Path) -> None:
    """Both commands fail with exit 3 naming the layer; no SBOM file, no scan result."""
    out = tmp_path / "sbom.json"
    for argv in (["sbom", spec, "-o", f"cyclonedx-json={out}"], ["scan-secrets", spec],
                 ["scan-secrets", spec, "--format", "json"]):
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 3, (argv, result.output)
        assert "Traceback" not in result.output
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("attest: bad input: layer 1 "), last
        assert "does not match its" in last or "is not valid gzip" in last, last
        assert result.stdout == ""
        assert not out.exists()
        assert "no secrets found" not in result.output


def test_an_untouched_archive_scans(images, tmp_path):
    leaky, _, key_line = images
    result = CliRunner().invoke(cli, ["scan-secrets", f"docker-archive:{leaky}"])
    assert result.exit_code == 7, result.output
    assert key_line not in result.output


def test_docker_archive_with_a_swapped_layer_tar_is_refused(images, tmp_path):
    leaky, decoy, _ = images
    members = _members(leaky)
    members[_layer_names(leaky)[0]] = _members(decoy)[_layer_names(decoy)[0]]
    tampered = _write_tar(tmp_path / "swapped.tar", members)
    _refused(f"docker-archive:{tampered}", tmp_path)


def test_docker_archive_with_a_file_altered_in_place_is_refused(images, tmp_path):
    """Same size, same tar structure: only the diff_id check can tell."""
    leaky, _, key_line = images
    members = _members(leaky)
    name = _layer_names(leaky)[0]
    assert key_line.encode() in members[name]
    members[name] = members[name].replace(key_line.encode(), b"x" * len(key_line))
    tampered = _write_tar(tmp_path / "altered.tar", members)
    _refused(f"docker-archive:{tampered}", tmp_path)


def _layout(archive: Path, root: Path, *, compressed: bool) -> tuple[Path, dict, Path]:
    """``skopeo copy`` into an OCI layout (gzip layers); with ``compressed=False`` the layer
    is then stored as a plain tar (media type ``…tar``). Returns the layout, its manifest and
    the layer blob."""
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{root}:test"],
                   check=True, capture_output=True)
    index = json.loads((root / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((root / "blobs" / "sha256" / manifest_digest[7:]).read_bytes())
    layer = manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    blob = root / "blobs" / "sha256" / layer["digest"][7:]
    if not compressed:
        plain = gzip.decompress(blob.read_bytes())
        layer.update(mediaType="application/vnd.oci.image.layer.v1.tar", size=len(plain))
        blob = root / "blobs" / "sha256" / hashlib.sha256(plain).hexdigest()
        blob.write_bytes(plain)
        _readdress(root, manifest, blob, "sha256")
    return root, manifest, blob


def test_oci_layout_gzip_blob_overwritten_with_a_plain_tar_is_refused(images, tmp_path):
    leaky, decoy, _ = images
    root, _, blob = _layout(leaky, tmp_path / "oci", compressed=True)
    plain = _members(decoy)[_layer_names(decoy)[0]]
    size = blob.stat().st_size
    assert len(plain) <= size
    blob.write_bytes(plain + bytes(size - len(plain)))  # same size: zero blocks end a tar
    _refused(f"oci-layout:{root}:test", tmp_path)


def test_oci_layout_plain_blob_altered_in_place_is_refused(images, tmp_path):
    leaky, _, key_line = images
    root, _, blob = _layout(leaky, tmp_path / "oci", compressed=False)
    data = blob.read_bytes()
    assert key_line.encode() in data
    blob.write_bytes(data.replace(key_line.encode(), b"x" * len(key_line)))
    _refused(f"oci-layout:{root}:test", tmp_path)


def _readdress(root: Path, manifest: dict, blob: Path, algorithm: str) -> None:
    """Address the layer by ``blob`` under ``algorithm`` (rewriting the manifest and index)."""
    data = blob.read_bytes()
    digest = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    target = root / "blobs" / algorithm / digest.partition(":")[2]
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(data)
    manifest["layers"][0]["digest"] = digest
    raw = json.dumps(manifest).encode()
    manifest_digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    (root / "blobs" / "sha256" / manifest_digest[7:]).write_bytes(raw)
    index = json.loads((root / "index.json").read_text())
    index["manifests"][0].update(digest=manifest_digest, size=len(raw))
    (root / "index.json").write_text(json.dumps(index))


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_oci_layout_descriptor_digest_is_checked_for_sha256_and_sha512(images, tmp_path,
                                                                       algorithm):
    """The gzip header's mtime changed: same size, same tar inside, so the diff_id still
    matches; only the descriptor digest (sha512 was never checked) shows the change."""
    leaky, _, _ = images
    root, manifest, blob = _layout(leaky, tmp_path / "oci", compressed=True)
    _readdress(root, manifest, blob, algorithm)
    digest = manifest["layers"][0]["digest"]
    stored = root / "blobs" / algorithm / digest.partition(":")[2]
    # Untouched, the re-addressed layout scans (and finds the key).
    result = CliRunner().invoke(cli, ["scan-secrets", f"oci-layout:{root}:test"])
    assert result.exit_code == 7, result.output
    data = bytearray(stored.read_bytes())
    data[4:8] = (int.from_bytes(data[4:8], "little") ^ 0x5A5A5A5A).to_bytes(4, "little")
    stored.write_bytes(bytes(data))
    assert gzip.decompress(bytes(data)) == gzip.decompress(blob.read_bytes())
    _refused(f"oci-layout:{root}:test", tmp_path)
    result = CliRunner().invoke(cli, ["sbom", f"oci-layout:{root}:test"])
    assert "does not match its descriptor digest" in result.stderr


def test_registry_layer_that_does_not_match_its_diff_id_is_refused(registry, images, tmp_path):
    """Same class, registry side: every blob matches its digest, but the config's diff_id
    names another tar than the one inside the gzip layer."""
    from oci_attest.registry.client import RegistryClient

    leaky, decoy, _ = images
    client = RegistryClient(registry.host)
    real = _members(leaky)[_layer_names(leaky)[0]]
    claimed = _members(decoy)[_layer_names(decoy)[0]]
    blob = client.put_blob("tamper/app", gzip.compress(real, mtime=0))
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(claimed).hexdigest()]}})
    config_descriptor = client.put_blob("tamper/app", config.encode())
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_descriptor.digest, "size": config_descriptor.size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": blob.digest, "size": blob.size}]}).encode()
    client.put_manifest("tamper/app", "v1", manifest,
                        "application/vnd.oci.image.manifest.v1+json")
    _refused(f"{registry.host}/tamper/app:v1", tmp_path)
