"""Secrets in real images: ``attest build --scan-secrets`` and ``attest scan-secrets``.

Images are built by the real engine FROM scratch with made-up secrets planted in their
layers. A leaky build must stop before anything is pushed or signed, name every file and
layer, and never show a secret value anywhere: not on stdout or stderr, not in the output
directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.registry.client import RegistryClient
from tests.secrets.planted import DECOYS, planted

pytestmark = pytest.mark.integration
IDENTITY = "release-bot@attest.test"


def attest(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for path, content in files.items():
        target = root / "rootfs" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY rootfs/ /\n")
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    repo.index.commit("secrets")
    return root


def assert_never_shown(values, *texts, directory: Path | None = None):
    for value in values:
        for text in texts:
            assert value not in text
        if directory is not None:
            for path in directory.rglob("*"):
                if path.is_file():
                    assert value.encode() not in path.read_bytes(), path


@pytest.fixture(scope="module")
def secrets_planted():
    return planted()


def test_a_leaky_build_fails_before_push_and_sign(docker_engine, registry, sigstore_stack,
                                                  sigstore_trust_config, secrets_planted,
                                                  tmp_path):
    files = {path: content for path, content, _ in secrets_planted.values()}
    files.update(DECOYS)
    root = project(tmp_path / "leaky", files)
    out = tmp_path / "out"
    image = f"{registry.host}/secrets/leaky:1"
    token = sigstore_stack.mint_token(IDENTITY)
    result = attest("build", root, "-t", image, "--scan-secrets", "--no-sbom",
                    "--trust-config", sigstore_trust_config, "--identity-token", token,
                    "-o", out)
    assert result.exit_code == 7, result.output
    assert "Traceback" not in result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("attest: secrets found:") and "nothing was pushed or signed" in last
    for rule_id, (path, _content, _value) in secrets_planted.items():
        assert f"in /{path}" in result.stderr, rule_id
    for decoy in DECOYS:
        assert f"/{decoy} " not in result.stderr
    # Nothing pushed, nothing signed.
    client = RegistryClient(registry.host)
    assert client.head_manifest("secrets/leaky", "1") is None
    state = json.loads((out / "state.json").read_text())
    assert "build" in state["steps"]
    assert not {"push", "secret-scan", "describe", "sign", "attach"} & set(state["steps"])
    assert not list(out.glob("*.sigstore.json")) and not list(out.glob("*.intoto.json"))
    report = json.loads((out / "secret-scan.json").read_text())
    assert report["clean"] is False and report["findings"] == len(report["results"])
    assert {r["rule"] for r in report["results"]} == {k.split(" ")[0] for k in secrets_planted}
    assert all(r["layerDigest"].startswith("sha256:") for r in report["results"])
    assert_never_shown([v for _, _, v in secrets_planted.values()], result.output,
                       directory=out)
    # The image is still bad on resume: the scan runs again and fails again.
    again = attest("build", "--resume", out, "--identity-token", token)
    assert again.exit_code == 7
    assert "building the image" not in again.stderr


def test_a_clean_build_records_the_scan_in_the_provenance(docker_engine, registry,
                                                          sigstore_stack, sigstore_trust_config,
                                                          tmp_path):
    root = project(tmp_path / "clean", DECOYS)
    out = tmp_path / "out"
    result = attest("build", root, "-t", f"{registry.host}/secrets/clean:1", "--scan-secrets",
                    "--no-sbom", "--trust-config", sigstore_trust_config, "--identity-token",
                    sigstore_stack.mint_token(IDENTITY), "-o", out)
    assert result.exit_code == 0, result.output
    statement = json.loads((out / "provenance.intoto.json").read_text())
    scan = statement["predicate"]["buildDefinition"]["internalParameters"]["secretScan"]
    assert scan["clean"] is True and scan["findings"] == 0
    assert scan["filesScanned"] == len(DECOYS) and scan["layers"] == 1
    assert scan["scanner"] == "attest-secrets" and scan["rulesVersion"]


def test_scan_secrets_reads_registry_daemon_and_archive(docker_engine, registry,
                                                        secrets_planted, tmp_path):
    files = {path: content for path, content, _ in secrets_planted.values()}
    root = project(tmp_path / "leaky", files)
    image = f"{registry.host}/secrets/scanned:1"
    subprocess.run(["docker", "build", "-q", "-t", image, str(root)], check=True,
                   capture_output=True)
    subprocess.run(["docker", "push", image], check=True, capture_output=True)
    archive = tmp_path / "image.tar"
    subprocess.run(["docker", "save", "-o", str(archive), image], check=True)
    values = [v for _, _, v in secrets_planted.values()]
    expected = {k.split(" ")[0] for k in secrets_planted}
    for spec in (image, f"docker-daemon:{image}", f"docker-archive:{archive}"):
        result = attest("scan-secrets", spec, "--format", "json")
        assert result.exit_code == 7, (spec, result.output)
        report = json.loads(result.stdout)
        assert {r["rule"] for r in report["results"]} == expected, spec
        assert {r["path"] for r in report["results"]} == {f"/{p}" for p, _, _ in
                                                          secrets_planted.values()}
        assert result.stderr.strip().splitlines()[-1].startswith("attest: secrets found: 13")
        assert_never_shown(values, result.output)


def _layer(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_secret_deleted_in_a_later_layer_is_still_found(secrets_planted, tmp_path):
    path, content, value = secrets_planted["github-token"]
    layers = [_layer({path: content.encode()}),
              _layer({path.rsplit("/", 1)[0] + "/.wh." + path.rsplit("/", 1)[1]: b""})]
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    archive = tmp_path / "deleted.tar"
    with tarfile.open(archive, "w") as tar:
        entries = {"config.json": config, "manifest.json": json.dumps(
            [{"Config": "config.json", "RepoTags": ["deleted:1"],
              "Layers": ["l0/layer.tar", "l1/layer.tar"]}]).encode(),
                   "l0/layer.tar": layers[0], "l1/layer.tar": layers[1]}
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    result = attest("scan-secrets", f"docker-archive:{archive}", "--format", "json")
    assert result.exit_code == 7, result.output
    [finding] = json.loads(result.stdout)["results"]
    assert finding["rule"] == "github-token" and finding["layer"] == 0
    assert finding["layerDiffId"] == diff_ids[0]
    assert value not in result.output
