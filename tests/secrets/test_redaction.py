"""Build arguments with secret values never reach the provenance, the state or the logs."""

from __future__ import annotations

import json

import docker
import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from tests.faults.conftest import make_project
from tests.secrets.planted import ALNUM, rand

pytestmark = pytest.mark.integration


def test_secret_build_args_are_redacted_everywhere(docker_engine, registry, sigstore_stack,
                                                   sigstore_trust_config, tmp_path, caplog):
    token, custom, shaped = rand(ALNUM, 30), rand(ALNUM, 30), "gh" + "p_" + rand(ALNUM, 36)
    root = make_project(tmp_path / "p", "scratch", "redaction\n")
    (root / "Dockerfile").write_text("FROM scratch\nARG NPM_TOKEN\nARG INTERNAL_THING\n"
                                     "ARG HARMLESS\nCOPY msg.txt /msg.txt\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "build", str(root), "-t", f"{registry.host}/redact/app:1", "--no-sbom",
        "--build-arg", f"NPM_TOKEN={token}", "--build-arg", f"INTERNAL_THING={custom}",
        "--build-arg", f"HARMLESS={shaped}", "--build-arg", "VISIBLE=plain-value",
        "--redact", "INTERNAL_THING", "--trust-config", str(sigstore_trust_config),
        "--identity-token", sigstore_stack.mint_token(), "-o", str(out)],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    provenance = (out / "provenance.intoto.json").read_text()
    assert '"VISIBLE":"plain-value"' in provenance.replace(" ", "")
    for name in ("NPM_TOKEN", "INTERNAL_THING", "HARMLESS"):  # by name, by --redact, by shape
        assert f'"{name}":"[REDACTED]"' in provenance.replace(" ", "")
    for value in (token, custom, shaped):
        assert value not in result.output and value not in caplog.text
        for path in out.rglob("*"):
            if path.is_file():
                assert value.encode() not in path.read_bytes(), path


def test_a_secret_label_is_not_stored_and_is_asked_for_again_on_resume(
        docker_engine, registry, tmp_path):
    value = rand(ALNUM, 30)
    root = make_project(tmp_path / "p", "scratch", "labels\n")
    out = tmp_path / "out"
    runner = CliRunner()
    (root / "msg.txt").rename(tmp_path / "msg.txt")  # the build fails at its COPY ...
    failed = runner.invoke(cli, [
        "build", str(root), "-t", f"{registry.host}/redact/labels:1", "--no-sign", "--no-sbom",
        "--backend", "docker", "--label", f"internal.build={value}", "--redact",
        "internal.build", "-o", str(out)])
    assert failed.exit_code == 4, failed.output
    (tmp_path / "msg.txt").rename(root / "msg.txt")  # ... and is resumed once it is back
    assert value.encode() not in (out / "state.json").read_bytes()
    again = runner.invoke(cli, ["build", "--resume", str(out)])
    assert again.exit_code == 3 and "--label internal.build" in again.stderr, again.output
    resumed = runner.invoke(cli, ["build", "--resume", str(out), "--label",
                                  f"internal.build={value}"])
    assert resumed.exit_code == 0, resumed.output
    image_id = json.loads((out / "state.json").read_text())["steps"]["build"]["imageId"]
    labels = docker.from_env().images.get(image_id).labels
    assert labels["internal.build"] == value  # the image got the real value ...
    for path in out.rglob("*"):  # ... and no file of the run holds it
        assert not path.is_file() or value.encode() not in path.read_bytes(), path
