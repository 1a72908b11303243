"""``--offline`` never opens a socket; without it, an unreachable TUF repository is exit 5."""

from __future__ import annotations

import hashlib
import socket

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.verify import trust
from tests.prerequisites import requires
from tests.shared_vectors import shared_dir
from tests.verify.test_conformance_bundles import DEFAULT_IDENTITY, DEFAULT_ISSUER

SHARED = shared_dir() / "conformance"
CASES = SHARED / "sigstore-bundle-verify/bundle-verify"
REAL = SHARED / "real-attestations"


class SocketUsed(OSError):
    pass


@pytest.fixture()
def no_network(monkeypatch, tmp_path):
    """Any connection or name lookup fails the test; TUF caches point at an empty directory."""
    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise SocketUsed(f"attempted to connect to {address}")

    def refuse_lookup(host, *args, **kwargs):
        attempts.append(host)
        raise SocketUsed(f"attempted to resolve {host}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    trust.clear_cache()
    yield attempts
    trust.clear_cache()


@requires(CASES.is_dir(), f"conformance vectors not found at {CASES}")
def test_offline_conformance_opens_no_socket(no_network, tmp_path):
    runner = CliRunner()
    for case in sorted(p for p in CASES.iterdir() if p.is_dir()):
        artifact = case / "artifact" if (case / "artifact").exists() else CASES / "a.txt"
        args = ["verify", "--offline", "--predicate-type", "any", "--bundle",
                str(case / "bundle.sigstore.json"), "--digest",
                "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()]
        if (case / "key.pub").exists():
            args += ["--key", str(case / "key.pub")]
        else:  # the case's own signer: a match-everything regexp is refused as no signer
            identity = case / "identity"
            issuer = case / "issuer"
            args += ["--certificate-identity", identity.read_text().strip()
                     if identity.exists() else DEFAULT_IDENTITY,
                     "--certificate-oidc-issuer", issuer.read_text().strip()
                     if issuer.exists() else DEFAULT_ISSUER]
        if (case / "trusted_root.json").exists():
            args += ["--trusted-root", str(case / "trusted_root.json")]
        result = runner.invoke(cli, args)
        assert not isinstance(result.exception, SocketUsed), case.name
        assert result.exit_code in (0, 1, 3), (case.name, result.stderr)
    assert no_network == []
    assert not (tmp_path / "cache").exists() and not (tmp_path / "data").exists()


@requires(REAL.is_dir(), f"real vectors not found at {REAL}")
def test_offline_real_attestations_open_no_socket(no_network):
    bundle = REAL / "npm-sigstore-2.1.0-provenance.sigstore.json"
    result = CliRunner().invoke(cli, [
        "verify", "--offline", "--bundle", str(bundle), "--digest",
        "sha512:90f223f992e4c88dd068cd2a5fc57f9d2b30798343dd6e38f29c240e04ba090ef831f84490847c4"
        "e82b9232c78e8a258463b1e55c0f7469f730265008fa6633f",
        "--certificate-identity",
        "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
        "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com"])
    assert result.exit_code == 0, result.output
    assert no_network == []


@requires(REAL.is_dir(), f"real vectors not found at {REAL}")
def test_unreachable_trust_root_is_exit_5_not_a_verdict(no_network):
    bundle = REAL / "npm-sigstore-2.1.0-provenance.sigstore.json"
    result = CliRunner().invoke(cli, [
        "verify", "--bundle", str(bundle), "--digest", "sha512:" + "0" * 128,
        "--certificate-identity", "x", "--certificate-oidc-issuer", "y"])
    assert result.exit_code == 5, result.output
    assert "trust root unavailable" in result.stderr
    assert no_network  # it did try, and was refused


def test_unreachable_registry_is_exit_5(tmp_path):
    from devstack.services import free_port

    result = CliRunner().invoke(cli, [
        "verify", f"127.0.0.1:{free_port()}/nothing/here:v1", "--offline",
        "--certificate-identity", "x", "--certificate-oidc-issuer", "y"])
    assert result.exit_code == 5, result.output
    assert "registry error" in result.stderr
