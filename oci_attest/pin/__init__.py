"""``attest pin``: rewrite image references to ``name:tag@sha256:…`` in place, or check them.

The steps are: find every reference in every file (``dockerfile.py``, ``manifests.py``), ask
the registries what each tag points at (``resolve.py``), optionally judge the evidence of each
digest with the ``attest verify`` engine, then splice the new text into the original files
(``sites.py``). Nothing is written until every lookup has succeeded, and each file is replaced
atomically, so an interrupted run leaves every file either as it was or fully pinned.

The tag stays in the reference for people (``app:1.4@sha256:…``); the digest is what the engine
pulls. An existing pin is never changed silently: ``--check`` reports a digest that no longer
matches its tag as stale, and only ``--update`` moves it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from oci_attest.errors import InputError
from oci_attest.pin.files import PinFile, load_files, write_atomically
from oci_attest.pin.resolve import Lookup, RegistryResolver, resolve_all
from oci_attest.pin.sites import Site, Skipped, splice, with_digest_text
from oci_attest.reference import ImageReference, parse_reference


class Mode(StrEnum):
    PIN = "pin"        # pin what is unpinned; leave existing pins alone (no lookup for them)
    CHECK = "check"    # change nothing; report unpinned and stale references
    UPDATE = "update"  # pin what is unpinned and move existing pins to the tag's digest


class Status(StrEnum):
    PINNED = "pinned"            # newly pinned (or, in check mode, would be)
    UPDATED = "updated"          # an existing pin moved to the tag's current digest
    UP_TO_DATE = "up-to-date"    # already pinned to what the tag points at (or untagged pin)
    KEPT = "kept"                # already pinned; not looked up (plain pin mode)
    UNPINNED = "unpinned"        # check mode: no digest
    STALE = "stale"              # check mode: the digest no longer matches the tag
    REFUSED = "refused"          # --verify: the evidence for the digest did not pass


#: Statuses that make ``--check`` (or a refusal) exit 1.
PROBLEMS = frozenset({Status.UNPINNED, Status.STALE, Status.REFUSED})

#: A verifier: given ``name@sha256:…``, None when its evidence passes, else the reason.
Verifier = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Outcome:
    site: Site
    status: Status
    after: str | None = None  # the new text, when the reference changes (or would)
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.site.path, "line": self.site.line, "kind": self.site.kind.value,
                "context": self.site.context, "before": self.site.text,
                "after": self.after or self.site.text, "status": self.status.value,
                "reason": self.reason}


@dataclass
class PinRun:
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    stdin_output: str | None = None

    @property
    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in PROBLEMS]

    def to_json(self) -> dict[str, Any]:
        return {"references": [o.to_json() for o in self.outcomes],
                "skipped": [{"file": s.path, "line": s.line, "text": s.text, "reason": s.reason}
                            for s in self.skipped],
                "changedFiles": self.changed_files,
                "problems": len(self.problems)}


def pin(paths: Sequence[str], *, mode: Mode = Mode.PIN, platform: str | None = None,
        verifier: Verifier | None = None, stdin_text: str | None = None,
        resolver: Callable[[Lookup], str] | None = None) -> PinRun:
    """Find, resolve, judge, rewrite. Raises before writing anything if a lookup fails."""
    files = load_files(paths, stdin_text=stdin_text)
    run = PinRun()
    parsed: dict[Site, ImageReference] = {}
    for pin_file in files:
        run.skipped.extend(pin_file.skipped)
        for site in pin_file.sites:
            parsed[site] = _parse(site)
    wanted = [(Lookup(replace(ref, digest=None), platform), site) for site, ref in parsed.items()
              if _needs_lookup(ref, mode)]
    digests = resolve_all(wanted, resolver or RegistryResolver())
    verdicts: dict[str, str | None] = {}
    for pin_file in files:
        edits: list[tuple[Site, str]] = []
        for site in pin_file.sites:
            ref = parsed[site]
            current = (digests.get(Lookup(replace(ref, digest=None), platform))
                       if _needs_lookup(ref, mode) else None)
            outcome = _judge_site(site, ref, current, mode)
            if verifier is not None and outcome.after is not None:
                target = parse_reference(outcome.after).pinned()
                if target not in verdicts:
                    verdicts[target] = verifier(target)
                if verdicts[target] is not None:
                    outcome = Outcome(site, Status.REFUSED, reason=verdicts[target])
            run.outcomes.append(outcome)
            if mode is not Mode.CHECK and outcome.status in (Status.PINNED, Status.UPDATED):
                assert outcome.after is not None
                edits.append((site, outcome.after))
        if edits:
            _apply(pin_file, edits, run)
    return run


def _parse(site: Site) -> ImageReference:
    try:
        return parse_reference(site.text, default_tag=None)
    except InputError as error:
        raise InputError(f"{site.path}:{site.line}: {error.message}",
                         hint=error.hint) from None


def _needs_lookup(ref: ImageReference, mode: Mode) -> bool:
    if ref.digest is None:
        return True
    return mode is not Mode.PIN and ref.tag is not None


def _judge_site(site: Site, ref: ImageReference, current: str | None, mode: Mode) -> Outcome:
    if ref.digest is None:
        assert current is not None
        after = with_digest_text(site.text, current, add_latest=ref.tag is None)
        return Outcome(site, Status.UNPINNED if mode is Mode.CHECK else Status.PINNED, after)
    if current is None:
        return Outcome(site, Status.KEPT if mode is Mode.PIN else Status.UP_TO_DATE,
                       reason=None if ref.tag else "pinned without a tag: nothing to compare")
    if current == ref.digest:
        return Outcome(site, Status.UP_TO_DATE)
    after = with_digest_text(site.text, current, add_latest=False)
    if mode is Mode.CHECK:
        return Outcome(site, Status.STALE, after,
                       reason=f"tag {ref.tag} now points at {current}")
    return Outcome(site, Status.UPDATED, after)




def _apply(pin_file: PinFile, edits: list[tuple[Site, str]], run: PinRun) -> None:
    content = splice(pin_file.content, edits)
    if pin_file.is_stdin:
        run.stdin_output = content
        return
    write_atomically(pin_file.path, content)
    run.changed_files.append(pin_file.display)


__all__ = ["Mode", "Outcome", "PinRun", "Status", "Verifier", "pin"]
