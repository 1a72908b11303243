"""Where references are found and how they are spliced: no registry needed for these."""

from __future__ import annotations

import os
import stat

import pytest

from oci_attest.errors import InputError
from oci_attest.pin import Mode, pin
from oci_attest.pin.dockerfile import scan_dockerfile
from oci_attest.pin.files import write_atomically
from oci_attest.pin.manifests import scan_yaml
from oci_attest.pin.sites import SiteKind

DIGEST = "sha256:" + "ab" * 32


def _texts(content: str, scan) -> list[tuple[int, str]]:
    for site in scan.sites:
        assert content[site.start:site.end] == site.text
    return [(site.line, site.text) for site in scan.sites]


def test_dockerfile_from_copy_and_mount_but_not_stages_args_or_heredocs():
    content = (
        "\ufeff# escape=`\n"
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
        "RUN --mount=type=cache,target=/root/.cache `\n"
        "    --mount=type=bind,from=alpine:3.19,target=/a make\n"
        "COPY --from=build /out /out\n"
        "COPY --from=0 /out /out2\n"
        "COPY --from=busybox:1.36 /bin/sh /sh\n"
        "ARG BASE=debian:12\n"
        "FROM $BASE AS runtime\n"
        "RUN <<EOF\n"
        "FROM evil.example/not-an-instruction:1\n"
        "EOF\n"
        "FROM scratch\n"
        "from build\n"
        "FROM alpine:3.20 AS alpine\n"
    )
    scan = scan_dockerfile("Dockerfile", content)
    assert _texts(content, scan) == [(2, "golang:1.22"), (4, "alpine:3.19"),
                                     (7, "busybox:1.36"), (15, "alpine:3.20")]
    assert [s.kind for s in scan.sites][:3] == [SiteKind.DOCKERFILE_FROM,
                                                SiteKind.DOCKERFILE_MOUNT_FROM,
                                                SiteKind.DOCKERFILE_COPY_FROM]
    assert [(s.line, s.text) for s in scan.skipped] == [(9, "$BASE")]


def test_dockerfile_lines_end_only_at_newline_and_crlf_is_kept():
    # A form feed is not a line break for the engine: `# note\x0cFROM x` is one comment line.
    content = "# note\x0cFROM impostor:1\r\nFROM real:2\r\n"
    scan = scan_dockerfile("Dockerfile", content)
    assert _texts(content, scan) == [(2, "real:2")]


def test_dockerfile_escape_directive_counts_only_at_the_top():
    # After a non-directive line, `# escape=` is a comment: the backslash stays the escape.
    content = "FROM a:1\n# escape=`\nRUN echo `\nFROM b:2\n"
    assert _texts(content, scan_dockerfile("Dockerfile", content)) == [(1, "a:1"), (4, "b:2")]


def test_yaml_sites_keep_positions_in_quoted_flow_and_multi_document_yaml():
    content = (
        "# comment\n"
        "kind: Pod\n"
        "spec:\n"
        "  initContainers:\n"
        "    - name: init\n"
        "      image: \"busybox:1.36\"  # quoted\n"
        "  containers: [{name: app, image: 'reg.example/app:1.4'}]\n"
        "---\n"
        "kind: CronJob\n"
        "spec:\n"
        "  jobTemplate:\n"
        "    spec:\n"
        "      template:\n"
        "        spec:\n"
        "          ephemeralContainers:\n"
        "            - image: debug:1\n"
        "---\n"
        "services:\n"
        "  db: {image: postgres:16}\n"
        "  web: {build: .}\n"
        "---\n"
        "on: push\n"
        "jobs:\n"
        "  test:\n"
        "    container: node:20\n"
        "    services:\n"
        "      cache:\n"
        "        image: redis:7\n"
        "    steps:\n"
        "      - uses: docker://alpine:3.19\n"
        "      - uses: actions/checkout@v4\n"
        "  matrix:\n"
        "    container:\n"
        "      image: ${{ matrix.image }}\n"
    )
    scan = scan_yaml("all.yaml", content)
    assert _texts(content, scan) == [(6, "busybox:1.36"), (7, "reg.example/app:1.4"),
                                     (16, "debug:1"), (19, "postgres:16"), (25, "node:20"),
                                     (28, "redis:7"), (30, "alpine:3.19")]
    assert [(s.line, s.text) for s in scan.skipped] == [(34, "${{ matrix.image }}")]


