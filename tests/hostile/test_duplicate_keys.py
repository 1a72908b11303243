"""Ambiguous statements and bundles: a key given twice, or a digest algorithm in upper case,
is refused when signing, attaching and verifying alike (exit 3 at the producer steps).

Each payload below means one image to a first-key-wins reader and another to a last-key-wins
one; attest must not sign, store or accept it.
"""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.registry.client import RegistryClient
from oci_attest.statements import StatementError, parse_statement
from tests.registry.test_client import push_artifact

OTHER = "b" * 64
HEADER = '"_type":"https://in-toto.io/Statement/v1","predicateType":"https://x.example/p"'


def two_digests(first: str, last: str) -> bytes:
    """A subject whose digest set names ``sha256`` twice: first another image, last ours."""
    return ('{' + HEADER + ',"subject":[{"name":"x","digest":{"sha256":"' + first
            + '","sha256":"' + last + '"}}],"predicate":{"a":1}}').encode()


AMBIGUOUS = {
    "two subject keys": ('{' + HEADER + ',"subject":[{"name":"x","digest":{"sha256":"'
                         + OTHER + '"}}],"subject":[{"name":"y","digest":{"sha256":"'
                         + "a" * 64 + '"}}],"predicate":{}}').encode(),
    "two predicateType keys": ('{' + HEADER + ',"predicateType":"https://slsa.dev/provenance/v1"'
                               ',"subject":[{"name":"x","digest":{"sha256":"' + "a" * 64
                               + '"}}],"predicate":{}}').encode(),
    "two sha256 keys": two_digests(OTHER, "a" * 64),
    "sha256 and SHA256": ('{' + HEADER + ',"subject":[{"name":"x","digest":{"sha256":"' + OTHER
                          + '","SHA256":"' + "a" * 64 + '"}}],"predicate":{}}').encode(),
}


@pytest.mark.parametrize("name", list(AMBIGUOUS))
def test_ambiguous_statement_is_refused(name):
    with pytest.raises(StatementError) as raised:
        parse_statement(AMBIGUOUS[name])
    assert "\n" not in raised.value.render()


def test_uppercase_digest_algorithm_is_an_input_error():
    document = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://x/p",
                "subject": [{"name": "x", "digest": {"SHA256": "a" * 64}}], "predicate": {}}
    with pytest.raises(StatementError, match="'SHA256' is not a lowercase name"):
        parse_statement(json.dumps(document).encode())


@pytest.mark.integration
@pytest.mark.parametrize("payload", [
    two_digests(OTHER, "a" * 64),
    json.dumps({"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://x/p",
                "subject": [{"name": "x", "digest": {"SHA256": "a" * 64}}],
                "predicate": {"a": 1}}).encode(),
], ids=["duplicate sha256", "uppercase SHA256"])
def test_attest_sign_refuses_with_exit_3(payload, sigstore_stack, sigstore_trust_config,
                                         tmp_path):
    statement = tmp_path / "s.intoto.json"
    statement.write_bytes(payload)
    result = CliRunner().invoke(cli, [
        "sign", str(statement), "--trust-config", str(sigstore_trust_config),
        "--identity-token", sigstore_stack.mint_token("bot@attest.test")])
    assert result.exit_code == 3, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("attest: bad input:")
    assert not (tmp_path / "s.sigstore.json").exists()


def envelope(statement: bytes) -> str:
    return ('{"payload":"' + base64.b64encode(statement).decode() + '",'
            '"payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}')


def single(hexdigest: str) -> bytes:
    return json.dumps({"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://x/p",
                       "subject": [{"name": "x", "digest": {"sha256": hexdigest}}],
                       "predicate": {"a": 1}}).encode()


@pytest.mark.integration
@pytest.mark.parametrize("where", ["statement", "bundle"])
def test_attest_attach_refuses_duplicate_keys(where, registry, signer, tmp_path):
    """Really signed and logged; a last-key-wins reader would attach it to this image."""
    client = RegistryClient(registry.host)
    _, digest = push_artifact(client, "hostile/dupkeys", where, payload=where.encode())
    hexdigest = digest.split(":", 1)[1]
    if where == "statement":
        raw = signer.sign(two_digests(OTHER, hexdigest)).decode()
    else:
        real = signer.sign(single(hexdigest)).decode()
        raw = '{"dsseEnvelope":' + envelope(single(OTHER)) + "," + real.lstrip()[1:]
    bundle = tmp_path / "b.sigstore.json"
    bundle.write_text(raw)
    result = CliRunner().invoke(cli, ["attach", f"{registry.host}/hostile/dupkeys@{digest}",
                                      str(bundle)])
    assert result.exit_code == 3, result.output
    assert "duplicate JSON key" in result.stderr
    assert client.head_manifest("hostile/dupkeys", digest.replace(":", "-") + ".att") is None
