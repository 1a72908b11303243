"""The check after the build: what was built is what is recorded, judged without the parser.

Pinning rewrites the Dockerfile using ``dockerfile_parse``'s reading of it; if that reading
ever differs from the engine's, an image reference stays a tag and the engine builds from
whatever the tag means locally. So two facts are checked that do not depend on that parser:

1. every physical line of the pinned Dockerfile that starts with ``FROM``, and every
   ``--from=`` / ``--mount=...,from=`` anywhere in it, names ``name@sha256:<hex>``, a stage
   declared with ``AS``, a stage index or ``scratch`` (a line the engine reads as a
   continuation is checked too: too strict, never too lax);
2. the built image's layer list (``rootfs.diff_ids``, read from the engine) begins with exactly
   the layers of the recorded final-stage base, read from the registry by digest.

A mismatch is :class:`BuildMismatch` (exit 4) and the run stops before push and signing.
"""

from __future__ import annotations

import re

from oci_attest.errors import BuildFailed

_PINNED = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9._-]*$")
_FROM_LINE = re.compile(r"^[ \t]*from(?:[ \t]|$)", re.IGNORECASE)
_AS = re.compile(r"[ \t]as[ \t]+(\S+)", re.IGNORECASE)
_FROM_FLAG = re.compile(r"--from=(\S*)", re.IGNORECASE)
_MOUNT = re.compile(r"--mount=(\S*)", re.IGNORECASE)
_ONBUILD_LINE = re.compile(r"^[ \t]*onbuild[ \t]", re.IGNORECASE)


class BuildMismatch(BuildFailed):
    """The built image or the Dockerfile handed to the engine differs from the record."""

    kind = "build does not match its record"


def unpinned_references(pinned: str) -> list[str]:
    """``line N: <word>`` for every image reference the engine could resolve by tag."""
    lines = pinned.split("\n")
    stages = set()
    for line in lines:
        if _FROM_LINE.match(line):
            named = _AS.search(line)
            if named and _STAGE_NAME.match(named.group(1).lower()):
                stages.add(named.group(1).lower())
    problems = []

    def allowed(word: str, numbers: bool) -> bool:
        word = word.strip("\"'")
        return bool(_PINNED.match(word) or word.lower() == "scratch" or word.lower() in stages
                    or (numbers and word.isdigit()))

    for number, line in enumerate(lines, start=1):
        if _FROM_LINE.match(line):
            words = [w for w in line.split()[1:] if not w.startswith("--")]
            if not words or not allowed(words[0], numbers=False):
                problems.append(f"line {number}: FROM {' '.join(words[:1]) or '(no image)'}")
        if _ONBUILD_LINE.match(line):
            continue  # a trigger for images built FROM this one, not run in this build
        for word in _FROM_FLAG.findall(line):
            if not allowed(word, numbers=True):
                problems.append(f"line {number}: --from={word}")
        for mount in _MOUNT.findall(line):
            for option in mount.split(","):
                key, _, value = option.partition("=")
                if key.strip("\"'").lower() == "from" and not allowed(value, numbers=True):
                    problems.append(f"line {number}: --mount from={value}")
    return problems


def check_pinned(pinned: str) -> None:
    problems = unpinned_references(pinned)
    if problems:
        raise BuildMismatch(
            "the Dockerfile handed to the engine names images that are not pinned to a "
            f"digest ({'; '.join(problems[:5])}); attest's parser and the engine read it "
            "differently", hint="simplify the lines named (one instruction per line, no "
                                "continuation inside FROM), then rerun")


def check_base_layers(built: list[str], base: list[str], base_name: str) -> None:
    """The built image must start with exactly the recorded base's layers."""
    if built[:len(base)] != base:
        first = next((i for i, (a, b) in enumerate(zip(built, base, strict=False)) if a != b),
                     min(len(built), len(base)))
        raise BuildMismatch(
            f"the built image does not start with the layers of the recorded base {base_name} "
            f"(layer {first + 1} of {len(base)} differs); the engine built from something "
            "else", hint="nothing was pushed or signed; check for a local image shadowing the "
                         "base and rerun with --pull")
