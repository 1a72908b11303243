"""SIGSTORE_ID_TOKEN (cosign's variable) is honoured on any CI, not only under GitLab."""

from __future__ import annotations

from sigstore.models import ClientTrustConfig

from oci_attest.sign import resolve_identity_token


def test_sigstore_id_token_is_read_outside_gitlab(monkeypatch, sigstore_stack,
                                                  sigstore_trust_config):
    for name in ("GITLAB_CI", "GITHUB_ACTIONS", "ATTEST_IDENTITY_TOKEN",
                 "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    token = sigstore_stack.mint_token("ci-bot@attest.test")
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", token)
    config = ClientTrustConfig.from_json(sigstore_trust_config.read_text())
    assert resolve_identity_token(None, config) == token
    # an explicit token and ATTEST_IDENTITY_TOKEN still win
    monkeypatch.setenv("ATTEST_IDENTITY_TOKEN", "attest-token")
    assert resolve_identity_token(None, config) == "attest-token"
    assert resolve_identity_token("explicit", config) == "explicit"
