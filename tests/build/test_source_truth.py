"""The source facts ``attest build`` signs come from git and the build context, not from claims.

Real git repositories, the real engine and registry: a tree made to look clean (a modified file
hidden by ``git update-index --assume-unchanged``, a git-ignored file that ``COPY . .`` puts
into the image) is dirty in the provenance and refused by ``--require-clean``; a ``GITHUB_REF``
naming another ref than the checked-out branch fails the build before anything is pushed.
"""

from __future__ import annotations

import json

import git
import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.registry.client import RegistryClient

pytestmark = pytest.mark.integration


def _tamper(root):
    """Modify a tracked file behind a flag and add an ignored file the context sends."""
    repo = git.Repo(root)
    (root / ".gitignore").write_text("local.env\n")
    repo.git.add(".gitignore")
    repo.index.commit("ignore local.env")
    (root / "msg.txt").write_text("not what was committed\n")
    repo.git.update_index("--assume-unchanged", "msg.txt")
    (root / "local.env").write_text("MODE=surprise\n")
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /src/\n")
    repo.git.update_index("--assume-unchanged", "Dockerfile")
    assert repo.git.status("--porcelain") == ""
    return repo


def test_a_tree_made_to_look_clean_is_refused_by_require_clean(docker_engine, registry,
                                                             scratch_project, tmp_path):
    _tamper(scratch_project)
    result = CliRunner().invoke(cli, ["build", str(scratch_project), "-t",
                                      f"{registry.host}/truth/clean:1", "--require-clean",
                                      "--no-sign", "-o", str(tmp_path / "out")])
    assert result.exit_code == 3, result.output
    assert "msg.txt" in result.stderr and "local.env" in result.stderr
    assert RegistryClient(registry.host).head_manifest("truth/clean", "1") is None


def test_the_provenance_says_dirty_and_names_tracked_files_only(docker_engine, registry,
                                                              scratch_project, tmp_path):
    _tamper(scratch_project)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["build", str(scratch_project), "-t",
                                      f"{registry.host}/truth/dirty:1", "--no-sign", "--no-sbom",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    statement = (out / "provenance.intoto.json").read_text()
    git_facts = json.loads(statement)["predicate"]["buildDefinition"]["internalParameters"]["git"]
    assert git_facts["dirty"] is True
    assert git_facts["dirtyFiles"] == ["Dockerfile", "msg.txt"]
    assert "local.env" not in statement


def test_a_ci_ref_that_contradicts_git_fails_the_build(docker_engine, registry,
                                                       scratch_project, tmp_path):
    repo = git.Repo(scratch_project)
    repo.git.checkout("-b", "feature")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/tags/v1.0.0",
           "GITHUB_SHA": repo.head.commit.hexsha, "GITHUB_REPOSITORY": "acme/scratch"}
    result = CliRunner().invoke(cli, ["build", str(scratch_project), "-t",
                                      f"{registry.host}/truth/ref:1", "--no-sign",
                                      "-o", str(tmp_path / "out")], env=env)
    assert result.exit_code == 3, result.output
    assert "refs/tags/v1.0.0" in result.stderr and "refs/heads/feature" in result.stderr
    assert RegistryClient(registry.host).head_manifest("truth/ref", "1") is None
    # Detached at the CI's commit, the CI's ref is what git cannot say, and it is recorded.
    repo.git.checkout(repo.head.commit.hexsha)
    out = tmp_path / "detached"
    result = CliRunner().invoke(cli, ["build", str(scratch_project), "-t",
                                      f"{registry.host}/truth/ref:2", "--no-sign", "--no-sbom",
                                      "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output
    statement = json.loads((out / "provenance.intoto.json").read_text())
    assert statement["predicate"]["buildDefinition"]["internalParameters"]["git"]["ref"] == \
        "refs/tags/v1.0.0"
