"""The exit-code table in README.md is a contract: every code in it is produced by a real
invocation here, and nothing else is in the table. Global options work after the command."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from devstack.services import free_port
from oci_attest import errors
from oci_attest.cli import COMMANDS, cli, hoist_global_options
from tests.registry.test_client import push_artifact
from tests.secrets.planted import ALNUM, rand

README = Path(__file__).resolve().parents[2] / "README.md"
IDENTITY = ["--certificate-identity", "x@example.com",
            "--certificate-oidc-issuer", "https://issuer.example", "--offline"]


def readme_table() -> dict[int, str]:
    section = README.read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.+) \|$",
                                                             section, re.M)}


def attest(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "oci_attest", *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ATTEST_RETRY_ATTEMPTS": "1", **(env or {})})


def test_the_table_lists_exactly_the_codes_attest_defines():
    defined = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    assert set(readme_table()) == defined | {70}


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("attest:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_code_0():
    assert attest("--version").returncode == 0


@pytest.mark.integration
def test_code_1_verification_failed(registry):
    from oci_attest.registry.client import RegistryClient

    push_artifact(RegistryClient(registry.host), "codes/one", "v1")
    done = attest("verify", f"{registry.host}/codes/one:v1", *IDENTITY)
    assert done.returncode == 1, done.stderr


def test_code_2_usage():
    done = attest("verify", "--no-such-flag")
    assert done.returncode == 2


@pytest.mark.parametrize("args", [
    ["verify", "x/y:1", "--policy", "{missing}"],
    ["verify", "--bundle", "{missing}", "--digest", "sha256:" + "0" * 64],
    ["sign", "{missing}"],
    ["attach", "127.0.0.1:9/x:1", "{missing}"],
    ["build", ".", "-t", "127.0.0.1:9/x:1", "--trust-config", "{missing}"],
    ["build", ".", "-t", "127.0.0.1:9/x:1", "--resume", "{missing}"],
    ["provenance", "--subject", "{missing}"],
    ["--registry-ca", "{missing}", "verify", "x/y:1"],
    ["verify", "x/y:1", "--registry-ca", "{missing}"],
])
def test_code_3_a_missing_file_is_bad_input_everywhere(args, tmp_path):
    missing = tmp_path / "absent.file"
    done = attest(*[a.replace("{missing}", str(missing)) for a in args])
    assert done.returncode == 3, done.stderr
    assert str(missing) in _one_error_line(done)


@pytest.mark.integration
def test_code_4_build_failed(docker_engine, tmp_path):
    import git

    repo = git.Repo.init(tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM scratch\nNOPE x\n")
    repo.index.add(["Dockerfile"])
    repo.index.commit("bad", author=git.Actor("t", "t@example.com"))
    done = attest("build", tmp_path, "-t", f"127.0.0.1:{free_port()}/codes/four:1",
                  "--no-sbom")
    assert done.returncode == 4, done.stderr


def test_code_5_registry_unreachable():
    done = attest("verify", f"127.0.0.1:{free_port()}/codes/five:1", *IDENTITY)
    assert done.returncode == 5, done.stderr
    line = _one_error_line(done)
    assert "refused" in line and "rate limiting" not in line


@pytest.mark.integration
def test_code_6_signing_error(sigstore_stack, sigstore_trust_config, tmp_path):
    statement = tmp_path / "statement.json"
    statement.write_text(json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "x", "digest": {"sha256": "0" * 64}}],
        "predicateType": "https://example.com/p", "predicate": {}}))
    expired = sigstore_stack.mint_token("https://github.com/acme/app/.github/workflows/"
                                        "release.yml@refs/heads/main", lifetime=-60)
    done = attest("sign", statement, "--trust-config", sigstore_trust_config,
                  "--identity-token", expired, "-o", tmp_path / "out")
    assert done.returncode == 6, done.stderr


@pytest.mark.integration
def test_code_7_secrets_found(tmp_path):
    from tests.hostile.test_layer_tars import _entry, archive

    token = "gh" + "p_" + rand(ALNUM, 36)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _entry(tar, "app/.env", f"GITHUB_TOKEN={token}\n".encode())
    done = attest("scan-secrets", f"docker-archive:{archive(tmp_path / 'i.tar', [buffer.getvalue()])}")
    assert done.returncode == 7 and token not in done.stdout + done.stderr


@pytest.mark.integration
@pytest.mark.parametrize("reference", ["codes/eight:nope", "codes/absent-repo:v1",
                                       "codes/eight@sha256:" + "1" * 64])
def test_code_8_a_tag_or_digest_that_does_not_exist(registry, reference):
    from oci_attest.registry.client import RegistryClient

    push_artifact(RegistryClient(registry.host), "codes/eight", "v1")
    done = attest("verify", f"{registry.host}/{reference}", *IDENTITY)
    assert done.returncode == 8, done.stderr
    assert "not found" in _one_error_line(done)


def test_code_70_internal_error(monkeypatch):
    monkeypatch.setitem(COMMANDS, "bug", "tests.core._bug_command")
    result = CliRunner().invoke(cli, ["bug"])
    assert result.exit_code == 70 and "internal error" in result.output
    assert "Traceback" not in result.output


def test_debug_and_quiet_work_after_the_command(tmp_path):
    missing = tmp_path / "absent.yaml"
    debug = attest("verify", "x/y:1", "--policy", missing, "--debug")
    assert debug.returncode == 3 and "Traceback" in debug.stderr
    quiet = attest("verify", f"127.0.0.1:{free_port()}/q/q:1", *IDENTITY, "-q")
    assert quiet.returncode == 5
    assert not [line for line in quiet.stderr.splitlines() if line.startswith("verifying")]


def test_hoisting_leaves_everything_else_in_place():
    assert hoist_global_options(["verify", "img", "--debug", "--policy", "p.yaml"]) == \
        ["--debug", "verify", "img", "--policy", "p.yaml"]
    assert hoist_global_options(["-q", "verify", "img", "--registry-ca", "ca.pem", "-q"]) == \
        ["-q", "--registry-ca", "ca.pem", "-q", "verify", "img"]
    assert hoist_global_options(["--registry-ca", "ca.pem", "verify", "img"]) == \
        ["--registry-ca", "ca.pem", "verify", "img"]
    assert hoist_global_options(["verify", "--", "--debug"]) == ["verify", "--", "--debug"]
