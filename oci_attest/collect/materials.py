"""Materials: every external image a Dockerfile pulls in, resolved to a digest before the build.

The recorded materials are only true if the build used exactly them. A tag resolved now and
pulled again by the engine a moment later can move in between, so the Dockerfile handed to the
engine is rewritten to ``name@sha256:...`` for every external image (``FROM``,
``COPY --from=<image>``, ``RUN --mount=from=<image>``); the user's file is left untouched and its
own digest is recorded.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser
from dockerfile_parse.parser import image_from
from dockerfile_parse.util import extract_key_values

from oci_attest.collect.bases import BaseImage
from oci_attest.collect.dockerfile_text import normalise_dockerfile
from oci_attest.collect.remote import RemoteFile, remote_inputs
from oci_attest.collect.words import expand_word
from oci_attest.errors import InputError
from oci_attest.reference import ImageReference, parse_reference

__all__ = ["BaseImage", "DockerfileFacts", "ExternalImage", "RemoteFile", "collect_materials",
           "parse_dockerfile", "pinned_dockerfile", "resolve_images"]

log = logging.getLogger(__name__)

MAX_DOCKERFILE_BYTES = 1024 * 1024
MAX_INSTRUCTIONS = 10_000
#: An ARG value longer than this after expansion is refused: ``ARG B=$A$A`` repeated doubles
#: at every line, and thirty such lines would ask for gigabytes.
MAX_ARG_BYTES = 64 * 1024
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(:[-+][^}]*)?\}?")
_FROM_FLAG = re.compile(r"--from=(\"[^\"]*\"|'[^']*'|\S+)")
_PLATFORM_FLAG = re.compile(r"--platform=(\S+)")


@dataclass(frozen=True)
class ExternalImage:
    """One external image use. ``resolved`` carries the digest the build used."""

    written: str
    raw: str
    reference: ImageReference
    instruction: str
    line: int
    stage: str | None = None
    resolved: ImageReference | None = None
    #: The ``--platform=`` of a ``FROM``, expanded; None means the engine's own platform.
    platform: str | None = None
    #: The ONBUILD trigger (and its base) that brought this image in; None for the Dockerfile.
    via: str | None = None
    #: For a base from a multi-platform index: the platform manifest the engine builds from.
    manifest: str | None = None


@dataclass
class Stage:
    """One build stage: its name (or index) and what it starts from."""

    name: str
    base: str
    image: ExternalImage | None = None


@dataclass
class DockerfileFacts:
    """What the Dockerfile says, before resolution."""

    path: Path
    content: bytes
    sha256: str
    #: The normalised text (see dockerfile_text): what is parsed and what the engine builds.
    text: str = ""
    escape: str = "\\"
    images: list[ExternalImage] = field(default_factory=list)
    remote_files: list[RemoteFile] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    stage_list: list[Stage] = field(default_factory=list)
    heredocs: bool = False
    #: Base images as the engine sees them, by ``str(reference)`` (set by collect_materials).
    bases: dict[str, BaseImage] = field(default_factory=dict)
    #: ONBUILD triggers of the bases that run in this build: base, trigger, FROM line.
    onbuild: list[dict[str, Any]] = field(default_factory=list)

    def final_stage(self, target: str | None) -> Stage | None:
        """The stage whose result is the image, followed through ``FROM <stage>``."""
        if not self.stage_list:
            return None
        stage = self.stage_list[-1]
        if target:
            named = [s for s in self.stage_list if s.name == target.lower()]
            if not named:
                raise InputError(f"--target {target} names no stage of the Dockerfile",
                                 hint=f"stages: {', '.join(self.stages)}")
            stage = named[0]
        seen = 0
        while stage.image is None and seen <= len(self.stage_list):
            parent = [s for s in self.stage_list if s.name == stage.base.lower()]
            if not parent:
                break
            stage, seen = parent[0], seen + 1
        return stage


Resolver = Callable[[ImageReference], ImageReference]
#: Reads a (resolved) base image for a platform (None: the engine's own).
Inspector = Callable[[ExternalImage], BaseImage]


def read_dockerfile(path: Path) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InputError(f"cannot read Dockerfile {path}: {error.strerror}",
                         hint="pass the right path with -f/--file") from None
    if size > MAX_DOCKERFILE_BYTES:
        raise InputError(f"Dockerfile {path} is {size} bytes, more than the "
                         f"{MAX_DOCKERFILE_BYTES} allowed", hint="is -f pointing at a Dockerfile?")
    return path.read_bytes()


def parse_dockerfile(path: Path, build_args: Mapping[str, str],
                     bases: Mapping[str, BaseImage] | None = None) -> DockerfileFacts:
    """Find stages, external images and remote inputs, with ARG defaults, ``--build-arg`` and
    ENV applied. With ``bases`` (read from the registry), each base's ENV is applied and its
    ONBUILD triggers are read as if written right after its ``FROM``."""
    content = read_dockerfile(path)
    normal = normalise_dockerfile(content, path)
    text = normal.text
    facts = DockerfileFacts(path=path, content=content, text=text, escape=normal.escape,
                            sha256=hashlib.sha256(content).hexdigest())
    if any(_heredoc_words(line) for line in text.split("\n")):
        facts.heredocs = True
        _check_heredocs(path, text)
    structure = _structure(facts)
    if len(structure) > MAX_INSTRUCTIONS:
        raise InputError(f"Dockerfile {path} has {len(structure)} instructions, more than "
                         f"{MAX_INSTRUCTIONS}")
    walk = _Walk(facts, build_args, bases or {})
    for instruction in structure:
        walk.instruction(str(instruction["instruction"]).upper(), str(instruction["value"]),
                         int(instruction["startline"]) + 1)
    return facts


def collect_materials(path: Path, build_args: Mapping[str, str], resolve: Resolver,
                      inspect: Inspector) -> DockerfileFacts:
    """Parse, resolve every image, read the bases, then parse again with the bases' ENV and
    ONBUILD triggers applied (which can name more images and downloads)."""
    first = parse_dockerfile(path, build_args)
    resolve_images(first, resolve)
    bases = {str(i.reference): inspect(i) for i in first.images if i.instruction == "FROM"}
    facts = parse_dockerfile(path, build_args, bases)
    resolve_images(facts, resolve)
    for image in facts.images:  # COPY --from / RUN --mount images: their platform manifest
        if str(image.reference) not in bases:
            bases[str(image.reference)] = inspect(image)
    facts.bases = bases
    facts.images = [_with_base(i, bases.get(str(i.reference))) for i in facts.images]
    by_line = {i.line: i for i in facts.images if i.instruction == "FROM" and i.via is None}
    for stage in facts.stage_list:
        if stage.image is not None:
            stage.image = by_line[stage.image.line]
    return facts


def _with_base(image: ExternalImage, base: BaseImage | None) -> ExternalImage:
    if base is None:
        return image
    return replace(image, platform=base.platform,
                   manifest=base.manifest if base.from_index else None)


def _structure(facts: DockerfileFacts) -> list[dict[str, Any]]:
    try:
        parser = DockerfileParser(fileobj=io.BytesIO(facts.text.encode("utf-8")),
                                  env_replace=False)
        structure: list[dict[str, Any]] = parser.structure
    except (ValueError, IndexError, RecursionError) as error:
        raise InputError(f"cannot parse Dockerfile {facts.path}: {error}",
                         hint="check its syntax with `docker build`") from None
    return structure


class _Walk:
    """The instructions in order, with the ARG and ENV values in force at each."""

    def __init__(self, facts: DockerfileFacts, build_args: Mapping[str, str],
                 bases: Mapping[str, BaseImage]) -> None:
        self.facts = facts
        self.build_args = build_args
        self.bases = bases
        self.top_args: dict[str, str] = {}
        self.stage_args: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.stage_env: dict[str, dict[str, str]] = {}
        self.in_stage = False

    def variables(self) -> dict[str, str]:
        return {**self.top_args, **self.stage_args, **self.env}

    def instruction(self, name: str, value: str, line: int, via: str | None = None) -> None:
        facts = self.facts
        if name == "ARG":
            self._arg(value, line)
        elif name == "ENV":
            for key, val in _pairs(value, self.variables(), "ENV"):
                self.env[key] = val
        elif name == "FROM" and via is None:
            self._from(value, line)
        elif name in ("COPY", "ADD"):
            flag = _FROM_FLAG.search(value)
            if flag:
                _maybe_image(facts, flag.group(1), self.variables(),
                             f"{'ONBUILD ' if via else ''}{name} --from", line, via=via)
            if name == "ADD":
                facts.remote_files.extend(remote_inputs(value, line, self._expand, via))
        elif name == "RUN":
            for mount in re.findall(r"--mount=(\S+)", value):
                options = dict(p.split("=", 1) for p in mount.split(",") if "=" in p)
                if "from" in options:
                    _maybe_image(facts, options["from"], self.variables(),
                                 f"{'ONBUILD ' if via else ''}RUN --mount from", line, via=via)
        elif via is not None and name in ("FROM", "ONBUILD", "MAINTAINER"):
            raise InputError(f"{via}: {name} is not allowed in an ONBUILD trigger")

    def _expand(self, word: str) -> str:
        try:
            return expand_word(word, self.variables(), self.facts.escape)
        except RecursionError:
            raise InputError(f"cannot expand {word[:80]!r} in the Dockerfile") from None

    def _arg(self, value: str, line: int) -> None:
        target = self.stage_args if self.in_stage else self.top_args
        for key, default in _pairs(value, {**self.top_args, **self.stage_args}, "ARG"):
            if len(default) > MAX_ARG_BYTES:
                raise InputError(f"Dockerfile {self.facts.path} line {line}: ARG {key[:40]} "
                                 f"expands to more than {MAX_ARG_BYTES} bytes",
                                 hint="is an ARG defined in terms of itself?")
            if key in self.build_args:
                target[key] = self.build_args[key]
            elif self.in_stage and key in self.top_args:
                target[key] = self.top_args[key]  # a re-declared global keeps its value
            else:
                target[key] = default

    def _from(self, value: str, line: int) -> None:
        facts = self.facts
        if self.in_stage and facts.stage_list:
            self.stage_env[facts.stage_list[-1].name] = dict(self.env)
        self.in_stage = True
        self.stage_args = {}
        image, stage = image_from(value)
        words = [w for w in value.split() if not w.startswith("--")]
        if words and (len(words) not in (1, 3) or (len(words) == 3
                                                   and words[1].lower() != "as")):
            raise InputError(f"Dockerfile {facts.path} line {line}: FROM takes "
                             "[--platform=...] IMAGE [AS NAME]",
                             hint="the engine would refuse it too; fix the line")
        if image is None:
            raise InputError(f"Dockerfile {facts.path} line {line}: FROM without an image",
                             hint="write FROM IMAGE[:TAG] [AS NAME]")
        platform = _PLATFORM_FLAG.search(value.split(image, 1)[0])
        before = len(facts.images)
        _maybe_image(facts, image, self.top_args, "FROM", line, stage,
                     platform=_expand(platform.group(1), self.top_args) if platform else None)
        written = _expand(image, self.top_args).lower()
        external = facts.images[before] if len(facts.images) > before else None
        name = (stage or str(len(facts.stages))).lower()
        facts.stages.append(name)
        facts.stage_list.append(Stage(name=name, base=written, image=external))
        self.env = dict(self.stage_env.get(written, {}))
        base = self.bases.get(str(external.reference)) if external else None
        if external is None or base is None:
            return
        self.env = dict(base.env)
        for trigger in base.onbuild:
            via = f"ONBUILD {trigger.strip()[:120]} (of base {external.written})"
            facts.onbuild.append({"base": external.written, "trigger": trigger, "line": line})
            instruction, _, rest = trigger.strip().partition(" ")
            self.instruction(instruction.upper(), rest.strip(), line, via=via)


def _check_heredocs(path: Path, text: str) -> None:
    """Refuse an unterminated heredoc rather than silently mis-parsing the rest of the file."""
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        opened = _heredoc_words(lines[index])
        index += 1
        for dash, word in opened:
            while index < len(lines) and (lines[index].strip() if dash else lines[index]) != word:
                index += 1
            if index >= len(lines):
                raise InputError(f"Dockerfile {path}: heredoc <<{word} is never terminated",
                                 hint=f"end it with a line containing only {word}")
            index += 1


_HEREDOC_INSTRUCTION = re.compile(r"^\s*(?:RUN|COPY|ADD)\s", re.IGNORECASE)
_HEREDOC = re.compile(r"(?<!<)<<(-?)[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?(?=\s|$)")


def _heredoc_words(line: str) -> list[tuple[str, str]]:
    """``(dash, word)`` for each heredoc a RUN/COPY/ADD line opens (``COPY <<EOF /dst`` too;
    a shell here-string ``<<<`` is not one)."""
    if not _HEREDOC_INSTRUCTION.match(line):
        return []
    return [(m.group(1), m.group(2)) for m in _HEREDOC.finditer(line)]


def _pairs(value: str, known: Mapping[str, str], what: str) -> list[tuple[str, str]]:
    try:
        pairs = extract_key_values(env_replace=True, args=dict(known), envs={},
                                   instruction_value=value)
    except (ValueError, IndexError, RecursionError):
        raise InputError(f"malformed {what} instruction: {value[:80]!r}") from None
    return [(str(k), str(v) if v is not None else "") for k, v in pairs]


def _expand(word: str, args: Mapping[str, str]) -> str:
    try:
        return expand_word(word, args)
    except RecursionError:
        raise InputError(f"cannot expand {word[:80]!r} in the Dockerfile") from None


def _maybe_image(facts: DockerfileFacts, raw: str, args: Mapping[str, str], instruction: str,
                 line: int, stage: str | None = None, *, platform: str | None = None,
                 via: str | None = None) -> None:
    undefined = [name for name, default in _VARIABLE.findall(raw)
                 if name not in args and not default]
    if undefined:
        raise InputError(f"Dockerfile {facts.path} line {line}: image {raw!r} uses an ARG with "
                         f"no value ({', '.join(undefined)})",
                         hint="give it a default or pass --build-arg")
    written = _expand(raw, args)
    lowered = written.lower()
    # A stage index is a --from form only: ``FROM 0`` is an image called 0 to the engine.
    if written.isdigit():
        if instruction != "FROM":
            return  # a stage index
    elif lowered == "scratch" or lowered in facts.stages:
        return
    try:
        reference = parse_reference(written)
    except InputError as error:
        raise InputError(f"Dockerfile {facts.path} line {line}: {error.message}",
                         hint=error.hint) from None
    if via is not None and reference.digest is None:
        raise InputError(f"{via} names image {written} by tag; the engine would resolve it at "
                         "build time, unpinned and unrecorded",
                         hint="rebuild the base with the trigger's image pinned by digest "
                              "(name@sha256:...), or build from a base without ONBUILD")
    facts.images.append(ExternalImage(written=written, raw=raw, reference=reference,
                                      instruction=instruction, line=line, stage=stage,
                                      platform=platform, via=via))


def resolve_images(facts: DockerfileFacts, resolve: Resolver) -> list[ExternalImage]:
    """Resolve every distinct external image once; images already pinned are verified too."""
    cache: dict[str, ImageReference] = {}
    resolved = []
    for image in facts.images:
        key = str(image.reference)
        if key not in cache:
            cache[key] = resolve(image.reference)
        resolved.append(replace(image, resolved=cache[key]))
    facts.images = resolved
    return resolved


def pinned_dockerfile(facts: DockerfileFacts) -> bytes:
    """The normalised Dockerfile with each external image replaced by its resolved
    ``name@digest``. A ``FROM`` is rewritten as one line (blank lines keep the numbering), so
    that no continuation or comment can hide its image from the check after the build."""
    lines = [line + "\n" for line in facts.text.split("\n")]
    if facts.text.endswith("\n"):
        lines.pop()
    by_line: dict[int, list[ExternalImage]] = {}
    for image in facts.images:
        if image.via is None:
            by_line.setdefault(image.line, []).append(image)
    for instruction in reversed(_structure(facts)):
        line = int(instruction["startline"]) + 1
        uses = by_line.get(line)
        if not uses:
            continue
        start, end = int(instruction["startline"]), int(instruction["endline"])
        if str(instruction["instruction"]).upper() == "FROM":
            assert uses[0].resolved is not None
            content = _pinned_from(str(instruction["value"]), uses[0].resolved.pinned(), line)
            lines[start:end + 1] = [content + "\n"] + ["\n"] * (end - start)
            continue
        content = "".join(lines[start:end + 1])
        for use in uses:
            assert use.resolved is not None
            content = _replace_use(content, use, use.resolved.pinned())
        lines[start:end + 1] = [content if content.endswith("\n") else content + "\n"]
    return "".join(lines).encode("utf-8")


def _pinned_from(value: str, pinned: str, line: int) -> str:
    words = value.split()
    flags = []
    while words and words[0].startswith("--"):
        flags.append(words.pop(0))
    if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
        raise InputError(f"the FROM on line {line} is not FROM [--platform=...] IMAGE [AS NAME]",
                         hint="the engine would refuse it too; fix the line")
    return " ".join(["FROM", *flags, pinned, *words[1:]])


def _replace_use(content: str, use: ExternalImage, pinned: str) -> str:
    if use.instruction.endswith("--from"):
        return content.replace(f"--from={use.raw}", f"--from={pinned}", 1)
    return re.sub(r"(--mount=\S*?\bfrom=)" + re.escape(use.raw) + r"(?=[,\s])",
                  lambda m: m.group(1) + pinned, content, count=1)
