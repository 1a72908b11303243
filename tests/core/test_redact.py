from oci_attest.redact import (
    REDACTED,
    name_looks_secret,
    redact_mapping,
    redact_text,
    value_looks_secret,
)


def test_secret_names_are_recognised():
    for name in ("NPM_TOKEN", "API_KEY", "APIKEY", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY",
                 "GH_PAT_TOKEN", "SSH_PRIVATE", "db-pass", "PGPASSWORD", "REGISTRY_AUTH"):
        assert name_looks_secret(name), name
    for name in ("VERSION", "BASE", "AUTHOR", "KEYBOARD", "PYTHON_VERSION", "TARGETARCH"):
        assert not name_looks_secret(name), name


def test_extra_names_are_redacted_too():
    assert redact_mapping({"WEIRD": "x"}, ["weird"]) == {"WEIRD": REDACTED}


def test_secret_shaped_values_are_redacted_whatever_the_name():
    token = "ghp_" + "A1b2C3d4" * 5
    assert value_looks_secret(token)
    assert value_looks_secret("https://user:hunter2@example.test/repo")
    assert value_looks_secret("AKIAABCDEFGHIJKLMNOP")
    assert not value_looks_secret("bookworm")
    assert redact_mapping({"HARMLESS": token, "V": "1"}) == {"HARMLESS": REDACTED, "V": "1"}


def test_redact_text_removes_known_values():
    assert "hunter2" not in redact_text("login failed for hunter2", ["hunter2"])


def test_urls_in_messages_keep_where_they_point_but_lose_credentials_and_queries():
    from oci_attest.redact import scrub_urls

    engine = ("400 Client Error for http+docker://localhost/v1.41/build?t=r%3A1&buildargs="
              "%7B%22NPM_TOKEN%22%3A+%22s3cr3t%22%7D: Bad Request")
    assert scrub_urls(engine) == "400 Client Error for http+docker://localhost/v1.41/build " \
                                 "Bad Request"
    assert scrub_urls("GET https://robot:pw@blobs.example/b/c?X-Amz-Signature=abc done") == \
        "GET https://blobs.example/b/c done"
    assert scrub_urls('"POST /v1.41/build?buildargs=x HTTP/1.1" 200') == \
        '"POST /v1.41/build?… HTTP/1.1" 200'
    assert scrub_urls("copy /etc/passwd to /tmp, 1/2 done") == "copy /etc/passwd to /tmp, 1/2 done"


def test_remote_urls_as_evidence_lose_user_info_and_credential_parameters():
    from oci_attest.redact import redact_text, url_without_credentials

    assert url_without_credentials(
        "https://robot:pw@files.example/a/b.tgz?X-Amz-Signature=abc&v=1&api_key=k") == \
        "https://files.example/a/b.tgz?X-Amz-Signature=[REDACTED]&v=1&api_key=[REDACTED]"
    assert url_without_credentials("https://files.example/a.tgz") == "https://files.example/a.tgz"
    assert redact_text("ADD https://files.example/t?access_token=abcdef&v=2 /t", ()) == \
        "ADD https://files.example/t?access_token=[REDACTED]&v=2 /t"


def test_short_secret_components_are_matched_inside_longer_names():
    """KEY, PASS, AUTH... are whole components of a name, wherever they sit in it."""
    for name in ("DB_PASS_FILE", "SSH_KEY_PATH", "basic-auth-header", "SESSION_ID"):
        assert name_looks_secret(name), name
    for name in ("KEYCHAIN_PATH_LENGTH", "PASSAGE", "AUTHORITY_URL"):
        assert not name_looks_secret(name), name


def test_longest_known_secret_is_removed_first():
    """A secret that contains another must not be cut in two, leaving its ends readable."""
    assert redact_text("pw=0wxyz9.", ["wxyz", "0wxyz9"]) == f"pw={REDACTED}."
    assert redact_text("pw=0wxyz9.", ["0wxyz9", "wxyz"]) == f"pw={REDACTED}."


def test_known_secrets_of_four_characters_are_removed_shorter_ones_not():
    assert redact_text("pin 1234 ok", ["1234"]) == f"pin {REDACTED} ok"
    assert redact_text("a b c", ["b c"]) == "a b c"  # too short to replace safely
