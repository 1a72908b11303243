"""Fixtures for the producer pipeline: an example project in a real git repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import git
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


REMOTE_WITH_TOKEN = "https://x-access-token:ghs_repotoken123@github.example.test/acme/hello.git"


def git_project(example: str, destination: Path) -> tuple[Path, str]:
    """An example copied into a fresh git repository whose remote URL carries a token, as CI
    checkouts do; returns the project directory and its commit."""
    root = destination / example
    shutil.copytree(EXAMPLES / example, root)
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Release Bot")
        config.set_value("user", "email", "release-bot@example.test")
    repo.git.add(A=True)
    commit = repo.index.commit(example).hexsha
    repo.create_remote("origin", REMOTE_WITH_TOKEN)
    return root, commit


@pytest.fixture()
def scratch_project(tmp_path: Path) -> Path:
    """A tiny FROM-scratch project: builds in a second, for tests about the pipeline itself."""
    root = tmp_path / "scratch"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM scratch\nARG NPM_TOKEN\nCOPY msg.txt /msg.txt\n")
    (root / "msg.txt").write_text(f"{tmp_path.name}\n")
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    repo.index.commit("scratch")
    repo.create_remote("origin", "https://github.example.test/acme/scratch")
    return root


@pytest.fixture(scope="session")
def buildah_root(tmp_path_factory: pytest.TempPathFactory):
    """A buildah storage of this test session (vfs copies every layer: keep it out of the
    system's storage and remove it afterwards)."""
    import os
    import subprocess

    root = tmp_path_factory.mktemp("buildah")
    previous = os.environ.get("ATTEST_BUILDAH_ROOT")
    os.environ["ATTEST_BUILDAH_ROOT"] = str(root)
    try:
        yield root
    finally:
        if previous is None:
            os.environ.pop("ATTEST_BUILDAH_ROOT", None)
        else:
            os.environ["ATTEST_BUILDAH_ROOT"] = previous
        subprocess.run(["buildah", "--storage-driver", "vfs", "--root", str(root), "--runroot",
                        str(root / "run"), "rmi", "--all", "--force"], capture_output=True,
                       check=False)
        shutil.rmtree(root, ignore_errors=True)
