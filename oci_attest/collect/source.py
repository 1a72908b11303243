"""Source facts: which repository, commit and ref were built, and whether the tree was clean.

A provenance that names a commit is only honest if the tree matched that commit, so the dirty
state is recorded (and ``--require-clean`` refuses to build at all). Remote URLs are recorded
with credentials stripped: CI checkouts routinely embed a token in ``origin``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from oci_attest.collect.builder import CiFacts
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
    dirty_files, untracked = _dirty_files(repo) if commit else (["(no commits yet)"], [])
    dirty = bool(dirty_files or untracked)
    if dirty and require_clean:
        shown = ", ".join((dirty_files + untracked)[:5])  # shown locally, never signed
        raise InputError(f"the working tree of {root} has uncommitted changes ({shown})",
                         hint="commit or stash them, or drop --require-clean")
    ref, tag = _ref_and_tag(repo, commit, ci)
    return SourceFacts(
        repository_url=_remote_url(repo) or _ci_repository_url(ci),
        commit=commit,
        ref=ref,
        tag=tag,
        dirty=dirty,
        dirty_files=dirty_files[:MAX_DIRTY_FILES],
        untracked_files=len(untracked),
        subdirectory=os.path.relpath(context.resolve(), root.resolve()),
    )


def _dirty_files(repo: object) -> tuple[list[str], list[str]]:
    """Modified or staged tracked paths, and untracked (not ignored) ones: anything that can
    reach a build makes the tree dirty."""
    import git

    assert isinstance(repo, git.Repo)
    changed = {item.a_path for item in repo.index.diff(None)}
    changed |= {item.a_path for item in repo.index.diff("HEAD")}
    return sorted(p for p in changed if p), sorted(repo.untracked_files)


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
    """The branch or tag being built; CI variables win when the checkout is detached."""
    import git

    assert isinstance(repo, git.Repo)
    tag = ci.tag
    if tag is None and commit:
        at_head = sorted(t.name for t in repo.tags if _tag_commit(t) == commit)
        tag = at_head[0] if at_head else None
    if ci.ref:
        return ci.ref, tag
    if not repo.head.is_detached:
        return f"refs/heads/{repo.active_branch.name}", tag
    if tag:
        return f"refs/tags/{tag}", tag
    return None, tag


def _tag_commit(tag: object) -> str | None:
    try:
        return str(tag.commit.hexsha)  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return None


def _ci_repository_url(ci: CiFacts) -> str | None:
    return strip_credentials(ci.repository_url) if ci.repository_url else None
