"""A hostile registry on the wire: trickled answers, cut answers to writes, credential
downgrades on redirect. Real sockets on 127.0.0.1: the fault proxy in front of the real
registry, or a hostile server that speaks TLS and plain HTTP on one port."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from devstack.faultproxy import Fault
from devstack.hostileserver import Answer, HostileServer, Seen
from devstack.tlsca import TestCA
from oci_attest.errors import RegistryError
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry import media_types as mt
from oci_attest.registry.auth import Credentials
from oci_attest.registry.client import RegistryClient
from tests.registry.test_client import push_artifact
from tests.registry.test_layouts import fake_bundle

pytestmark = pytest.mark.integration

SECRET = "s3cret-registry-password"


@pytest.fixture()
def fast(monkeypatch):
    monkeypatch.setenv("ATTEST_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("ATTEST_RETRY_BASE_DELAY", "0.01")
    monkeypatch.setenv("ATTEST_ATTACH_SETTLE", "0.01")


def _trickling(seen: Seen) -> Answer:
    body = b'{"schemaVersion":2}' * 200
    return Answer(200, {"Content-Type": mt.OCI_MANIFEST,
                        "Docker-Content-Digest": "sha256:" + "a" * 64}, body, trickle=0.2)


def test_a_trickling_registry_hits_the_operation_deadline(fast, monkeypatch):
    """Each byte comes well within the read timeout, so only a total deadline ends it."""
    monkeypatch.setenv("ATTEST_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("ATTEST_REGISTRY_TIMEOUT", "1.5")
    with HostileServer(_trickling) as server:
        client = RegistryClient(server.host)
        started = time.monotonic()
        with pytest.raises(RegistryError) as caught:
            client.get_manifest("slow/img", "v1")
        elapsed = time.monotonic() - started
    assert caught.value.exit_code == 5
    assert server.host in caught.value.message and "1.5s" in caught.value.message
    assert "ATTEST_REGISTRY_TIMEOUT" in (caught.value.hint or "")
    assert elapsed < 10  # the trickled answer alone would take ~15 minutes


def test_verify_against_a_trickling_registry_exits_5_with_one_line(tmp_path):
    with HostileServer(_trickling) as server:
        env = {**os.environ, "ATTEST_HTTP_TIMEOUT": "5", "ATTEST_REGISTRY_TIMEOUT": "1",
               "ATTEST_RETRY_ATTEMPTS": "2"}
        done = subprocess.run(
            [sys.executable, "-m", "oci_attest", "verify", f"{server.host}/slow/img:v1",
             "--certificate-identity", "x@example.com", "--certificate-oidc-issuer",
             "https://issuer.example", "--offline"],
            capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 5, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("attest:")]
    assert len(lines) == 1 and server.host in lines[0] and "Traceback" not in done.stderr


def test_a_cut_answer_to_the_att_put_does_not_fail_the_attach(registry_proxy, fast):
    """Status 200/201 arrives, then the connection closes short of Content-Length."""
    registry_proxy.clear()
    client = RegistryClient(registry_proxy.host)
    _, digest = push_artifact(client, "cut/att", "v1", payload=b"cut answer")
    subject = parse_reference(f"{registry_proxy.host}/cut/att@{digest}")
    bundle = fake_bundle("cut-att")
    registry_proxy.add(Fault.cut_answer(), r"/manifests/sha256-[0-9a-f]+\.att$", method="PUT",
                       times=None)
    try:
        layouts.attach_cosign_att(client, subject, bundle, "https://slsa.dev/provenance/v1")
        registry_proxy.add(Fault.cut_answer(), r"/manifests/sha256-", method="PUT",
                           times=None)
        layouts.attach_referrer(client, subject, fake_bundle("cut-ref"),
                                "https://slsa.dev/provenance/v1")
    finally:
        registry_proxy.clear()
    found = layouts.discover(client, subject)
    assert {f.layout for f in found} == {"cosign-att", "referrer"}
    cut = [e for e in registry_proxy.requests("PUT") if e.action == "cut_answer"]
    assert cut, "the fault never fired"


def test_a_cut_answer_to_a_manifest_put_by_digest(registry_proxy, fast):
    registry_proxy.clear()
    client = RegistryClient(registry_proxy.host)
    registry_proxy.add(Fault.cut_answer(), r"/manifests/v1$", method="PUT", times=None)
    try:
        _, digest = push_artifact(client, "cut/plain", "v1", payload=b"cut plain")
    finally:
        registry_proxy.clear()
    assert client.get_manifest("cut/plain", "v1").digest == digest


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("ca"))
    return ca, ca.issue(["127.0.0.1", "localhost"])


def test_no_credentials_on_a_same_host_redirect_from_https_to_http(test_ca, fast, monkeypatch):
    ca, server_cert = test_ca
    monkeypatch.setenv("ATTEST_REGISTRY_CA", str(ca.cert_path))

    def answer(seen: Seen) -> Answer:
        if seen.tls and "Authorization" not in seen.headers:
            return Answer(401, {"WWW-Authenticate": 'Basic realm="r"'})
        if seen.tls:
            return Answer(307, {"Location": f"http://127.0.0.1:{port}{seen.path}"})
        return Answer(404, {"Content-Type": "application/json"}, b'{"errors":[]}')

    with HostileServer(answer, cert=server_cert.cert, key=server_cert.key) as server:
        port = server.port
        client = RegistryClient(server.host,
                                credentials=Credentials(username="u", password=SECRET))
        assert client.base.startswith("https://")
        with pytest.raises(RegistryError):
            client.get_manifest("x/y", "v1")
    plain = [s for s in server.seen if not s.tls]
    assert plain, "the redirect was not followed"
    assert all("Authorization" not in s.headers for s in plain)
    assert any("Authorization" in s.headers for s in server.seen if s.tls)


def test_no_credentials_on_a_cross_host_redirect(test_ca, fast, monkeypatch):
    ca, server_cert = test_ca
    monkeypatch.setenv("ATTEST_REGISTRY_CA", str(ca.cert_path))
    with HostileServer(lambda s: Answer(404)) as other:
        def answer(seen: Seen) -> Answer:
            if "Authorization" not in seen.headers:
                return Answer(401, {"WWW-Authenticate": 'Basic realm="r"'})
            return Answer(307, {"Location": f"http://{other.host}{seen.path}"})

        with HostileServer(answer, cert=server_cert.cert, key=server_cert.key) as server:
            client = RegistryClient(server.host,
                                    credentials=Credentials(username="u", password=SECRET))
            with pytest.raises(RegistryError):
                client.get_manifest("x/y", "v1")
    assert other.seen and all("Authorization" not in s.headers for s in other.seen)


def test_a_layer_that_trickles_in_hits_the_deadline(fast, monkeypatch):
    """Layers are streamed in many reads; each read is bounded, not only the request."""
    monkeypatch.setenv("ATTEST_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("ATTEST_REGISTRY_TIMEOUT", "1.5")
    body = b"x" * 4096

    def answer(seen: Seen) -> Answer:
        return Answer(200, {"Content-Type": "application/octet-stream"}, body, trickle=0.05,
                      body_only=True)

    with HostileServer(answer) as server:
        client = RegistryClient(server.host)
        started = time.monotonic()
        with pytest.raises(RegistryError) as caught, \
                client.open_blob("slow/img", "sha256:" + "b" * 64, len(body)) as reader:
            while reader.read(65536):
                pass
        elapsed = time.monotonic() - started
    assert server.host in caught.value.message and elapsed < 10


def test_a_token_service_flooding_its_answer_is_refused_unread(fast):
    """A token answer is bounded like every other body (a hostile realm cannot OOM us)."""
    def token_service(seen: Seen) -> Answer:
        return Answer(200, {"Content-Type": "application/json",
                            "Content-Length": str(8 * 1024**3)}, b'{"token": "')

    with HostileServer(token_service) as realm:
        def registry(seen: Seen) -> Answer:
            return Answer(401, {"WWW-Authenticate":
                                f'Bearer realm="http://{realm.host}/token",service="r"'})

        with HostileServer(registry) as server:
            client = RegistryClient(server.host)
            with pytest.raises(RegistryError) as caught:
                client.head_manifest("x/y", "v1")
    assert "token service" in caught.value.message and "allowed" in caught.value.message


def test_a_whole_verification_has_its_own_deadline(fast, monkeypatch, tmp_path):
    """Many operations, each within its own limit, still end at the verification's limit."""
    monkeypatch.setenv("ATTEST_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("ATTEST_REGISTRY_TIMEOUT", "60")
    monkeypatch.setenv("ATTEST_VERIFY_TIMEOUT", "1.5")
    with HostileServer(_trickling) as server:
        env = {**os.environ}
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "oci_attest", "verify", f"{server.host}/slow/img:v1",
             "--certificate-identity", "x@example.com", "--certificate-oidc-issuer",
             "https://issuer.example", "--offline"],
            capture_output=True, text=True, env=env, timeout=120)
        elapsed = time.monotonic() - started
    assert done.returncode == 5, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("attest:")]
    assert len(lines) == 1 and "the verification of" in lines[0] and server.host in lines[0]
    assert "ATTEST_VERIFY_TIMEOUT" in lines[0] and elapsed < 30
