import pytest

from oci_attest.build.check import BuildMismatch, check_base_layers, unpinned_references
from oci_attest.collect.bases import BaseImage
from oci_attest.collect.materials import (
    collect_materials,
    parse_dockerfile,
    pinned_dockerfile,
    resolve_images,
)
from oci_attest.errors import InputError

DIGEST = "sha256:" + "b" * 64


def write(tmp_path, text):
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return path


def fake_registry(ref):
    # Resolution itself is tested against the real registry; here we check the bookkeeping.
    return ref.with_digest(DIGEST)


def test_args_stages_and_every_kind_of_external_image(tmp_path):
    path = write(tmp_path, """\
ARG REG=127.0.0.1:5000
ARG TAG=bookworm
FROM --platform=linux/amd64 ${REG}/base/debian:${TAG} AS build
ARG TAG
RUN --mount=type=bind,from=${REG}/tools:1,target=/t true
COPY --from=${REG}/assets:2 /a /a
FROM build AS test
COPY --from=build /a /b
FROM scratch
COPY --from=0 /a /a
ADD --checksum=sha256:""" + "c" * 64 + """ https://example.test/f.tgz /f
""")
    facts = parse_dockerfile(path, {"TAG": "trixie"})
    written = [(i.instruction, i.written) for i in facts.images]
    assert written == [
        ("FROM", "127.0.0.1:5000/base/debian:trixie"),
        ("RUN --mount from", "127.0.0.1:5000/tools:1"),
        ("COPY --from", "127.0.0.1:5000/assets:2"),
    ]
    assert facts.stages == ["build", "test", "2"]
    assert facts.remote_files[0].digest == "sha256:" + "c" * 64
    resolve_images(facts, fake_registry)
    pinned = pinned_dockerfile(facts).decode()
    assert f"FROM --platform=linux/amd64 127.0.0.1:5000/base/debian@{DIGEST} AS build" in pinned
    assert f"from=127.0.0.1:5000/tools@{DIGEST},target=/t" in pinned
    assert f"COPY --from=127.0.0.1:5000/assets@{DIGEST} /a /a" in pinned
    assert "COPY --from=build /a /b" in pinned and "FROM scratch" in pinned


def test_the_digest_of_the_users_file_is_recorded_and_the_file_untouched(tmp_path):
    path = write(tmp_path, "FROM 127.0.0.1:5000/x:1\n")
    before = path.read_bytes()
    facts = parse_dockerfile(path, {})
    resolve_images(facts, fake_registry)
    pinned_dockerfile(facts)
    assert path.read_bytes() == before
    import hashlib
    assert facts.sha256 == hashlib.sha256(before).hexdigest()


def test_each_distinct_image_is_resolved_once(tmp_path):
    path = write(tmp_path, "FROM 127.0.0.1:5000/x:1 AS a\nFROM 127.0.0.1:5000/x:1\n")
    calls = []
    facts = parse_dockerfile(path, {})
    resolve_images(facts, lambda r: calls.append(r) or fake_registry(r))
    assert len(calls) == 1 and len(facts.images) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM ${NOPE}\n", "ARG with no value"),
        ("FROM reg.io/app;rm -rf /\n", "FROM takes"),
        ("FROM reg.io/app;rm\n", "invalid"),
        ("FROM\n", "FROM without an image"),
        ("FROM scratch\nRUN <<EOF\necho hi\n", "never terminated"),
    ],
)
def test_bad_dockerfiles_get_one_line_errors(tmp_path, text, message):
    with pytest.raises(InputError, match=message) as caught:
        parse_dockerfile(write(tmp_path, text), {})
    assert "\n" not in caught.value.render()


def test_missing_and_huge_dockerfiles(tmp_path):
    with pytest.raises(InputError, match="cannot read Dockerfile"):
        parse_dockerfile(tmp_path / "absent", {})
    big = tmp_path / "Dockerfile"
    big.write_text("RUN true\n" * 200_000)
    with pytest.raises(InputError, match="more than"):
        parse_dockerfile(big, {})


# ---------------------------------------------------------------- one reading for both parsers
def write_bytes(tmp_path, data: bytes):
    path = tmp_path / "Dockerfile"
    path.write_bytes(data)
    return path


