"""What was built from is what is recorded: the materials on a real engine and registry.

Each test builds real images (FROM scratch, so they build in seconds) and reads the record back:
an impostor tag in the engine, a base with ONBUILD triggers, a multi-platform index with two
entries for the engine's platform, and a record that no longer matches the Dockerfile handed to
the engine (the check after the build must stop the run before anything is pushed).
"""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from oci_attest.build.docker_engine import DockerEngineBackend
from oci_attest.cli import cli
from oci_attest.pipeline import BuildOptions, Pipeline, start_run
from oci_attest.reference import parse_reference
from oci_attest.registry.client import RegistryClient
from tests.build.images import (
    build_and_push,
    build_local,
    diff_ids,
    push_index,
    push_raw_image,
)

pytestmark = pytest.mark.integration


def attest(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def project(root: Path, dockerfile: str) -> Path:
    (root / "Dockerfile").write_text(dockerfile)
    return root


def provenance(out: Path) -> dict:
    return json.loads((out / "provenance.intoto.json").read_text())["predicate"]


def dependencies(out: Path) -> list[dict]:
    return provenance(out)["buildDefinition"]["resolvedDependencies"]


def test_an_impostor_tag_in_the_engine_is_not_what_gets_built(registry, scratch_project,
                                                             tmp_path):
    """The build uses the pinned base: a local image under the same tag (the registry holds
    another) must not be built from. Fails if the engine gets the user's Dockerfile."""
    tag = f"{registry.host}/imp/base:1"
    real = build_and_push(tmp_path / "real", tag, "FROM scratch\nCOPY who.txt /who.txt\n",
                          {"who.txt": "the registry's base\n"})
    build_local(tmp_path / "impostor", tag, "FROM scratch\nCOPY who.txt /who.txt\n",
                {"who.txt": "an impostor\n"})
    impostor_layers = diff_ids_local(tag)
    assert impostor_layers != diff_ids(real)
    project(scratch_project, f"FROM {tag}\nCOPY msg.txt /msg.txt\n")
    out = tmp_path / "out"
    result = attest("build", scratch_project, "-t", f"{registry.host}/imp/app:1", "--no-sign",
                    "--no-sbom", "-o", out)
    assert result.exit_code == 0, result.output
    pushed = result.stdout.strip().splitlines()[-1]
    layers = diff_ids(pushed)
    assert layers[:1] == diff_ids(real) and layers[0] != impostor_layers[0]
    images = [d for d in dependencies(out) if d["uri"].startswith("pkg:docker/")]
    assert [d["annotations"]["pinned"] for d in images] == [real]


def diff_ids_local(tag: str) -> list[str]:
    from tests.build.images import docker

    return json.loads(docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", tag))


def collected(scratch_project: Path, tag: str, out: Path) -> Pipeline:
    """A run stopped after its collect step, as a crash would leave it."""
    options = BuildOptions(context=str(scratch_project), tags=[tag], sign=False, sbom=False)
    pipeline = Pipeline(start_run(options, out), options, DockerEngineBackend)
    pipeline._collect()
    return pipeline


def test_a_built_image_not_starting_with_the_recorded_base_is_never_pushed(
        registry, scratch_project, tmp_path):
    base = build_and_push(tmp_path / "b", f"{registry.host}/chk/base:1",
                          "FROM scratch\nCOPY b.txt /b.txt\n", {"b.txt": "base\n"})
    project(scratch_project, f"FROM {registry.host}/chk/base:1\nCOPY msg.txt /msg.txt\n")
    out = tmp_path / "out"
    tag = f"{registry.host}/chk/app:1"
    collected(scratch_project, tag, out)
    facts = json.loads((out / "facts.json").read_text())
    assert facts["finalBase"]["image"] == base
    assert facts["finalBase"]["diffIds"] == diff_ids(base)
    # What a parser disagreement looks like from the outside: the record names other layers.
    facts["finalBase"]["diffIds"] = ["sha256:" + "0" * 64]
    (out / "facts.json").write_text(json.dumps(facts))
    result = attest("build", "--resume", out)
    assert result.exit_code == 4, result.output
    assert "does not start with the layers of the recorded base" in result.stderr
    assert RegistryClient(registry.host).head_manifest("chk/app", "1") is None


def test_a_dockerfile_handed_to_the_engine_with_a_tag_is_never_pushed(
        registry, scratch_project, tmp_path):
    build_and_push(tmp_path / "b", f"{registry.host}/chk2/base:1",
                   "FROM scratch\nCOPY b.txt /b.txt\n", {"b.txt": "base\n"})
    project(scratch_project, f"FROM {registry.host}/chk2/base:1\nCOPY msg.txt /msg.txt\n")
    out = tmp_path / "out"
    collected(scratch_project, f"{registry.host}/chk2/app:1", out)
    (out / "Dockerfile.pinned").write_text(
        f"FROM {registry.host}/chk2/base:1\nCOPY msg.txt /msg.txt\n")
    result = attest("build", "--resume", out)
    assert result.exit_code == 4, result.output
    assert "not pinned to a digest" in result.stderr
    assert f"FROM {registry.host}/chk2/base:1" in result.stderr
    assert RegistryClient(registry.host).head_manifest("chk2/app", "1") is None


@pytest.fixture()
def file_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "f.txt").write_text("downloaded by an ONBUILD trigger\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_onbuild_triggers_of_the_base_are_recorded(registry, scratch_project, tmp_path,
                                                   file_server):
    other = build_and_push(tmp_path / "o", f"{registry.host}/onb/other:1",
                           "FROM scratch\nCOPY o.txt /o.txt\n", {"o.txt": "other\n"})
    base = build_and_push(
        tmp_path / "b", f"{registry.host}/onb/base:1",
        f"FROM scratch\nCOPY b.txt /b.txt\nONBUILD COPY --from={other} /o.txt /o.txt\n"
        f"ONBUILD ADD {file_server}/f.txt /f.txt\n", {"b.txt": "base\n"})
    project(scratch_project, f"FROM {registry.host}/onb/base:1\n")
    out = tmp_path / "out"
    result = attest("build", scratch_project, "-t", f"{registry.host}/onb/app:1", "--no-sign",
                    "--no-sbom", "--network", "host", "-o", out)
    assert result.exit_code == 0, result.output
    deps = dependencies(out)
    by_pin = {d["annotations"]["pinned"]: d for d in deps
              if isinstance(d.get("annotations", {}).get("pinned"), str)}
    assert by_pin[base]["annotations"]["uses"] == ["FROM (line 1)"]
    (use,) = by_pin[other]["annotations"]["uses"]
    assert use.startswith("ONBUILD COPY --from (line 1) via ONBUILD COPY --from=")
    assert f"(of base {registry.host}/onb/base:1)" in use
    (download,) = [d for d in deps if d["uri"] == f"{file_server}/f.txt"]
    assert download["annotations"]["pinned"] is False
    assert "via ONBUILD ADD" in download["annotations"]["uses"]
    triggers = provenance(out)["buildDefinition"]["internalParameters"]["onbuild"]
    assert [t["trigger"] for t in triggers] == [f"COPY --from={other} /o.txt /o.txt",
                                                f"ADD {file_server}/f.txt /f.txt"]


def test_a_base_whose_trigger_names_an_image_by_tag_is_refused(registry, scratch_project,
                                                              tmp_path):
    build_and_push(tmp_path / "o", f"{registry.host}/onb2/other:1",
                   "FROM scratch\nCOPY o.txt /o.txt\n", {"o.txt": "other\n"})
    build_and_push(tmp_path / "b", f"{registry.host}/onb2/base:1",
                   f"FROM scratch\nCOPY b.txt /b.txt\n"
                   f"ONBUILD COPY --from={registry.host}/onb2/other:1 /o.txt /o.txt\n",
                   {"b.txt": "base\n"})
    project(scratch_project, f"FROM {registry.host}/onb2/base:1\n")
    result = attest("build", scratch_project, "-t", f"{registry.host}/onb2/app:1", "--no-sign",
                    "--no-sbom", "-o", tmp_path / "out")
    assert result.exit_code == 3, result.output
    assert "by tag" in result.stderr and "ONBUILD COPY" in result.stderr
    assert RegistryClient(registry.host).head_manifest("onb2/app", "1") is None


def test_a_multi_platform_base_records_the_index_and_the_manifest_built_from(
        registry, scratch_project, tmp_path):
    client = RegistryClient(registry.host)
    arm = push_raw_image(client, "multi/base", {"which.txt": "arm64\n"}, architecture="arm64")
    first = push_raw_image(client, "multi/base", {"which.txt": "first amd64\n"},
                           architecture="amd64")
    second = push_raw_image(client, "multi/base", {"which.txt": "second amd64\n"},
                            architecture="amd64")
    index = push_index(client, "multi/base", "1", [(*arm, "linux/arm64"),
                                                   (*first, "linux/amd64"),
                                                   (*second, "linux/amd64")])
    project(scratch_project, f"FROM {registry.host}/multi/base:1\nCOPY msg.txt /msg.txt\n")
    out = tmp_path / "out"
    result = attest("build", scratch_project, "-t", f"{registry.host}/multi/app:1",
                    "--no-sign", "--no-sbom", "-o", out)
    assert result.exit_code == 0, result.output
    (image,) = [d for d in dependencies(out) if d["uri"].startswith("pkg:docker/")]
    assert image["digest"] == {"sha256": index.split(":")[1]}
    assert image["annotations"]["platformManifest"] == first[0]
    assert image["annotations"]["platform"] == "linux/amd64"
    pushed = parse_reference(result.stdout.strip().splitlines()[-1])
    assert diff_ids(pushed.pinned())[:1] == diff_ids(f"{registry.host}/multi/base@{first[0]}")


def test_the_platform_recorded_is_the_built_images(registry, scratch_project, tmp_path):
    client = RegistryClient(registry.host)
    arm = push_raw_image(client, "armonly/base", {"which.txt": "arm64\n"},
                         architecture="arm64")
    push_index(client, "armonly/base", "1", [(*arm, "linux/arm64")])
    project(scratch_project,
            f"FROM --platform=linux/arm64 {registry.host}/armonly/base:1\nCOPY msg.txt /m\n")
    out = tmp_path / "out"
    result = attest("build", scratch_project, "-t", f"{registry.host}/armonly/app:1",
                    "--no-sign", "--no-sbom", "-o", out)
    assert result.exit_code == 0, result.output
    assert provenance(out)["buildDefinition"]["externalParameters"]["platform"] == "linux/arm64"
    (image,) = [d for d in dependencies(out) if d["uri"].startswith("pkg:docker/")]
    assert image["annotations"]["platformManifest"] == arm[0]
    assert "platform=linux%2Farm64" in image["uri"] or "platform=linux/arm64" in image["uri"]