def test_invalid_yaml_is_an_input_error_naming_the_file():
    with pytest.raises(InputError, match=r"broken\.yaml is not valid YAML"):
        scan_yaml("broken.yaml", "a: [1,\n")


def test_pin_splices_only_the_references(tmp_path):
    original = ("# keep me\nspec:\n  containers:\n    - image: app:1   # keep\n"
                "      name:   weird-spacing\n")
    path = tmp_path / "pod.yaml"
    path.write_text(original)
    run = pin([str(path)], resolver=lambda lookup: DIGEST)
    assert path.read_text() == original.replace("app:1 ", f"app:1@{DIGEST} ")
    assert run.changed_files == [str(path)]


def test_untagged_reference_gains_latest_and_existing_pins_are_left_alone(tmp_path):
    path = tmp_path / "Dockerfile"
    old = "sha256:" + "cd" * 32
    path.write_text(f"FROM nginx\nFROM app:1@{old}\n")
    asked = []

    def resolver(lookup):
        asked.append(str(lookup.reference))
        return DIGEST

    pin([str(path)], resolver=resolver)
    assert path.read_text() == f"FROM nginx:latest@{DIGEST}\nFROM app:1@{old}\n"
    assert asked == ["docker.io/library/nginx"]  # the existing pin is not looked up


def test_check_reports_stale_and_unpinned_without_writing(tmp_path):
    path = tmp_path / "Dockerfile"
    old = "sha256:" + "cd" * 32
    content = f"FROM nginx:1\nFROM app:1@{old}\nFROM other:1@{DIGEST}\n"
    path.write_text(content)
    run = pin([str(path)], mode=Mode.CHECK, resolver=lambda lookup: DIGEST)
    assert path.read_text() == content
    assert [(o.site.line, o.status.value) for o in run.outcomes] == [
        (1, "unpinned"), (2, "stale"), (3, "up-to-date")]
    assert [o.site.line for o in run.problems] == [1, 2]


def test_update_moves_stale_pins(tmp_path):
    path = tmp_path / "Dockerfile"
    old = "sha256:" + "cd" * 32
    path.write_text(f"FROM app:1@{old}\n")
    pin([str(path)], mode=Mode.UPDATE, resolver=lambda lookup: DIGEST)
    assert path.read_text() == f"FROM app:1@{DIGEST}\n"


def test_nothing_is_written_when_one_lookup_fails(tmp_path):
    first = tmp_path / "a.yaml"
    second = tmp_path / "b.yaml"
    first.write_text("containers: [{image: good:1}]\n")
    second.write_text("containers: [{image: missing:1}]\n")

    def resolver(lookup):
        if lookup.reference.repository.endswith("missing"):
            raise InputError("not found")
        return DIGEST

    with pytest.raises(InputError, match=r"b.yaml:1: missing:1: not found"):
        pin([str(first), str(second)], resolver=resolver)
    assert first.read_text() == "containers: [{image: good:1}]\n"


def test_a_malformed_reference_names_file_and_line(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM ok:1\nFROM Bad/UPPER:1\n")
    with pytest.raises(InputError, match=r"Dockerfile:2: "):
        pin([str(path)], resolver=lambda lookup: DIGEST)


def test_unknown_file_kind_and_missing_path_are_input_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("FROM x\n")
    with pytest.raises(InputError, match="cannot tell what kind of file"):
        pin([str(tmp_path / "notes.txt")], resolver=lambda lookup: DIGEST)
    with pytest.raises(InputError, match="does not exist"):
        pin([str(tmp_path / "nope.yaml")], resolver=lambda lookup: DIGEST)


def test_directories_are_walked_for_known_names_only(tmp_path):
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yml").write_text("containers: [{image: a:1}]\n")
    (tmp_path / "build.Dockerfile").write_text("FROM b:1\n")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "x.yaml").write_text("containers: [{image: c:1}]\n")
    (tmp_path / "README.md").write_text("FROM d:1\n")
    run = pin([str(tmp_path)], mode=Mode.CHECK, resolver=lambda lookup: DIGEST)
    assert sorted(o.site.text for o in run.outcomes) == ["a:1", "b:1"]


def test_atomic_write_keeps_the_mode(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM a:1\n")
    os.chmod(path, 0o640)
    write_atomically(path, "FROM a:1@x\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text() == "FROM a:1@x\n"
    assert [p.name for p in tmp_path.iterdir()] == ["Dockerfile"]
