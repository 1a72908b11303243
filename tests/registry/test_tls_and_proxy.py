"""A TLS registry with a private CA, reached directly and through a forward proxy.

The registry is the real distribution registry serving HTTPS with a certificate from a CA
made here; the proxy is a real CONNECT proxy (devstack.connectproxy) that opens every tunnel
to 127.0.0.1 whatever host is asked for. Registries behind the proxy are named
``registry.attest.test:PORT``: a name that resolves nowhere, so test traffic can only reach
the local registry through the proxy and never leaves the machine. Before any request, each
test checks that the client really chose the proxy for that name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import services
from devstack.connectproxy import ConnectProxy
from devstack.tlsca import TestCA
from oci_attest.errors import RegistryError
from oci_attest.registry import transport
from oci_attest.registry.client import RegistryClient
from tests.registry.test_client import push_artifact

pytestmark = pytest.mark.integration

PROXIED_NAME = "registry.attest.test"
IDENTITY = ["--certificate-identity", "x@example.com",
            "--certificate-oidc-issuer", "https://issuer.example", "--offline"]
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
               "all_proxy", "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
               "ATTEST_REGISTRY_CA", "ATTEST_DOCKER_CERTS_DIR")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATTEST_DOCKER_CERTS_DIR", str(tmp_path / "no-certs.d"))
    monkeypatch.setenv("ATTEST_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("ATTEST_RETRY_BASE_DELAY", "0.01")
    transport.set_registry_ca(None)
    yield
    transport.set_registry_ca(None)


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return TestCA(tmp_path_factory.mktemp("private-ca"))


@pytest.fixture(scope="module")
def tls_registry(ca, tmp_path_factory):
    cert = ca.issue(["127.0.0.1", "localhost", PROXIED_NAME], stem="registry")
    registry = services.start_registry(tmp_path_factory.mktemp("tls-registry"),
                                       tls_cert=cert.cert, tls_key=cert.key,
                                       ca_file=ca.cert_path)
    yield registry
    registry.stop()


def _port(registry) -> str:
    return registry.host.rsplit(":", 1)[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    return {**env, "ATTEST_RETRY_ATTEMPTS": "2", "ATTEST_RETRY_BASE_DELAY": "0.01", **extra}


def _attest(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oci_attest", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def _error(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines()
             if line.startswith("attest:") and "retrying in" not in line]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_registry_ca_option_reaches_a_tls_registry(tls_registry, ca):
    image = f"{tls_registry.host}/tls/app:v1"
    transport.set_registry_ca(ca.cert_path)
    client = RegistryClient(tls_registry.host)
    assert client.base.startswith("https://")
    push_artifact(client, "tls/app", "v1")
    transport.set_registry_ca(None)
    # Through the CLI: with the CA the verification runs (and fails on policy: exit 1) ...
    done = _attest("verify", image, *IDENTITY, "--registry-ca", ca.cert_path, env=_env())
    assert done.returncode == 1, done.stderr
    # ... the global option works before the command too ...
    done = _attest("--registry-ca", ca.cert_path, "verify", image, *IDENTITY, env=_env())
    assert done.returncode == 1, done.stderr
    # ... and without it, loopback is plain HTTP: the hint says the registry speaks TLS.
    done = _attest("verify", image, *IDENTITY, env=_env())
    assert done.returncode == 5 and "--registry-ca" in _error(done)


def test_docker_certs_d_convention(tls_registry, ca, tmp_path, monkeypatch):
    certs = tmp_path / "certs.d" / tls_registry.host
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_bytes(ca.cert_path.read_bytes())
    monkeypatch.setenv("ATTEST_DOCKER_CERTS_DIR", str(tmp_path / "certs.d"))
    client = RegistryClient(tls_registry.host)
    assert client.base.startswith("https://")
    push_artifact(client, "tls/certsd", "v1")
    assert client.head_manifest("tls/certsd", "v1") is not None


def test_a_wrong_ca_is_named_as_a_tls_problem(tls_registry, tmp_path):
    other = TestCA(tmp_path / "other-ca", name="not the registry's CA")
    done = _attest("verify", f"{tls_registry.host}/tls/app:v1", *IDENTITY,
                   "--registry-ca", other.cert_path, env=_env())
    line = _error(done)
    assert done.returncode == 5 and "TLS" in line and "certificate verify failed" in line
    assert "rate limiting" not in line


def _proxied_client(tls_registry, proxy: ConnectProxy, monkeypatch) -> RegistryClient:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "")
    name = f"{PROXIED_NAME}:{_port(tls_registry)}"
    client = RegistryClient(name)
    # Guard: this name must go through the loopback proxy, never be resolved and dialled.
    assert client._transport.proxies(client.base + "/v2/") == {"https": proxy.url}
    return client


def test_through_a_forward_proxy_with_the_ca_from_ssl_cert_file(tls_registry, ca,
                                                                monkeypatch):
    with ConnectProxy() as proxy:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca.cert_path))
        client = _proxied_client(tls_registry, proxy, monkeypatch)
        raw, digest = push_artifact(client, "proxied/app", "v1")
        assert client.get_manifest("proxied/app", digest).raw == raw
        name = f"{PROXIED_NAME}:{_port(tls_registry)}"
        assert proxy.tunnels and set(proxy.tunnels) == {name}
        done = _attest("verify", f"{name}/proxied/app:v1", *IDENTITY,
                       env=_env(HTTPS_PROXY=proxy.url, NO_PROXY="",
                                REQUESTS_CA_BUNDLE=str(ca.cert_path)))
        assert done.returncode == 1, done.stderr


def test_through_a_proxy_without_the_ca_is_a_tls_error(tls_registry, monkeypatch):
    with ConnectProxy() as proxy:
        client = _proxied_client(tls_registry, proxy, monkeypatch)
        with pytest.raises(RegistryError) as caught:
            client.head_manifest("proxied/app", "v1")
    assert "TLS" in caught.value.message and caught.value.exit_code == 5


def test_a_dead_proxy_is_named_as_a_proxy_problem(tls_registry):
    dead = f"http://127.0.0.1:{services.free_port()}"
    name = f"{PROXIED_NAME}:{_port(tls_registry)}"
    done = _attest("verify", f"{name}/proxied/app:v1", *IDENTITY,
                   env=_env(HTTPS_PROXY=dead, NO_PROXY=""))
    line = _error(done)
    assert done.returncode == 5 and "proxy" in line and dead.split("//")[1] in line
    assert "rate limiting" not in line


def test_proxy_choice_honours_no_proxy_and_never_proxies_loopback(monkeypatch):
    """Which proxy a URL gets (no traffic is sent)."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example,.corp.example")
    chosen = transport.transport_for("registry.example")
    assert chosen.proxies("https://registry.example/v2/") == {"https": "http://127.0.0.1:3128"}
    assert chosen.proxies("https://internal.example/v2/") == {}
    assert chosen.proxies("https://r.corp.example/v2/") == {}
    for loopback in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000"):
        assert transport.transport_for(loopback).proxies(f"http://{loopback}/v2/") == {}


def test_ca_sources_in_order(tmp_path, monkeypatch, ca):
    monkeypatch.setenv("SSL_CERT_FILE", "/from/ssl-cert-file.pem")
    assert transport.transport_for("r.example").verify == "/from/ssl-cert-file.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/from/requests.pem")
    assert transport.transport_for("r.example").verify == "/from/requests.pem"
    certs = tmp_path / "certs.d" / "r.example"
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_text("x")
    monkeypatch.setenv("ATTEST_DOCKER_CERTS_DIR", str(tmp_path / "certs.d"))
    assert transport.transport_for("r.example").verify == str(certs / "ca.crt")
    transport.set_registry_ca(Path(ca.cert_path))
    assert transport.transport_for("r.example").verify == str(ca.cert_path)
    # A CA for a loopback registry means it speaks TLS.
    assert transport.transport_for("127.0.0.1:5000").scheme == "https"
    transport.set_registry_ca(None)
    monkeypatch.delenv("ATTEST_DOCKER_CERTS_DIR")
    assert transport.transport_for("127.0.0.1:5000").scheme == "http"
