"""Whether what the build sees is exactly the commit: the "dirty" fact of the provenance.

``git status`` answers a different question (what a developer might want to commit) and can be
told to look away: ``git update-index --assume-unchanged`` and ``--skip-worktree`` hide a
modified tracked file, and ``.gitignore`` hides a file that ``COPY . .`` still puts into the
image. Here the tree is dirty when

* a tracked file differs from the commit (index or work tree), flags notwithstanding: a flagged
  file is hashed and compared with the commit's blob;
* or the build context sends a file the commit does not have, untracked or git-ignored, after
  ``.dockerignore`` (read with the docker SDK's own matcher, the one that builds the context).

Only tracked paths are ever named in the result: the names of untracked files (``.env``,
``notes-on-the-layoffs.txt``) do not belong in public, signed provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# `git ls-files -v`: a lower-case tag means assume-unchanged ("s": both flags).
_ASSUME_UNCHANGED_TAGS = frozenset("hsmrcku")
_SKIP_WORKTREE_TAG = "S"


@dataclass(frozen=True)
class TreeState:
    """``tracked``: changed tracked paths (repository-relative); ``untracked_sent``: how many
    files outside the commit the build context sends, and a few of their names for the
    error message only (never recorded)."""

    tracked: list[str] = field(default_factory=list)
    untracked_sent: int = 0
    untracked_examples: list[str] = field(default_factory=list)

    @property
    def dirty(self) -> bool:
        return bool(self.tracked) or self.untracked_sent > 0


def tree_state(repo: Any, context: Path) -> TreeState:
    """Compare the work tree and the build context of ``repo`` (a ``git.Repo``) with HEAD."""
    root = Path(repo.working_tree_dir)
    tracked = _changed_tracked(repo) | _changed_flagged(repo, root)
    untracked = _untracked_sent(repo, root, context)
    return TreeState(tracked=sorted(tracked), untracked_sent=len(untracked),
                     untracked_examples=sorted(untracked)[:5])


def _changed_tracked(repo: Any) -> set[str]:
    """What ``git status`` sees among tracked files: staged, modified, deleted, renamed."""
    out = repo.git.status("--porcelain=v1", "-z", "--untracked-files=no",
                          "--ignore-submodules=none")
    changed: set[str] = set()
    entries = iter(out.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        changed.add(entry[3:])
        if entry[0] in "RC":
            changed.add(next(entries, ""))  # the rename's source path
    return {p for p in changed if p}


def _changed_flagged(repo: Any, root: Path) -> set[str]:
    """Tracked files hidden from ``git status`` by assume-unchanged or skip-worktree, compared
    by content with HEAD's blobs."""
    flagged: dict[str, str] = {}
    for entry in repo.git.ls_files("-v", "-z").split("\0"):
        if len(entry) > 2 and (entry[0] in _ASSUME_UNCHANGED_TAGS or
                               entry[0] == _SKIP_WORKTREE_TAG):
            flagged[entry[2:]] = entry[0]
    if not flagged:
        return set()
    committed = _head_blobs(repo, list(flagged))
    changed: set[str] = set()
    present = []
    for path, tag in flagged.items():
        if (root / path).is_file() or (root / path).is_symlink():
            present.append(path)
        elif tag != _SKIP_WORKTREE_TAG or path not in committed:
            changed.add(path)  # deleted behind an assume-unchanged flag
    if present:
        hashes = repo.git.hash_object("--", *present).split()
        changed |= {p for p, h in zip(present, hashes, strict=False) if committed.get(p) != h}
    return changed


def _head_blobs(repo: Any, paths: list[str]) -> dict[str, str]:
    out = repo.git.ls_tree("-r", "-z", "HEAD", "--", *paths)
    blobs: dict[str, str] = {}
    for entry in out.split("\0"):
        meta, _, path = entry.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            blobs[path] = parts[2]
    return blobs


def _untracked_sent(repo: Any, root: Path, context: Path) -> set[str]:
    """Files the build context sends that are not tracked (untracked or ignored)."""
    from docker.utils.build import exclude_paths

    context = context.resolve()
    try:
        prefix = context.relative_to(root.resolve())
    except ValueError:
        return set()
    # .git is repository metadata, not a file of the commit (and walking it is slow).
    patterns = [*_dockerignore(context), ".git"]
    sent = {p for p in exclude_paths(str(context), patterns)
            if (context / p).is_file() or (context / p).is_symlink()}
    if not sent:
        return set()
    tracked: set[str] = set()
    submodules: list[str] = []
    for entry in repo.git.ls_files("-s", "-z").split("\0"):
        meta, _, path = entry.partition("\t")
        if not path:
            continue
        try:
            relative = str(Path(path).relative_to(prefix))
        except ValueError:
            continue
        if meta.startswith("160000"):
            submodules.append(relative)
        else:
            tracked.add(relative)
    # A submodule's files are its own repository's; its state shows in `git status`.
    return {p for p in sent - tracked
            if not any(p == s or p.startswith(s + "/") for s in submodules)}


def _dockerignore(context: Path) -> list[str]:
    """The patterns as the docker SDK reads them for a build (comments and blanks dropped)."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = path.read_text(errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
