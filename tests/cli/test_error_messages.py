"""Errors users met in practice, each one line that names the problem plainly."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from oci_attest.cli import cli


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_not_called_rate_limiting():
    port = _closed_port()
    result = CliRunner().invoke(cli, ["verify", f"127.0.0.1:{port}/x:1", "--offline",
                                      "--certificate-identity", "a",
                                      "--certificate-oidc-issuer", "b"],
                                env={"ATTEST_RETRY_ATTEMPTS": "1"})
    assert result.exit_code == 5
    line = result.stderr.strip().splitlines()[-1]
    assert "refused" in line and "rate limiting" not in line
    assert "ConnectionError" not in line and "nothing listens there" in line


def test_an_unreachable_docker_engine_is_named_before_any_registry_is_asked(tmp_path: Path):
    port = _closed_port()
    (tmp_path / "Dockerfile").write_text(f"FROM 127.0.0.1:{port}/base:1\nRUN true\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    result = CliRunner().invoke(cli, ["build", str(tmp_path), "-t", f"127.0.0.1:{port}/x:1",
                                      "--no-sign", "--backend", "docker"],
                                env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock",
                                     "ATTEST_RETRY_ATTEMPTS": "1"})
    assert result.exit_code == 2, result.output  # refused before anything runs
    assert (f"the docker engine does not answer at unix://{tmp_path}/no-such.sock"
            in result.stderr)
    assert "base image" not in result.stderr and "registry error" not in result.stderr
    assert "FileNotFoundError" not in result.stderr


def test_yaml_errors_name_the_file_and_the_position(tmp_path: Path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nidentities: [\n")
    result = CliRunner().invoke(cli, ["verify", "reg.test/x:1", "--policy", str(policy)])
    assert result.exit_code == 3
    line = result.stderr.strip()
    assert f"{policy}: not valid YAML: line 3, column 1:" in line
    assert "<unicode string>" not in line and "\n" not in line


def test_no_urllib3_retry_text_reaches_the_user(tmp_path: Path):
    """A TUF refresh with no network: urllib3 retries (and logs) three times; the user sees
    attest's one line only. Name lookups are refused in the child, as on a machine offline."""
    import os
    import sys

    program = (
        "import socket\n"
        "def refuse(host, *a, **k):\n"
        "    raise socket.gaierror(-2, 'Name or service not known')\n"
        "socket.getaddrinfo = refuse\n"
        "from oci_attest.cli import main\n"
        "main()\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", program, "verify", "127.0.0.1:9/x:1",
                           "--certificate-identity", "a", "--certificate-oidc-issuer", "b"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 5, done.stderr
    assert "Retrying (Retry(" not in done.stderr and "urllib3" not in done.stderr
    assert "trust root unavailable" in done.stderr.strip().splitlines()[-1]


def test_a_bad_signing_trust_config_is_one_line_without_pydantic_text(tmp_path: Path):
    statement = tmp_path / "s.json"
    statement.write_text('{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x",'
                         '"digest":{"sha256":"' + "a" * 64 + '"}}],"predicateType":'
                         '"https://x.test/p","predicate":{}}')
    config = tmp_path / "trust.json"
    config.write_text('{"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",'
                      ' "trustedRoot": {"x": 1}}')
    result = CliRunner().invoke(cli, ["sign", str(statement), "--trust-config", str(config),
                                      "--identity-token", "t"])
    assert result.exit_code == 3
    line = result.stderr.strip()
    assert "\n" not in line
    assert "trustedRoot.mediaType: required field is missing" in line
    assert "pydantic" not in line and "http" not in line.split("(hint")[0]
    assert "validation error" not in line
