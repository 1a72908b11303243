"""Hostile statements and bundles: malformed, truncated, deeply nested or huge JSON ends in
one InputError (exit 3), never a crash."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from oci_attest.cli import cli
from oci_attest.errors import InputError
from oci_attest.registry.client import RegistryClient
from oci_attest.registry.layouts import bundle_time, cosign_layer_from_bundle
from oci_attest.statements import parse_statement
from tests.registry.test_client import push_artifact

GOOD = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://x.example/p",
        "subject": [{"name": "x", "digest": {"sha256": "a" * 64}}], "predicate": {}}
DEEP = b"[" * 200_000 + b"]" * 200_000
STATEMENTS = {
    "truncated": json.dumps(GOOD).encode()[:-7],
    "not JSON": b"\xff\xfe not json",
    "a list": b"[1, 2]",
    "deeply nested": DEEP,
    "deeply nested predicate": b'{"_type":"https://in-toto.io/Statement/v1","predicate":'
                               + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}",
    "no subject": json.dumps({**GOOD, "subject": []}).encode(),
    "subject without digest": json.dumps({**GOOD, "subject": [{"name": "x"}]}).encode(),
    "subject is a string": json.dumps({**GOOD, "subject": "x"}).encode(),
    "unknown type": json.dumps({**GOOD, "_type": "x" * 10_000}).encode(),
    "predicateType not a string": json.dumps({**GOOD, "predicateType": ["a"]}).encode(),
    "NaN and Infinity": b'{"_type": NaN, "subject": Infinity}',
}


@pytest.mark.parametrize("name", list(STATEMENTS))
def test_hostile_statement_is_an_input_error(name):
    with pytest.raises(InputError) as raised:
        parse_statement(STATEMENTS[name])
    assert len(raised.value.render()) < 400 and "\n" not in raised.value.render()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(["_type", "subject", "digest",
                                                             "predicateType", "sha256", "x"]),
                                            inner, max_size=4)),
    max_leaves=20).map(lambda v: json.dumps(v).encode())))
def test_parse_statement_raises_only_input_errors(payload):
    try:
        document = parse_statement(payload)
    except InputError:
        return
    assert isinstance(document.subjects, tuple) and document.subjects


def _bundle(**changes) -> dict:
    payload = base64.b64encode(json.dumps(GOOD).encode()).decode()
    bundle = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
              "verificationMaterial": {"certificate": {"rawBytes": "AAAA"},
                                       "tlogEntries": [{"logIndex": "1", "integratedTime": "1",
                                                        "logId": {"keyId": "AAAA"},
                                                        "inclusionPromise": {
                                                            "signedEntryTimestamp": "AA=="},
                                                        "canonicalizedBody": "AA=="}]},
              "dsseEnvelope": {"payload": payload, "payloadType": "application/vnd.in-toto+json",
                               "signatures": [{"sig": "AA=="}]}}
    bundle.update(changes)
    return bundle


BUNDLES = {
    "truncated": json.dumps(_bundle()).encode()[:-10],
    "deeply nested": DEEP,
    "not an object": b'"bundle"',
    "no envelope": json.dumps(_bundle(dsseEnvelope=None)).encode(),
    "payload not base64": json.dumps(_bundle(dsseEnvelope={"payload": "%%%"})).encode(),
    "payload deeply nested": json.dumps(_bundle(dsseEnvelope={"payload": base64.b64encode(
        DEEP).decode()})).encode(),
    "certificate garbage": json.dumps(_bundle()).encode(),
}


@pytest.mark.parametrize("name", list(BUNDLES))
def test_hostile_bundle_is_refused_by_the_cosign_layout(name):
    with pytest.raises(InputError):
        cosign_layer_from_bundle(BUNDLES[name], "https://x.example/p")


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=12),
              st.sampled_from(["AAAA", "AA==", "-----BEGIN", "1700000000"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["dsseEnvelope", "verificationMaterial", "certificate", "rawBytes", "tlogEntries",
         "logId", "keyId", "inclusionPromise", "signedEntryTimestamp", "integratedTime",
         "logIndex", "canonicalizedBody", "payload", "payloadType", "signatures", "sig",
         "x509CertificateChain", "certificates"]), inner, max_size=5)),
    max_leaves=30))
def test_bundle_readers_raise_only_input_errors(document):
    raw = json.dumps(document).encode()
    with contextlib.suppress(InputError):
        cosign_layer_from_bundle(raw, "p")
    when = bundle_time(raw)
    assert when is None or when.year >= 1970


@pytest.mark.integration
@pytest.mark.parametrize("name", ["truncated", "deeply nested", "payload deeply nested",
                                  "payload not base64"])
def test_attest_attach_refuses_a_hostile_bundle(name, registry, tmp_path):
    client = RegistryClient(registry.host)
    _, digest = push_artifact(client, "hostile/attach", "v1", payload=b"hostile attach")
    bundle = tmp_path / "b.sigstore.json"
    bundle.write_bytes(BUNDLES[name])
    result = CliRunner().invoke(cli, ["attach", f"{registry.host}/hostile/attach@{digest}",
                                      str(bundle)])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith("attest: bad input:")
    assert client.head_manifest("hostile/attach", digest.replace(":", "-")) is None
