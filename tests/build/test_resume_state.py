"""``--resume`` trusts nothing in the state directory it did not check.

The state directory is read back before signing, so a name in state.json must never become a
path (``../escape``), a statement edited on disk must never be signed, and a directory another
user owns or can write to is refused. Each run here stops after the describe step (as a failed
signing leaves it), then the state is tampered with and resumed with a valid identity token.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from oci_attest.build.docker_engine import DockerEngineBackend
from oci_attest.cli import cli
from oci_attest.pipeline import BuildOptions, Pipeline, start_run

pytestmark = pytest.mark.integration
IDENTITY = "release-bot@attest.test"


def attest(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture()
def described(registry, scratch_project, sigstore_trust_config, tmp_path) -> Path:
    """A run with everything up to the statements done, nothing signed."""
    out = tmp_path / "out"
    options = BuildOptions(context=str(scratch_project), tags=[f"{registry.host}/resume/app:1"],
                           sbom=False, trust_config=str(sigstore_trust_config), attach="none")
    pipeline = Pipeline(start_run(options, out), options, DockerEngineBackend)
    for step in (pipeline._collect, pipeline._build, pipeline._check_build, pipeline._push,
                 pipeline._describe):
        step()
    return out


def resume(out: Path, sigstore_stack):
    return attest("build", "--resume", out, "--identity-token",
                  sigstore_stack.mint_token(IDENTITY))


def edit_state(out: Path, change) -> None:
    state = json.loads((out / "state.json").read_text())
    change(state)
    (out / "state.json").write_text(json.dumps(state))


def test_an_untouched_run_resumes_and_signs(described, sigstore_stack):
    result = resume(described, sigstore_stack)
    assert result.exit_code == 0, result.output
    assert (described / "provenance.sigstore.json").is_file()


def test_a_statement_name_that_is_a_path_is_refused(described, sigstore_stack):
    outside = described.parent / "escape.intoto.json"
    outside.write_bytes((described / "provenance.intoto.json").read_bytes())
    edit_state(described, lambda s: s["steps"]["describe"].update(statements=["../escape"]))
    result = resume(described, sigstore_stack)
    assert result.exit_code == 3, result.output
    assert "'../escape'" in result.stderr and "Traceback" not in result.output
    assert not (described.parent / "escape.sigstore.json").exists()
    assert sorted(p.name for p in described.parent.iterdir()) == ["escape.intoto.json", "out",
                                                                  "scratch"]


@pytest.mark.parametrize("tamper", ["subject", "predicate", "dependency"])
def test_a_statement_edited_in_the_state_directory_is_not_signed(described, sigstore_stack,
                                                                 tamper):
    path = described / "provenance.intoto.json"
    statement = json.loads(path.read_text())
    if tamper == "subject":
        statement["subject"][0]["digest"]["sha256"] = "0" * 64
    elif tamper == "predicate":
        statement["predicate"]["buildDefinition"]["internalParameters"]["git"]["dirty"] = True
    else:
        statement["predicate"]["buildDefinition"]["resolvedDependencies"].pop()
    path.write_text(json.dumps(statement))
    result = resume(described, sigstore_stack)
    assert result.exit_code == 3, result.output
    assert "does not match the run's recorded facts" in result.stderr
    assert not (described / "provenance.sigstore.json").exists()


@pytest.mark.parametrize("change", [
    lambda s: s["steps"].update(describe=["provenance"]),
    lambda s: s["steps"]["describe"].update(statements="provenance"),
    lambda s: s["steps"]["build"].pop("imageId"),
    lambda s: s["steps"].update(push={"x": 1}),
])
def test_a_malformed_step_is_bad_input_not_a_crash(described, sigstore_stack, change):
    edit_state(described, change)
    result = resume(described, sigstore_stack)
    assert result.exit_code == 3, result.output
    assert "is malformed" in result.stderr
    assert not (described / "provenance.sigstore.json").exists()


def test_a_pushed_digest_that_is_not_a_digest_is_refused(described, sigstore_stack):
    edit_state(described, lambda s: s["steps"]["push"].update(
        {k: "../../x" for k in s["steps"]["push"]}))
    result = resume(described, sigstore_stack)
    assert result.exit_code == 3, result.output
    assert "no valid pushed digest" in result.stderr


def test_a_state_directory_writable_by_others_is_refused(described, sigstore_stack):
    described.chmod(0o777)
    result = resume(described, sigstore_stack)
    assert result.exit_code == 3, result.output
    assert "writable by other users" in result.stderr
    assert not (described / "provenance.sigstore.json").exists()


def test_an_output_directory_of_another_user_is_refused(scratch_project, registry, tmp_path):
    out = tmp_path / "theirs"
    out.mkdir(mode=0o755)
    if os.geteuid() == 0:
        os.chown(out, 65534, 65534)
    else:  # pragma: no cover - the suite runs as root; a plain user cannot give a dir away
        pytest.fail("this test needs root to create a directory owned by another user")
    result = attest("build", scratch_project, "-t", f"{registry.host}/resume/x:1", "--no-sign",
                    "-o", out)
    assert result.exit_code == 3, result.output
    assert "owned by another user" in result.stderr
    assert not (out / "state.json").exists()
    world = tmp_path / "world"
    world.mkdir()
    world.chmod(0o1777)
    result = attest("build", scratch_project, "-t", f"{registry.host}/resume/x:1", "--no-sign",
                    "-o", world)
    assert result.exit_code == 3 and "writable by other users" in result.stderr
