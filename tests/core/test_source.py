import git
import pytest

from oci_attest.collect.builder import CiFacts, detect_ci
from oci_attest.collect.source import collect_source, strip_credentials
from oci_attest.errors import InputError

LOCAL = detect_ci({})


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://x-access-token:ghs_abc@github.com/acme/app.git", "https://github.com/acme/app"),
        ("https://oauth2:glpat-xyz@gitlab.example.test:8443/g/app", "https://gitlab.example.test:8443/g/app"),
        ("git@github.com:acme/app.git", "ssh://github.com/acme/app"),
        ("ssh://git@github.com/acme/app.git", "ssh://github.com/acme/app"),
        ("https://github.com/acme/app/", "https://github.com/acme/app"),
    ],
)
def test_credentials_are_stripped(url, clean):
    assert strip_credentials(url) == clean


def _commit(repo_dir, name="f.txt", text="x"):
    repo = git.Repo(repo_dir)
    (repo_dir / name).write_text(text)
    repo.index.add([name])
    return repo.index.commit("c").hexsha


def test_clean_tree_on_a_branch(git_repo):
    sha = _commit(git_repo)
    git.Repo(git_repo).create_remote("origin", "https://tok:secret@example.test/o/r.git")
    facts = collect_source(git_repo, LOCAL)
    assert facts.commit == sha
    assert facts.ref == "refs/heads/main"
    assert not facts.dirty
    assert facts.repository_url == "https://example.test/o/r"
    assert facts.uri == "git+https://example.test/o/r@refs/heads/main"
    assert "secret" not in repr(facts)


def test_modified_and_untracked_files_make_the_tree_dirty(git_repo):
    _commit(git_repo)
    (git_repo / "f.txt").write_text("changed")
    (git_repo / "new.txt").write_text("new")
    (git_repo / ".gitignore").write_text("ignored.txt\n")
    (git_repo / "ignored.txt").write_text("ignored")
    facts = collect_source(git_repo, LOCAL)
    assert facts.dirty
    assert facts.dirty_files == ["f.txt"]  # tracked paths only
    assert facts.untracked_files == 2  # new.txt and .gitignore, counted, never named
    with pytest.raises(InputError, match="uncommitted changes"):
        collect_source(git_repo, LOCAL, require_clean=True)


def test_detached_checkout_takes_the_ref_from_ci_and_finds_tags(git_repo):
    sha = _commit(git_repo)
    repo = git.Repo(git_repo)
    repo.create_tag("v1.0.0")
    repo.git.checkout(sha)
    assert collect_source(git_repo, LOCAL).ref == "refs/tags/v1.0.0"
    ci = CiFacts(platform="github-actions", builder_id="x", ref="refs/heads/release")
    facts = collect_source(git_repo, ci)
    assert facts.ref == "refs/heads/release"
    assert facts.tag == "v1.0.0"


def test_subdirectory_context(git_repo):
    _commit(git_repo, "sub/a.txt".replace("sub/", ""))
    (git_repo / "svc").mkdir()
    assert collect_source(git_repo / "svc", LOCAL).subdirectory == "svc"


def test_not_a_repository(tmp_path):
    facts = collect_source(tmp_path, LOCAL)
    assert facts.commit is None and facts.uri is None
    with pytest.raises(InputError, match="not inside a git repository"):
        collect_source(tmp_path, LOCAL, require_clean=True)


def test_untracked_names_never_reach_the_provenance(git_repo):
    from oci_attest.provenance import _git_facts

    _commit(git_repo)
    (git_repo / "acquisition-plan-2027.txt").write_text("private")
    facts = collect_source(git_repo, LOCAL)
    assert facts.dirty
    git_facts = _git_facts(facts)
    assert git_facts["dirty"] is True and git_facts["dirtyFiles"] == []
    assert git_facts["untrackedFiles"] == 1
    assert "acquisition" not in repr(git_facts)
