"""The secret rules on their own: each fires on the real thing and not on look-alikes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oci_attest.secrets import rules
from tests.secrets.planted import DECOYS, planted


def test_every_rule_fires_on_its_secret_and_names_only_the_rule():
    for rule_id, (path, content, _value) in planted().items():
        found = rules.scan(path, content.encode())
        assert rule_id.split(" ")[0] in {m.rule.id for m in found}, (rule_id, found)
        assert all(m.line >= 0 for m in found)


def test_no_rule_fires_on_look_alikes():
    for path, content in DECOYS.items():
        assert rules.scan(path, content.encode()) == [], path


def test_line_numbers_point_at_the_secret():
    path, content, _ = planted()["github-token"]
    assert [(m.rule.id, m.line) for m in rules.scan(path, content.encode())] == \
        [("github-token", 2)]


def test_a_service_account_key_is_one_finding_not_two():
    path, content, _ = planted()["gcp-service-account"]
    assert [m.rule.id for m in rules.scan(path, content.encode())] == ["gcp-service-account"]


def test_many_unterminated_pem_markers_stay_linear():
    # A hostile file of BEGIN lines with no END: bounded work, no finding.
    data = b"-----BEGIN RSA PRIVATE KEY-----\n" + b"A" * 200 + b"\n"
    assert rules.scan("x", data * 5000) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.text(max_size=60), data=st.binary(max_size=4096))
def test_scan_never_raises_on_arbitrary_bytes(path, data):
    assert isinstance(rules.scan(path, data), list)


_pieces = st.sampled_from([b"-----BEGIN PRIVATE KEY-----\n", b"-----END PRIVATE KEY-----\n",
                           b"AKIA", b"aws_secret_access_key=", b"ghp_", b"_authToken=",
                           b"kind: Config\n", b"token: ", b'{"auths":', b"service_account",
                           b"private_key", b"password = ", b"\n", b"A" * 40, b"${X}"])


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["config.json", ".npmrc", ".pypirc", "config", "a.yaml", "x"]),
       parts=st.lists(st.one_of(_pieces, st.binary(max_size=50)), max_size=40))
def test_scan_never_raises_on_near_misses(name, parts):
    found = rules.scan(f"root/.docker/{name}", b"".join(parts))
    assert all(m.rule in rules.ALL_RULES for m in found)


def test_a_lone_aws_access_key_id_is_a_finding_but_documentation_examples_are_not():
    from tests.secrets.planted import UPPER, rand

    lone = ("AK" + "IA" + rand(UPPER, 16)).encode()
    assert [m.rule.id for m in rules.scan("app/ids.txt", b"id = " + lone + b"\n")] == \
        ["aws-access-key"]
    assert rules.scan("doc.md", b"AKIAIOSFODNN7EXAMPLE AKIAI44QH8DHBEXAMPLE") == []


def test_a_window_boundary_never_hides_a_key():
    from oci_attest.secrets.window import CHUNK_BYTES, scan_chunks

    key = planted()["private-key"][1].encode()
    for cut in (1, len(key) // 2, len(key) - 1):  # the key split across two chunks
        data = b"x\n" * (CHUNK_BYTES // 2 - 7) + key
        pieces = [data[:CHUNK_BYTES - len(key) + cut], data[CHUNK_BYTES - len(key) + cut:]]
        assert [(m.rule.id, m.line) for m in scan_chunks(pieces)] == \
            [("private-key", CHUNK_BYTES // 2 - 6)], cut


def test_pem_keys_compiled_into_programs_are_not_findings_but_tokens_are():
    key = planted()["private-key"][1].encode()
    token = planted()["github-token"][2].encode()
    assert rules.scan("usr/lib/libx.so", b"\x7fELF\0\0" + key) == []
    assert [m.rule.id for m in rules.scan("usr/bin/x", b"\x7fELF\0" + token + b"\0")] == \
        ["github-token"]
    assert [m.rule.id for m in rules.scan("app/blob.bin", b"\0" + key)] == ["private-key"]


def test_a_key_behind_many_decoy_markers_is_still_found():
    key = planted()["private-key"][1].encode()
    decoys = b"-----BEGIN RSA PRIVATE KEY-----\nnot a key\n" * 200
    found = rules.scan("app/notes.txt", decoys + key)
    assert [(m.rule.id, m.line) for m in found] == [("private-key", 401)]


def test_the_config_is_walked_whole_and_what_is_too_deep_is_reported():
    from oci_attest.secrets.config import scan_config

    token = planted()["github-token"][2]
    deep: dict = {"x": token}
    for _ in range(40):
        deep = {"n": deep}
    config = {"config": {"Env": ["PATH=/bin", f"T={token}"], "Labels": {token: "v"}},
              "history": [{"created_by": "|2 A=1 API_TOKEN=hunter2hunter2 /bin/sh -c x"},
                          {"created_by": "|1 VERSION=1.2 /bin/sh -c make"}],
              "future": deep}
    found, too_deep = scan_config(config)
    assert {(where, m.rule.id) for where, m in found} == {
        ("config.Env[1]", "github-token"), (f"config.Labels.{token}", "github-token"),
        ("history[0].created_by", "build-arg-in-history")}
    assert len(too_deep) == 1 and too_deep[0].startswith("future.n.n")


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.one_of(_pieces, st.binary(max_size=50)), max_size=40),
       filler=st.integers(min_value=0, max_value=6000),
       cuts=st.lists(st.integers(min_value=1, max_value=5000), max_size=8))
def test_windows_find_what_the_whole_file_holds(parts, filler, cuts):
    from unittest import mock

    from oci_attest.secrets import window

    key = planted()["private-key"][1].encode()
    assert len(key) < 2048
    data = b"".join(parts) + b"z\n" * filler + key + b"".join(parts) + b"y" * filler
    chunks, at = [], 0
    for cut in cuts:
        chunks.append(data[at:at + cut])
        at += cut
    chunks.append(data[at:])
    whole = {(m.rule.id, m.line) for m in rules.content_rules(data)}
    # A small overlap (still longer than any match here) so that windows really slide.
    with mock.patch.object(window, "OVERLAP_BYTES", 2048):
        windowed = {(m.rule.id, m.line) for m in window.scan_chunks(chunks)}
    # The same first match of every rule, except the service-account rule, which parses the
    # whole file as JSON (the key inside one is still found by the private-key rule).
    assert {f for f in windowed if f[0] != "gcp-service-account"} == \
        {f for f in whole if f[0] != "gcp-service-account"}
    assert any(rule == "private-key" for rule, _ in windowed)
