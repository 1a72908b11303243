"""Choosing the build backend and refusing, before anything runs, what it cannot build."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from oci_attest.build.features import buildkit_features, check_classic_builder, secret_mounts
from oci_attest.cli import cli
from oci_attest.errors import InputError

MOUNTS = b"""FROM scratch AS a
FROM 127.0.0.1:5000/base/debian:bookworm
RUN echo plain
RUN --mount=type=cache,target=/var/cache/apt \\
    apt-get update
RUN --mount=type=secret,id=npmrc cat /run/secrets/npmrc >/dev/null
RUN --mount=type=secret,target=/run/secrets/token true
RUN --mount=from=a,source=/x,target=/y true
COPY --chmod=600 a /a
"""


def test_buildkit_features_name_each_line():
    found = [(f.line, f.what, f.buildah) for f in buildkit_features(MOUNTS)]
    assert found == [
        (4, "RUN --mount=type=cache", True),
        (6, "RUN --mount=type=secret", True),
        (7, "RUN --mount=type=secret", True),
        (8, "RUN --mount=type=bind", True),
        (9, "COPY --chmod", True),
    ]


def test_heredocs_and_link_are_beyond_buildah_too():
    content = b"FROM scratch\nCOPY --link a /a\nRUN <<EOT\necho hi\nEOT\n"
    assert [(f.line, f.what, f.buildah) for f in buildkit_features(content)] == [
        (2, "COPY --link", False), (3, "RUN heredoc (<<EOF)", False)]


def test_secret_mounts_default_the_id_to_the_target_name():
    assert [(m.id, m.line) for m in secret_mounts(MOUNTS)] == [("npmrc", 6), ("token", 7)]


def test_classic_builder_refusal_names_line_and_backend():
    with pytest.raises(InputError) as caught:
        check_classic_builder(Path("Dockerfile"), MOUNTS)
    assert "line 4" in caught.value.message and "RUN --mount=type=cache" in caught.value.message
    assert "--backend buildah" in (caught.value.hint or "")


def test_a_plain_dockerfile_passes_the_classic_check():
    check_classic_builder(Path("Dockerfile"), b"FROM scratch\nCOPY --from=a x /x\nRUN true\n")


def _project(tmp_path: Path, content: bytes) -> Path:
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "Dockerfile").write_bytes(content)
    (root / "a").write_text("a")
    return root


def test_docker_backend_refuses_buildkit_syntax_before_anything_runs(tmp_path):
    # The tag points at a closed port: had collect (base-image resolution), the build or the
    # push run, the error would be a registry error (exit 5), not this exit 3.
    root = _project(tmp_path, MOUNTS)
    result = CliRunner().invoke(cli, ["build", "--backend", "docker", "-t", "127.0.0.1:9/x:1",
                                      "-o", str(tmp_path / "out"), str(root)])
    assert result.exit_code == 3, result.output
    assert "line 4: RUN --mount=type=cache needs BuildKit" in result.stderr
    assert "--backend buildah" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_secret_with_the_docker_backend_is_a_usage_error(tmp_path):
    root = _project(tmp_path, b"FROM scratch\nCOPY a /a\n")
    secret = tmp_path / "s"
    secret.write_text("value")
    result = CliRunner().invoke(cli, ["build", "--backend", "docker", "--secret",
                                      f"id=s,src={secret}", "-t", "127.0.0.1:9/x:1", str(root)])
    assert result.exit_code == 2
    assert "--secret needs --backend buildah" in result.stderr


@pytest.mark.parametrize("spec,code,message", [
    ("id=s,src=/nonexistent/file", 3, "is not a readable file"),
    ("src", 2, "expected id=ID,src=FILE"),
    ("id=s", 2, "needs id=ID and src=FILE"),
    ("id=a b,src=@FILE", 3, "is not valid"),
    ("id=s,src=@FILE,type=env", 2, "type=file only"),
    ("id=s,src=/tmp/a,b", 2, "expected id=ID,src=FILE"),
])
def test_bad_secret_specs_are_refused_in_one_line(tmp_path, spec, code, message):
    root = _project(tmp_path, b"FROM scratch\nCOPY a /a\n")
    secret = tmp_path / "s"
    secret.write_text("s3cr3t-VALUE-42")
    result = CliRunner().invoke(cli, ["build", "--backend", "buildah", "--secret",
                                      spec.replace("@FILE", str(secret)),
                                      "-t", "127.0.0.1:9/x:1", str(root)])
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "s3cr3t-VALUE-42" not in result.output


def test_heredoc_is_refused_for_buildah_naming_the_line(tmp_path):
    root = _project(tmp_path, b"FROM scratch\nRUN <<EOT\necho hi\nEOT\n")
    result = CliRunner().invoke(cli, ["build", "--backend", "buildah", "-t", "127.0.0.1:9/x:1",
                                      str(root)])
    assert result.exit_code == 3
    assert "line 2: RUN heredoc" in result.stderr and "buildah 1.28" in result.stderr


def test_a_backend_that_cannot_work_is_refused_before_anything_runs(tmp_path, monkeypatch):
    root = _project(tmp_path, b"FROM scratch\nCOPY a /a\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no buildah on PATH
    result = CliRunner().invoke(cli, ["build", "--backend", "buildah", "-t", "127.0.0.1:9/x:1",
                                      "-o", str(tmp_path / "out"), str(root)])
    assert result.exit_code == 2 and "buildah is not installed" in result.stderr
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    result = CliRunner().invoke(cli, ["build", "--backend", "docker", "-t", "127.0.0.1:9/x:1",
                                      "-o", str(tmp_path / "out"), str(root)])
    assert result.exit_code == 2 and "the docker engine does not answer" in result.stderr
    result = CliRunner().invoke(cli, ["build", "-t", "127.0.0.1:9/x:1", str(root)])
    assert result.exit_code == 2 and "no build backend" in result.stderr
    assert not (tmp_path / "out").exists()
