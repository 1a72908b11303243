"""Registry credentials: from the docker config, sent only to their registry, never shown.

A real distribution registry with htpasswd auth sits behind a fault proxy that records what
each client sent; blob downloads are redirected (307) to a second listener on another port,
standing in for the blob storage registries hand out presigned URLs to. The credentials must
reach the registry (the build and the scan succeed) and never the redirect target, and they
must appear in no output, log line, state file or provenance.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from devstack.faultproxy import Fault, FaultProxy
from devstack.services import free_port, wait_for
from oci_attest.cli import cli
from tests.faults.conftest import make_project
from tests.secrets.planted import ALNUM, rand

pytestmark = pytest.mark.integration
USER = "ci-robot"


@pytest.fixture(scope="module")
def password():
    return rand(ALNUM, 28)


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory, password):
    """``docker-registry serve`` with ``auth: htpasswd`` (bcrypt, as distribution requires)."""
    if shutil.which("htpasswd") is None:
        pytest.fail("htpasswd is missing: apt-get install apache2-utils (scripts/setup does)")
    root = tmp_path_factory.mktemp("auth-registry")
    subprocess.run(["htpasswd", "-Bbc", str(root / "htpasswd"), USER, password], check=True,
                   capture_output=True)
    port = free_port()
    (root / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: attest-test\n    path: {root / 'htpasswd'}\n")
    with open(root / "registry.log", "ab") as log:
        process = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")],
                                   stdout=log, stderr=subprocess.STDOUT)

    def ready() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
        except urllib.error.HTTPError as error:
            return error.code == 401
        return False

    try:
        wait_for(ready, 30, "the htpasswd registry")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_credentials_go_to_the_registry_only(docker_engine, auth_registry, password,
                                             sigstore_stack, sigstore_trust_config, tmp_path,
                                             caplog):
    caplog.set_level(logging.DEBUG)
    basic = base64.b64encode(f"{USER}:{password}".encode()).decode()
    # Blob storage: serves the registry's blobs with credentials of its own (as a presigned
    # URL would), so anything the client sends it is the client's doing.
    storage = FaultProxy(auth_registry, name="storage",
                         upstream_headers={"Authorization": f"Basic {basic}"}).start()
    front = FaultProxy(auth_registry, name="registry").start()
    try:
        front.add(Fault.redirect(storage.url), r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$",
                  method="GET", times=None, headers={"User-Agent": "^attest/"})
        config_dir = tmp_path / "docker-config"
        config_dir.mkdir()
        (config_dir / "config.json").write_text(json.dumps({"auths": {front.host:
                                                                      {"auth": basic}}}))
        # --debug alone is attest's own loggers; name the chatty third-party ones explicitly,
        # so that even their debug output is checked for the credentials.
        env = {"DOCKER_CONFIG": str(config_dir), "ATTEST_DEBUG_LOGGERS": "urllib3,docker"}
        runner = CliRunner()
        image = f"{front.host}/creds/app:1"
        out = tmp_path / "out"
        root = make_project(tmp_path / "p", "scratch", "credentials\n")
        built = runner.invoke(cli, ["--debug", "build", str(root), "-t", image, "--no-sbom",
                                    "--trust-config", str(sigstore_trust_config),
                                    "--identity-token", sigstore_stack.mint_token(),
                                    "-o", str(out)], env=env, catch_exceptions=False)
        assert built.exit_code == 0, built.output
        scanned = runner.invoke(cli, ["--debug", "scan-secrets", image, "--format", "json"],
                                env=env, catch_exceptions=False)
        assert scanned.exit_code == 0, scanned.output
        assert json.loads(scanned.stdout)["filesScanned"] == 1

        # The registry got the credentials (attest's own requests and the engine's push) ...
        attest_sent = [e for e in front.exchanges if e.headers.get("User-Agent", "").startswith(
            "attest/")]
        assert any(e.headers.get("Authorization") == f"Basic {basic}" for e in attest_sent)
        assert any(e.headers.get("Authorization") for e in front.exchanges
                   if e.headers.get("User-Agent", "").startswith("docker/"))
        # ... every blob download was redirected, and the storage never saw them.
        redirected = [e for e in front.exchanges if e.action == "redirect"]
        assert redirected and len(storage.exchanges) == len(redirected)
        assert all("Authorization" not in e.headers for e in storage.exchanges)
        # Never shown, never stored.
        assert "GET blob" in caplog.text or "127.0.0.1" in caplog.text  # logs were captured
        for text in (built.output, scanned.output, caplog.text):
            assert password not in text and basic not in text
        for path in out.rglob("*"):
            if path.is_file():
                assert password.encode() not in path.read_bytes()
                assert basic.encode() not in path.read_bytes()
    finally:
        front.stop()
        storage.stop()


def test_without_credentials_the_registry_error_says_what_to_do(auth_registry, tmp_path):
    front = FaultProxy(auth_registry, name="registry").start()
    try:
        (tmp_path / "config.json").write_text("{}")
        result = CliRunner().invoke(cli, ["scan-secrets", f"{front.host}/creds/app:1"],
                                    env={"DOCKER_CONFIG": str(tmp_path)})
        assert result.exit_code == 5, result.output
        assert "docker login" in result.stderr and "Traceback" not in result.output
    finally:
        front.stop()