def test_a_byte_order_mark_does_not_hide_the_first_from(tmp_path):
    path = write_bytes(tmp_path, "\ufeffFROM 127.0.0.1:5000/base/x:1\nCOPY a /a\n".encode())
    facts = parse_dockerfile(path, {})
    assert [str(i.reference) for i in facts.images] == ["127.0.0.1:5000/base/x:1"]
    resolve_images(facts, fake_registry)
    pinned = pinned_dockerfile(facts).decode()
    assert pinned.startswith(f"FROM 127.0.0.1:5000/base/x@{DIGEST}\n")
    assert "\ufeff" not in pinned


@pytest.mark.parametrize("brk", ["\x0c", "\x0b", "\r", "\x1c", "\x1d", "\x1e", "\x85",
                                 "\u2028", "\u2029"])
def test_line_breaks_the_engine_does_not_split_on_are_refused(tmp_path, brk):
    path = write_bytes(tmp_path, f"FROM scratch\n# note{brk}FROM 127.0.0.1:5000/x:1\n".encode())
    with pytest.raises(InputError, match=r"line 2: .*could read differently") as caught:
        parse_dockerfile(path, {})
    assert "\n" not in caught.value.render()


@pytest.mark.parametrize("space", ["\u00a0", "\u3000", "\u2003", "\x00", "\x7f", "\ufeff"])
def test_exotic_whitespace_and_controls_are_refused(tmp_path, space):
    path = write_bytes(tmp_path, f"FROM scratch\nCOPY{space}--from=127.0.0.1:5000/x:1 / /\n"
                       .encode())
    with pytest.raises(InputError, match="line 2"):
        parse_dockerfile(path, {})


def test_crlf_is_read_as_lf_and_pinned(tmp_path):
    path = write_bytes(tmp_path, b"FROM 127.0.0.1:5000/x:1 AS a\r\nRUN true \\\r\n  && true\r\n"
                                 b"FROM a\r\n")
    facts = parse_dockerfile(path, {})
    resolve_images(facts, fake_registry)
    pinned = pinned_dockerfile(facts).decode()
    assert pinned == f"FROM 127.0.0.1:5000/x@{DIGEST} AS a\nRUN true \\\n  && true\nFROM a\n"


@pytest.mark.parametrize("prefix", ["# syntax=\n", "# syntax=docker/dockerfile:1\n", "\n",
                                    "# a comment\n"])
def test_an_escape_directive_after_line_one_is_refused(tmp_path, prefix):
    # docker 20.10 honours `escape` on the first line only; dockerfile_parse after `# syntax=`:
    # a trailing backtick would fold the second FROM into a RUN for one of them.
    path = write(tmp_path, prefix + "# escape=`\nFROM 127.0.0.1:5000/a:1\nRUN echo hi `\n"
                                    "FROM 127.0.0.1:5000/evil:latest\n")
    with pytest.raises(InputError, match="escape directive that is not on the first line"):
        parse_dockerfile(path, {})


def test_an_escape_directive_on_line_one_is_honoured_by_both(tmp_path):
    path = write(tmp_path, "# escape=`\nFROM 127.0.0.1:5000/a:1\nRUN echo hi `\n  there\n"
                           "FROM 127.0.0.1:5000/b:2\n")
    facts = parse_dockerfile(path, {})
    assert [i.written for i in facts.images] == ["127.0.0.1:5000/a:1", "127.0.0.1:5000/b:2"]
    with pytest.raises(InputError, match="malformed escape directive"):
        parse_dockerfile(write(tmp_path, "# escape = `x\nFROM 127.0.0.1:5000/a:1\n"), {})


def test_a_from_split_by_a_continuation_is_pinned_on_one_line(tmp_path):
    path = write(tmp_path, "FROM \\\n  127.0.0.1:5000/x:1 \\\n  AS base\nRUN true\n")
    facts = parse_dockerfile(path, {})
    resolve_images(facts, fake_registry)
    pinned = pinned_dockerfile(facts).decode()
    assert pinned == f"FROM 127.0.0.1:5000/x@{DIGEST} AS base\n\n\nRUN true\n"
    assert unpinned_references(pinned) == []


