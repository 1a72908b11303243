"""The edges of the secret rules, one per mutant that the plain rule tests let survive.

bench/mutation.py found each of these: a one-line change to oci_attest/secrets/rules.py that
no other test noticed. Secrets are made up here at test time, never committed in their shape.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from oci_attest.secrets import rules
from tests.secrets.planted import ALNUM, UPPER, pkcs8_pem, rand

GH = "gh" + "p_"
NPM = "np" + "m_"
KUBECONFIG = "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: {}\n"


def ids(path: str, data: str | bytes) -> list[tuple[str, int]]:
    raw = data.encode() if isinstance(data, str) else data
    return [(m.rule.id, m.line) for m in rules.scan(path, raw)]


def key_body(length: int = 64, alphabet: bytes | None = None) -> str:
    """A PEM-looking body of ``length`` base64 characters (64 a line)."""
    if alphabet is None:
        text = base64.b64encode(hashlib.sha512(b"body").digest() * (length // 64 + 2)).decode()
    else:
        text = (alphabet.decode() * length)
    text = text[:length]
    return "\n".join(text[i:i + 64] for i in range(0, len(text), 64))


def pem(body: str, kind: str = "PRIVATE KEY", headers: str = "") -> str:
    return f"-----BEGIN {kind}-----\n{headers}{body}\n-----END {kind}-----\n"


# ---------------------------------------------------------------------------- several findings
def test_two_tokens_in_one_file_are_two_findings_in_line_order():
    npm, gh = NPM + rand(ALNUM, 36), GH + rand(ALNUM, 36)
    data = f"# tokens\n{npm}\n\n{gh}\nend\n"
    assert ids("app/.env", data) == [("npm-token", 2), ("github-token", 4)]


def test_lines_count_from_the_start_of_the_file():
    gh = GH + rand(ALNUM, 36)
    assert ids("x", f"\n\n{gh}\n\n\nmore\n") == [("github-token", 3)]
    aws = ("AK" + "IA" + rand(UPPER, 16), rand(ALNUM + "/+", 40))
    text = f"[default]\naws_access_key_id = {aws[0]}\naws_secret_access_key = {aws[1]}\n\n\n"
    assert ids("home/.aws/credentials", text) == [("aws-access-key", 2)]


# ------------------------------------------------------------------------------ PEM private keys
def test_pem_body_size_and_variety_thresholds():
    assert ids("k", pem(key_body(64))) == [("private-key", 1)]
    assert ids("k", pem(key_body(63))) == []  # too short for a key
    # Two lines of 31 + 32 characters: still 63, wherever the line breaks fall.
    short = key_body(63).replace("\n", "")
    assert ids("k", pem(f"{short[:31]}\n{short[31:]}")) == []
    sixteen = b"ABCDEFGHIJKLMNOP"
    assert ids("k", pem(key_body(64, sixteen))) == [("private-key", 1)]
    assert ids("k", pem(key_body(64, sixteen[:15]))) == []  # "AAAA..." in a manual


def test_pem_key_line_is_its_begin_line():
    assert ids("k", f"# key\n\n{pem(key_body(128))}\n# end\n\n") == [("private-key", 3)]


def test_first_of_two_keys_is_reported():
    assert ids("k", "x\n" + pem(key_body(64)) + pem(key_body(128))) == [("private-key", 2)]


def test_real_key_after_a_placeholder_or_an_unterminated_block_is_found():
    placeholder = pem("XXXXXXXX")
    assert ids("k", placeholder + pem(key_body(64))) == [("private-key", 4)]
    unterminated = "-----BEGIN RSA PRIVATE KEY-----\nnot finished\n"
    assert ids("k", unterminated + pem(key_body(64))) == [("private-key", 3)]


def test_encrypted_legacy_pem_with_headers_is_a_key():
    headers = "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF\n\n"
    assert ids("k", pem(key_body(128), "RSA PRIVATE KEY", headers)) == [("private-key", 1)]


def test_pem_search_is_bounded_in_markers_and_length():
    """Decoy BEGIN markers do not hide a real key (the search stays linear without a marker
    cap); the body is bounded at 64 KiB."""
    opened = "-----BEGIN PRIVATE KEY-----\n"
    assert ids("k", opened * 31 + pem(key_body(64))) == [("private-key", 32)]
    assert ids("k", opened * 32 + pem(key_body(64))) == [("private-key", 33)]
    assert ids("k", pem(key_body(64 * 1024 - 1100))) == [("private-key", 1)]
    assert ids("k", pem(key_body(64 * 1024 + 64))) == []


# ------------------------------------------------------------------- Google service accounts
def _service_account(key: object, kind: str = "service_account") -> str:
    return json.dumps({"type": kind, "project_id": "p", "private_key": key,
                       "client_email": "ci@p.iam.gserviceaccount.example"})


def test_service_account_key_on_one_line_is_one_finding():
    """A key without line breaks also matches the PEM rule: still one finding, line 0."""
    key = pkcs8_pem().replace("\n", "")
    assert ids("sa.json", _service_account(key)) == [("gcp-service-account", 0)]


@pytest.mark.parametrize("key", [None, "REPLACE_ME" * 20, "-----BEGIN PRIVATE KEY-----x",
                                 "-----BEGIN PRIVATE KEY-----" + "x" * 73])
def test_service_account_without_a_real_key_is_not_a_finding(key):
    assert ids("sa.json", _service_account(key)) == []


def test_service_account_key_length_threshold():
    key = "-----BEGIN PRIVATE KEY-----\\n" + "x" * 80
    assert len(json.loads(f'"{key}"')) == 108
    assert ids("sa.json", _service_account(json.loads(f'"{key}"')[:101])) == [
        ("gcp-service-account", 0)]


def test_other_json_with_a_private_key_field_is_not_a_service_account():
    key = pkcs8_pem()
    assert ids("creds.json", _service_account(key, kind="authorized_user")) == []
    assert ids("list.json", json.dumps(["service_account", {"private_key": key}])) == []


# ---------------------------------------------------------------------- docker credentials
@pytest.mark.parametrize("field", ["auth", "password", "identitytoken", "registrytoken"])
def test_every_docker_credential_field_is_a_finding(field):
    document = json.dumps({"auths": {"registry.example": {field: rand(ALNUM, 24)}}})
    assert ids("root/.docker/config.json", document) == [("docker-config-auth", 0)]
    assert ids("run/containers/auth.json", document) == [("docker-config-auth", 0)]
    assert ids("srv/app/config.json", document) == []  # not a docker config location


def test_docker_config_without_credentials_is_not_a_finding():
    assert ids("root/.docker/config.json", json.dumps({"auths": {"r": {"auth": ""}}})) == []
    assert ids("root/.docker/config.json", json.dumps(["auths", "password"])) == []


# ----------------------------------------------------------------- npmrc, pypirc, kubeconfig
@pytest.mark.parametrize("value", ['""', "''", "null", "~", "${NPM_TOKEN}", "  "])
def test_placeholders_are_not_findings(value):
    assert ids("home/.npmrc", f"registry=x\n_authToken={value}\n") == []
    assert ids("home/.pypirc", f"[pypi]\npassword: {value}\n") == []
    assert ids("home/.kube/config", KUBECONFIG.format(value)) == []


def test_a_short_literal_password_is_still_a_finding():
    assert ids("home/.pypirc", "[pypi]\nusername = ci\npassword = XX\n\n") == [
        ("pypirc-password", 3)]


def test_file_rules_report_the_line_of_the_credential():
    assert ids("home/.npmrc", f"registry=x\n\n_authToken={rand(ALNUM, 30)}\n# end\n") == [
        ("npmrc-auth", 3)]
    assert ids("home/.kube/config", KUBECONFIG.format(rand(ALNUM, 40)) + "\n\n") == [
        ("kubeconfig-credentials", 6)]


@pytest.mark.parametrize("name", ["ci.kubeconfig", "cluster.yaml", "cluster.yml", "k3s.conf"])
def test_kubeconfig_found_by_content_under_any_config_name(name):
    assert ids(f"etc/{name}", KUBECONFIG.format(rand(ALNUM, 40))) == [
        ("kubeconfig-credentials", 6)]


def test_an_empty_value_does_not_take_the_next_line_as_the_secret():
    assert ids("home/.npmrc", "_authToken=\nregistry=https://npm.example/\n") == []
    assert ids("home/.pypirc", "[pypi]\npassword =\n[testpypi]\nusername = ci\n") == []
    kube = "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token:\n    x: y\n"
    assert ids("home/.kube/config", kube) == []


def test_a_lone_aws_key_id_is_a_finding_a_lone_secret_is_not():
    key_id, secret = "AK" + "IA" + rand(UPPER, 16), rand(ALNUM + "/+", 40)
    assert ids("home/.aws/credentials", f"aws_access_key_id = {key_id}\n") == [
        ("aws-access-key", 1)]
    assert ids("home/.aws/credentials", f"aws_secret_access_key = {secret}\n") == []
