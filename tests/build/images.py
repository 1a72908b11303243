"""Small real images for the materials tests: built by the docker engine or written straight
into the registry (for configs the local engine cannot produce, e.g. another architecture)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

from oci_attest.reference import parse_reference
from oci_attest.registry.client import RegistryClient

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def docker(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["docker", *args], cwd=cwd, check=True, capture_output=True,
                          text=True, timeout=600)
    return done.stdout.strip()


def build_local(tmp: Path, tag: str, dockerfile: str, files: dict[str, str] | None = None,
                *, network: str | None = None) -> str:
    """``docker build`` (not pushed); returns the image id."""
    context = tmp / f"ctx-{hashlib.sha256(tag.encode()).hexdigest()[:8]}"
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (context / name).write_text(text)
    extra = ["--network", network] if network else []
    return docker("build", "-q", *extra, "-t", tag, str(context))


def build_and_push(tmp: Path, tag: str, dockerfile: str, files: dict[str, str] | None = None,
                   *, network: str | None = None) -> str:
    """Build, push, and return ``name@sha256:...`` as the registry has it."""
    build_local(tmp, tag, dockerfile, files, network=network)
    docker("push", tag)
    ref = parse_reference(tag)
    return RegistryClient(ref.registry).resolve(ref).pinned()


def diff_ids(pinned: str) -> list[str]:
    ref = parse_reference(pinned, default_tag=None)
    client = RegistryClient(ref.registry)
    manifest = client.get_manifest(ref.repository, ref.digest or ref.reference)
    config = json.loads(client.get_blob(ref.repository, manifest.config().digest))
    return list(config["rootfs"]["diff_ids"])


def _layer(files: dict[str, str]) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    return gzip.compress(plain, mtime=0), "sha256:" + hashlib.sha256(plain).hexdigest()


def push_raw_image(client: RegistryClient, repository: str, files: dict[str, str], *,
                   architecture: str, os_name: str = "linux") -> tuple[str, int]:
    """An image with one layer and the given platform in its config; (digest, size)."""
    layer, diff_id = _layer(files)
    layer_desc = client.put_blob(repository, layer)
    config = json.dumps({"architecture": architecture, "os": os_name,
                         "config": {"Env": ["PATH=/"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_desc = client.put_blob(repository, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "digest": config_desc.digest,
                   "size": len(config)},
        "layers": [{"mediaType": DOCKER_LAYER, "digest": layer_desc.digest,
                    "size": len(layer)}]}).encode()
    digest, _ = client.put_manifest(repository, "sha256:" + hashlib.sha256(manifest).hexdigest(),
                                    manifest, DOCKER_MANIFEST)
    return digest, len(manifest)


def push_index(client: RegistryClient, repository: str, tag: str,
               entries: list[tuple[str, int, str]]) -> str:
    """An OCI index of (digest, size, "os/arch") entries, in the order given."""
    manifests = []
    for digest, size, platform in entries:
        os_name, arch = platform.split("/")
        manifests.append({"mediaType": DOCKER_MANIFEST, "digest": digest, "size": size,
                          "platform": {"os": os_name, "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": manifests}).encode()
    digest, _ = client.put_manifest(repository, tag, index, OCI_INDEX)
    return digest