# ------------------------------------------------------------- the check without the parser
def test_unpinned_references_sees_every_tag_the_engine_could_resolve():
    pinned = (f"FROM 127.0.0.1:5000/a@{DIGEST} AS build\n"
              "RUN echo `\n"
              "FROM 127.0.0.1:5000/evil:latest\n"
              "COPY --from=build /a /a\nCOPY --from=0 /b /b\n"
              "COPY --from=127.0.0.1:5000/tool:1 /c /c\n"
              "RUN --mount=type=bind,from=127.0.0.1:5000/m:1,target=/m true\n"
              "ONBUILD COPY --from=127.0.0.1:5000/later:1 /d /d\n"
              "FROM \\\n  x@sha256:" + "a" * 64 + "\nFROM scratch\n")
    assert unpinned_references(pinned) == [
        "line 3: FROM 127.0.0.1:5000/evil:latest",
        "line 6: --from=127.0.0.1:5000/tool:1",
        "line 7: --mount from=127.0.0.1:5000/m:1",
        "line 9: FROM \\",
    ]


def test_base_layers_must_lead_the_built_image():
    check_base_layers(["sha256:a", "sha256:b", "sha256:c"], ["sha256:a", "sha256:b"], "base")
    for built in (["sha256:x", "sha256:b", "sha256:c"], ["sha256:a"], []):
        with pytest.raises(BuildMismatch, match="layers of the recorded base") as caught:
            check_base_layers(built, ["sha256:a", "sha256:b"], "base")
        assert caught.value.exit_code == 4


# --------------------------------------------------------------------- remote inputs of ADD
def test_add_urls_through_args_env_json_and_git_are_all_recorded(tmp_path):
    path = write(tmp_path, """\
ARG U=http://127.0.0.1:8/args.tgz
FROM scratch
ARG U
ENV E=https://127.0.0.1:8/env.tgz
ADD $U /a
ADD ["${E}", "/b"]
ADD ["https://127.0.0.1:8/json.tgz", "/c"]
ADD --checksum=sha256:""" + "c" * 64 + """ "https://user:pw@127.0.0.1:8/q.tgz?x=1" /d
ADD https://github.example.test/acme/tool.git#""" + "d" * 40 + """ /e
ADD git@github.example.test:acme/private.git#main /f
ADD ${NOTSET}local.txt ./file /g/
""")
    facts = parse_dockerfile(path, {})
    got = [(f.url, f.kind, f.digest, f.line) for f in facts.remote_files]
    assert got == [
        ("http://127.0.0.1:8/args.tgz", "http", None, 5),
        ("https://127.0.0.1:8/env.tgz", "http", None, 6),
        ("https://127.0.0.1:8/json.tgz", "http", None, 7),
        ("https://127.0.0.1:8/q.tgz?x=1", "http", "sha256:" + "c" * 64, 8),
        ("https://github.example.test/acme/tool#" + "d" * 40, "git", "gitCommit:" + "d" * 40, 9),
        ("ssh://github.example.test/acme/private#main", "git", None, 10),
    ]
    assert [f.pinned for f in facts.remote_files] == [False, False, False, True, True, False]


def test_build_args_override_arg_defaults_in_add(tmp_path):
    path = write(tmp_path, "FROM scratch\nARG U=http://127.0.0.1:8/default\nADD ${U:-x} /a\n")
    facts = parse_dockerfile(path, {"U": "http://127.0.0.1:8/given"})
    assert [f.url for f in facts.remote_files] == ["http://127.0.0.1:8/given"]


# ------------------------------------------------------------ bases: ENV, ONBUILD, platform
def base_with(*, onbuild=(), env=None, manifest=DIGEST):
    return BaseImage(digest=DIGEST, manifest=manifest, platform="linux/arm64",
                     diff_ids=["sha256:" + "1" * 64], onbuild=list(onbuild), env=env or {})


