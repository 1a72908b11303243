"""Build arguments with secret values never reach the provenance, the state or the logs."""

from __future__ import annotations

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
