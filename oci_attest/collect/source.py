"""Source facts: which repository, commit and ref were built, and whether the tree was clean.

A provenance that names a commit is only honest if the tree matched that commit, so the dirty
state is recorded (and ``--require-clean`` refuses to build at all); see
:mod:`oci_attest.collect.worktree` for what "dirty" means. The ref comes from git; CI variables
only name the ref of a detached HEAD, and only for the commit the CI checked out. Remote URLs
are recorded with credentials stripped: CI checkouts routinely embed a token in ``origin``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from oci_attest.collect.builder import CiFacts
from oci_attest.collect.worktree import TreeState, tree_state
from oci_attest.errors import InputError

log = logging.getLogger(__name__)

MAX_DIRTY_FILES = 50
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")


@dataclass(frozen=True)
class SourceFacts:
    """What was checked out. ``None`` fields were not knowable (no git, no remote)."""

    repository_url: str | None
    commit: str | None
    ref: str | None
    tag: str | None
    dirty: bool
    #: tracked paths that differ from the commit; untracked ones are only counted, since their
    #: names (notes, keys, scratch files) are nobody's business once signed into a provenance
    dirty_files: list[str] = field(default_factory=list)
    untracked_files: int = 0
    subdirectory: str = "."

    @property
    def uri(self) -> str | None:
        """The SLSA/GitHub convention: ``git+<url>@<ref>``."""
        if not self.repository_url:
            return None
        ref = self.ref or self.commit
        return f"git+{self.repository_url}@{ref}" if ref else f"git+{self.repository_url}"


def strip_credentials(url: str) -> str:
    """Remove any user:password (or token) part of a URL and a trailing ``.git``.

    scp-like ``git@host:org/repo.git`` becomes ``ssh://host/org/repo``.
    """
    url = url.strip()
    if "://" not in url:
        match = _SCP_LIKE.match(url)
        if match:
            url = f"ssh://{match['host']}/{match['path']}"
        else:
            return _trim_git(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return _trim_git(clean)


def _trim_git(url: str) -> str:
    url = url.rstrip("/")
    return url[:-4] if url.endswith(".git") else url


def collect_source(context: Path, ci: CiFacts, *, require_clean: bool = False) -> SourceFacts:
    """Read the git repository containing ``context``; refuse a dirty one if asked to."""
    import git

    try:
        repo = git.Repo(context, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        if require_clean:
            raise InputError(f"{context} is not inside a git repository, so it cannot be "
                             "shown to be clean", hint="drop --require-clean or build from a "
                             "git checkout") from None
        log.warning("%s is not in a git repository: the provenance will name no source", context)
        return SourceFacts(repository_url=_ci_repository_url(ci), commit=ci.commit, ref=ci.ref,
                           tag=ci.tag, dirty=False)
    root = Path(repo.working_tree_dir or context)
    try:
        commit: str | None = repo.head.commit.hexsha
    except ValueError:
        commit = None  # a repository with no commits yet
    if commit:
        state: TreeState | None = tree_state(repo, context)
        dirty, dirty_files = bool(state and state.dirty), state.tracked if state else []
    else:
        state, dirty, dirty_files = None, True, ["(no commits yet)"]
    if dirty and require_clean:
        raise InputError(f"the working tree of {root} differs from commit "
                         f"{(commit or 'none')[:12]} ({_describe_dirt(state, dirty_files)})",
                         hint="commit or stash the changes (or .dockerignore the extra files), "
                              "or drop --require-clean")
    ref, tag = _ref_and_tag(repo, commit, ci)
    return SourceFacts(
        repository_url=_remote_url(repo) or _ci_repository_url(ci),
        commit=commit,
        ref=ref,
        tag=tag,
        dirty=dirty,
        dirty_files=dirty_files[:MAX_DIRTY_FILES],
        untracked_files=state.untracked_sent if state is not None else 0,
        subdirectory=os.path.relpath(context.resolve(), root.resolve()),
    )


def _describe_dirt(state: TreeState | None, tracked: list[str]) -> str:
    """For the error message on the user's own terminal (untracked names are fine there)."""
    parts = []
    if tracked:
        parts.append("uncommitted changes: " + ", ".join(tracked[:5]))
    if state is not None and state.untracked_sent:
        parts.append(f"{state.untracked_sent} uncommitted file(s) (untracked or git-ignored) "
                     "that the build context sends: " + ", ".join(state.untracked_examples))
    return "; ".join(parts)


def _remote_url(repo: object) -> str | None:
    import git

    assert isinstance(repo, git.Repo)
    remotes = {remote.name: remote for remote in repo.remotes}
    remote = remotes.get("origin") or next(iter(remotes.values()), None)
    if remote is None:
        return None
    try:
        url = next(iter(remote.urls), None)
    except git.GitCommandError:
        return None
    return strip_credentials(url) if url else None


def _ref_and_tag(repo: object, commit: str | None, ci: CiFacts) -> tuple[str | None, str | None]:
    """The branch or tag being built, from git. The CI's claim only fills in what git cannot
    say (which ref a detached HEAD was checked out from), and only for the commit the CI says
    it checked out; a CI claim that contradicts git fails the build."""
    import git

    assert isinstance(repo, git.Repo)
    at_head = sorted(t.name for t in repo.tags if _tag_commit(t) == commit) if commit else []
    claimed = ci.ref or (f"refs/tags/{ci.tag}" if ci.tag else None)
    if not repo.head.is_detached:
        branch = f"refs/heads/{repo.active_branch.name}"
        if claimed and claimed != branch:
            raise InputError(f"the CI says it builds {claimed}, but git has {branch} checked "
                             f"out", hint="build the ref the CI checked out, or unset the CI's "
                                          "ref variables (GITHUB_REF, CI_COMMIT_REF_NAME, ...)")
        return branch, at_head[0] if at_head else None
    if claimed and ci.commit and commit and ci.commit != commit:
        raise InputError(f"the CI says it checked out commit {ci.commit[:12]} ({claimed}), but "
                         f"HEAD is {commit[:12]}", hint="build the commit the CI checked out, "
                                                       "or unset the CI's ref variables")
    if claimed and ci.commit and ci.commit == commit:
        if ci.tag and at_head and ci.tag not in at_head:
            raise InputError(f"the CI says it builds tag {ci.tag}, but the tags at HEAD are "
                             f"{', '.join(at_head)}", hint="fetch the tags, or unset the CI's "
                                                           "ref variables")
        return claimed, ci.tag or (at_head[0] if at_head else None)
    if claimed:
        log.warning("ignoring the CI's ref %s: the CI names no commit to check it against",
                    claimed)
    tag = at_head[0] if at_head else None
    return (f"refs/tags/{tag}" if tag else None), tag


def _tag_commit(tag: object) -> str | None:
    try:
        return str(tag.commit.hexsha)  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return None


def _ci_repository_url(ci: CiFacts) -> str | None:
    return strip_credentials(ci.repository_url) if ci.repository_url else None