def test_onbuild_triggers_are_read_as_if_written_after_from(tmp_path):
    other = "127.0.0.1:5000/other@sha256:" + "e" * 64
    base = base_with(onbuild=[f"COPY --from={other} /o /o", "ADD $DL /dl",
                              "RUN echo triggered"], env={"DL": "http://127.0.0.1:8/from-env"})
    path = write(tmp_path, "FROM 127.0.0.1:5000/base:1\nADD ${DL}2 /x\n")
    facts = collect_materials(path, {}, fake_registry, lambda image: base)
    assert [(i.instruction, i.written, i.via is not None) for i in facts.images] == [
        ("FROM", "127.0.0.1:5000/base:1", False),
        ("ONBUILD COPY --from", other, True)]
    assert "ONBUILD COPY --from=" in facts.images[1].via
    assert [(f.url, f.via is not None) for f in facts.remote_files] == [
        ("http://127.0.0.1:8/from-env", True), ("http://127.0.0.1:8/from-env2", False)]
    assert [t["trigger"] for t in facts.onbuild] == [
        f"COPY --from={other} /o /o", "ADD $DL /dl", "RUN echo triggered"]
    # The trigger's image is not written into the Dockerfile; the FROM is pinned.
    assert pinned_dockerfile(facts).decode() == f"FROM 127.0.0.1:5000/base@{DIGEST}\nADD ${{DL}}2 /x\n"
    assert facts.images[0].platform == "linux/arm64"


def test_an_onbuild_trigger_naming_an_image_by_tag_is_refused(tmp_path):
    base = base_with(onbuild=["COPY --from=127.0.0.1:5000/other:1 /o /o"])
    path = write(tmp_path, "FROM 127.0.0.1:5000/base:1\n")
    with pytest.raises(InputError, match=r"ONBUILD COPY --from=127\.0\.0\.1:5000/other:1 .*by tag"):
        collect_materials(path, {}, fake_registry, lambda image: base)


def test_the_platform_manifest_of_an_index_is_kept(tmp_path):
    child = "sha256:" + "f" * 64
    path = write(tmp_path, "FROM 127.0.0.1:5000/multi:1 AS a\nFROM a\n"
                           "COPY --from=127.0.0.1:5000/tool:1 / /\n")
    inspected = []
    facts = collect_materials(path, {}, fake_registry,
                              lambda image: inspected.append(image.written)
                              or base_with(manifest=child))
    assert inspected == ["127.0.0.1:5000/multi:1", "127.0.0.1:5000/tool:1"]
    assert [i.manifest for i in facts.images] == [child, child]
    final = facts.final_stage(None)
    assert final is not None and final.image is not None and final.image.manifest == child


def test_from_a_number_is_an_image_not_a_stage_index(tmp_path):
    # ``COPY --from=0`` names stage 0; ``FROM 0`` is the image docker.io/library/0 to the engine.
    facts = parse_dockerfile(write(tmp_path, "FROM scratch\nFROM 0\nCOPY --from=0 / /\n"), {})
    assert [(i.instruction, str(i.reference)) for i in facts.images] == [
        ("FROM", "docker.io/library/0:latest")]


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("FROM\n", "FROM without an image", "write FROM IMAGE[:TAG] [AS NAME]"),
        ("FROM ${A}/${B}\n", r"ARG with no value \(A, B\)",
         "give it a default or pass --build-arg"),
    ],
)
def test_errors_carry_their_hint(tmp_path, text, message, hint):
    with pytest.raises(InputError, match=message) as caught:
        parse_dockerfile(write(tmp_path, text), {})
    assert caught.value.hint == hint


def test_images_remember_their_stage_and_reference_errors_keep_their_hint(tmp_path):
    facts = parse_dockerfile(write(tmp_path, "FROM 127.0.0.1:5000/x:1 AS Build\n"
                                             "FROM 127.0.0.1:5000/y:2\n"), {})
    assert [(i.written, i.stage) for i in facts.images] == [
        ("127.0.0.1:5000/x:1", "Build"), ("127.0.0.1:5000/y:2", None)]
    with pytest.raises(InputError) as caught:
        parse_dockerfile(write(tmp_path, "FROM reg.io/App:1\n"), {})
    assert caught.value.hint and "lowercase" in caught.value.hint
