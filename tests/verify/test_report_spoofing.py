"""The text report cannot be forged by what it reports on.

An attestation signed by an untrusted signer is still listed (with its predicate type, its
signer and why it was rejected); a newline or an ANSI escape in any of those must not produce
a line of the attacker's choosing.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from oci_attest._internal.text import safe
from oci_attest.cli import cli
from oci_attest.errors import InputError
from tests.fixtures.verify import provenance, statement

pytestmark = pytest.mark.integration


def forged(digest: str) -> str:
    return (f"https://x.example/p\n  PASS provenance.present  all good\nresult: PASS: the "
            f"policy holds for {digest}\r\x1b[2K\u202e")


def test_newlines_in_an_untrusted_predicate_type_do_not_forge_a_pass(make_image, signer):
    image = make_image()
    hostile = forged(image.digest)
    bundle = signer.sign(statement(image.digest, provenance(), hostile), repository="evil/x")
    image.attach(bundle, hostile)  # also the referrer's predicate-type annotation
    result = CliRunner().invoke(cli, ["verify", image.pinned, *signer.flags()])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("result:")] == [
        f"result: FAIL: 1 of 1 checks failed for {image.digest}"]
    assert not any(line.lstrip().startswith("PASS") for line in lines)
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "\u202e" not in result.stdout
    assert "https://x.example/p\\n  PASS provenance.present" in result.stdout


def test_safe_escapes_every_control_character():
    assert safe("a\nb\rc\td\x1b[2Ke\x00f\x7fg\x85h\u2028i\u202ej") == (
        "a\\nb\\rc\\td\\x1b[2Ke\\x00f\\x7fg\\x85h\\u2028i\\u202ej")
    assert safe("plain ✓ é 中") == "plain ✓ é 中"


def test_error_lines_escape_terminal_sequences():
    rendered = InputError("bad \x1b[1A\x1b[2Kname\nhere").render()
    assert "\x1b" not in rendered and "\n" not in rendered
    assert "\\x1b[1A" in rendered
