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
    (repo_dir / name).parent.mkdir(parents=True, exist_ok=True)
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
    facts = collect_source(git_repo, LOCAL)
    assert facts.dirty
    # Only tracked paths are named: an untracked file's name stays out of the provenance.
    assert facts.dirty_files == ["f.txt"]
    assert facts.untracked_files == 1  # counted, never named
    with pytest.raises(InputError, match=r"uncommitted changes: f.txt.*1 uncommitted file.*new.txt"):
        collect_source(git_repo, LOCAL, require_clean=True)


def test_an_untracked_file_alone_is_dirty_but_never_named(git_repo):
    _commit(git_repo)
    (git_repo / "notes-on-the-layoffs.txt").write_text("x")
    facts = collect_source(git_repo, LOCAL)
    assert facts.dirty and facts.dirty_files == []
    assert "layoffs" not in repr(facts)


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
def test_index_flags_do_not_hide_a_modified_file(git_repo, flag):
    _commit(git_repo)
    repo = git.Repo(git_repo)
    (git_repo / "f.txt").write_text("changed behind a flag")
    repo.git.update_index(flag, "f.txt")
    assert repo.git.status("--porcelain") == ""  # git status is fooled ...
    facts = collect_source(git_repo, LOCAL)
    assert facts.dirty and facts.dirty_files == ["f.txt"]  # ... attest is not
    with pytest.raises(InputError, match=r"f.txt"):
        collect_source(git_repo, LOCAL, require_clean=True)


def test_a_flagged_but_unchanged_file_is_clean(git_repo):
    _commit(git_repo)
    git.Repo(git_repo).git.update_index("--assume-unchanged", "f.txt")
    assert not collect_source(git_repo, LOCAL).dirty


def test_an_ignored_file_the_context_sends_is_dirty_unless_dockerignored(git_repo):
    _commit(git_repo, ".gitignore", "secret.env\n")
    (git_repo / "secret.env").write_text("X=1")
    facts = collect_source(git_repo, LOCAL)
    assert facts.dirty and facts.dirty_files == []
    with pytest.raises(InputError, match=r"1 uncommitted file.*git-ignored.*secret.env"):
        collect_source(git_repo, LOCAL, require_clean=True)
    _commit(git_repo, ".dockerignore", "*.env\n")
    assert not collect_source(git_repo, LOCAL, require_clean=True).dirty


def test_untracked_files_outside_the_context_are_not_sent(git_repo):
    _commit(git_repo, "svc/app.txt", "app")
    (git_repo / "scratch.txt").write_text("outside the context")
    assert not collect_source(git_repo / "svc", LOCAL).dirty
    (git_repo / "svc" / "extra.txt").write_text("inside")
    assert collect_source(git_repo / "svc", LOCAL).dirty


def _ci(**facts):
    return CiFacts(platform="github-actions", builder_id="x", **facts)


def test_a_ci_ref_never_overrides_the_checked_out_branch(git_repo):
    sha = _commit(git_repo)
    repo = git.Repo(git_repo)
    repo.git.checkout("-b", "feature")
    with pytest.raises(InputError, match=r"refs/tags/v1.0.0.*refs/heads/feature"):
        collect_source(git_repo, _ci(ref="refs/tags/v1.0.0", tag="v1.0.0", commit=sha))
    assert collect_source(git_repo, _ci(ref="refs/heads/feature", commit=sha)).ref == \
        "refs/heads/feature"


def test_detached_checkout_takes_the_ref_from_ci_only_for_the_same_commit(git_repo):
    sha = _commit(git_repo)
    repo = git.Repo(git_repo)
    repo.create_tag("v1.0.0")
    repo.git.checkout(sha)
    assert collect_source(git_repo, LOCAL).ref == "refs/tags/v1.0.0"
    facts = collect_source(git_repo, _ci(ref="refs/heads/release", commit=sha))
    assert facts.ref == "refs/heads/release"
    assert facts.tag == "v1.0.0"
    other = "1" * 40
    with pytest.raises(InputError, match=f"{other[:12]}.*HEAD is {sha[:12]}"):
        collect_source(git_repo, _ci(ref="refs/heads/release", commit=other))
    # A CI that names no commit cannot be checked: git's own answer stands.
    assert collect_source(git_repo, _ci(ref="refs/heads/release")).ref == "refs/tags/v1.0.0"
    with pytest.raises(InputError, match=r"tag v2.*v1.0.0"):
        collect_source(git_repo, _ci(ref="refs/tags/v2", tag="v2", commit=sha))


def test_subdirectory_context(git_repo):
    _commit(git_repo, "sub/a.txt".replace("sub/", ""))
    (git_repo / "svc").mkdir()
    assert collect_source(git_repo / "svc", LOCAL).subdirectory == "svc"


def test_not_a_repository(tmp_path):
    facts = collect_source(tmp_path, LOCAL)
    assert facts.commit is None and facts.uri is None
    with pytest.raises(InputError, match=r"not inside a git repository"):
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
