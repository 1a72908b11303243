import pytest

from oci_attest.collect.materials import parse_dockerfile, pinned_dockerfile, resolve_images
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
        ("FROM reg.io/app;rm -rf /\n", "invalid"),
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


def test_pinned_dockerfile_is_the_original_with_only_the_references_changed(tmp_path):
    """Byte for byte: continuation lines, lower-case instructions and a last line without a
    newline survive; only each external reference becomes name@digest."""
    path = write(tmp_path, "# syntax=docker/dockerfile:1\n"
                           "FROM \\\n  --platform=linux/amd64 \\\n  127.0.0.1:5000/x:1 AS a\n"
                           "RUN true\n"
                           "from 127.0.0.1:5000/y:2")
    facts = parse_dockerfile(path, {})
    resolve_images(facts, fake_registry)
    assert pinned_dockerfile(facts).decode() == (
        "# syntax=docker/dockerfile:1\n"
        f"FROM \\\n  --platform=linux/amd64 \\\n  127.0.0.1:5000/x@{DIGEST} AS a\n"
        "RUN true\n"
        f"from 127.0.0.1:5000/y@{DIGEST}\n")


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
