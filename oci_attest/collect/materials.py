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
from dockerfile_parse.util import WordSplitter, extract_key_values

from oci_attest.errors import InputError
from oci_attest.reference import ImageReference, parse_reference

log = logging.getLogger(__name__)

MAX_DOCKERFILE_BYTES = 1024 * 1024
MAX_INSTRUCTIONS = 10_000
#: An ARG value longer than this after expansion is refused: ``ARG B=$A$A`` repeated doubles
#: at every line, and thirty such lines would ask for gigabytes.
MAX_ARG_BYTES = 64 * 1024
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(:[-+][^}]*)?\}?")
_FROM_FLAG = re.compile(r"--from=(\"[^\"]*\"|'[^']*'|\S+)")


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


@dataclass(frozen=True)
class RemoteFile:
    """``ADD <url>``: recorded, with its checksum when the Dockerfile pins one."""

    url: str
    line: int
    digest: str | None = None


@dataclass
class DockerfileFacts:
    """What the Dockerfile says, before resolution."""

    path: Path
    content: bytes
    sha256: str
    images: list[ExternalImage] = field(default_factory=list)
    remote_files: list[RemoteFile] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    heredocs: bool = False


Resolver = Callable[[ImageReference], ImageReference]


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


def parse_dockerfile(path: Path, build_args: Mapping[str, str]) -> DockerfileFacts:
    """Find stages and external images, with ARG defaults and ``--build-arg`` applied."""
    content = read_dockerfile(path)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"Dockerfile {path} is not UTF-8 text",
                         hint="is -f pointing at a Dockerfile?") from None
    facts = DockerfileFacts(path=path, content=content,
                            sha256=hashlib.sha256(content).hexdigest())
    if any(_heredoc_words(line) for line in text.splitlines()):
        facts.heredocs = True
        _check_heredocs(path, text)
    try:
        parser = DockerfileParser(fileobj=io.BytesIO(content), build_args=dict(build_args),
                                  env_replace=False)
        structure: list[dict[str, Any]] = parser.structure
    except (ValueError, IndexError, RecursionError) as error:
        raise InputError(f"cannot parse Dockerfile {path}: {error}",
                         hint="check its syntax with `docker build`") from None
    if len(structure) > MAX_INSTRUCTIONS:
        raise InputError(f"Dockerfile {path} has {len(structure)} instructions, more than "
                         f"{MAX_INSTRUCTIONS}")
    top_args: dict[str, str] = {}
    stage_args: dict[str, str] = {}
    in_stage = False
    for instruction in structure:
        name = str(instruction["instruction"]).upper()
        value = str(instruction["value"])
        line = int(instruction["startline"]) + 1
        if name == "ARG":
            target = stage_args if in_stage else top_args
            for key, default in _arg_pairs(value, {**top_args, **stage_args}):
                if len(default) > MAX_ARG_BYTES:
                    raise InputError(f"Dockerfile {path} line {line}: ARG {key[:40]} expands to "
                                     f"more than {MAX_ARG_BYTES} bytes",
                                     hint="is an ARG defined in terms of itself?")
                if key in build_args:
                    target[key] = build_args[key]
                elif in_stage and key in top_args:
                    target[key] = top_args[key]  # a re-declared global keeps its value
                else:
                    target[key] = default
        elif name == "FROM":
            in_stage = True
            stage_args = {}
            _from(facts, value, line, top_args)
        elif name in ("COPY", "ADD"):
            flag = _FROM_FLAG.search(value)
            if flag:
                _maybe_image(facts, flag.group(1), {**top_args, **stage_args},
                             f"{name} --from", line)
            if name == "ADD":
                _remote_files(facts, value, line)
        elif name == "RUN":
            for mount in re.findall(r"--mount=(\S+)", value):
                options = dict(p.split("=", 1) for p in mount.split(",") if "=" in p)
                if "from" in options:
                    _maybe_image(facts, options["from"], {**top_args, **stage_args},
                                 "RUN --mount from", line)
    return facts


def _check_heredocs(path: Path, text: str) -> None:
    """Refuse an unterminated heredoc rather than silently mis-parsing the rest of the file."""
    lines = text.splitlines()
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


def _arg_pairs(value: str, known: Mapping[str, str]) -> list[tuple[str, str]]:
    try:
        pairs = extract_key_values(env_replace=True, args=dict(known), envs={},
                                   instruction_value=value)
    except (ValueError, IndexError, RecursionError):
        raise InputError(f"malformed ARG instruction: {value[:80]!r}") from None
    return [(str(k), str(v) if v is not None else "") for k, v in pairs]


def _expand(word: str, args: Mapping[str, str]) -> str:
    try:
        return str(WordSplitter(word, args=dict(args)).dequote())
    except (ValueError, IndexError, RecursionError):
        raise InputError(f"cannot expand {word[:80]!r} in the Dockerfile") from None


def _from(facts: DockerfileFacts, value: str, line: int, args: Mapping[str, str]) -> None:
    image, stage = image_from(value)
    if image is None:
        raise InputError(f"Dockerfile {facts.path} line {line}: FROM without an image",
                         hint="write FROM IMAGE[:TAG] [AS NAME]")
    _maybe_image(facts, image, args, "FROM", line, stage)
    facts.stages.append((stage or str(len(facts.stages))).lower())


def _maybe_image(facts: DockerfileFacts, raw: str, args: Mapping[str, str], instruction: str,
                 line: int, stage: str | None = None) -> None:
    undefined = [name for name, default in _VARIABLE.findall(raw)
                 if name not in args and not default]
    if undefined:
        raise InputError(f"Dockerfile {facts.path} line {line}: image {raw!r} uses an ARG with "
                         f"no value ({', '.join(undefined)})",
                         hint="give it a default or pass --build-arg")
    written = _expand(raw, args)
    lowered = written.lower()
    if lowered == "scratch" or lowered in facts.stages or written.isdigit():
        return
    try:
        reference = parse_reference(written)
    except InputError as error:
        raise InputError(f"Dockerfile {facts.path} line {line}: {error.message}",
                         hint=error.hint) from None
    facts.images.append(ExternalImage(written=written, raw=raw, reference=reference,
                                      instruction=instruction, line=line, stage=stage))


def _remote_files(facts: DockerfileFacts, value: str, line: int) -> None:
    checksum = re.search(r"--checksum=(sha256:[0-9a-f]{64})", value)
    for word in value.split():
        if re.match(r"^https?://", word):
            facts.remote_files.append(RemoteFile(url=word, line=line,
                                                 digest=checksum.group(1) if checksum else None))


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
    """The Dockerfile with each external image replaced by its resolved ``name@digest``."""
    lines = facts.content.decode("utf-8").splitlines(keepends=True)
    by_line: dict[int, list[ExternalImage]] = {}
    for image in facts.images:
        by_line.setdefault(image.line, []).append(image)
    structure = DockerfileParser(fileobj=io.BytesIO(facts.content), env_replace=False).structure
    for instruction in reversed(structure):
        line = int(instruction["startline"]) + 1
        uses = by_line.get(line)
        if not uses:
            continue
        start, end = int(instruction["startline"]), int(instruction["endline"])
        content = "".join(lines[start:end + 1])
        for use in uses:
            assert use.resolved is not None
            content = _replace_use(content, use, use.resolved.pinned())
        lines[start:end + 1] = [content if content.endswith("\n") else content + "\n"]
    return "".join(lines).encode("utf-8")


def _replace_use(content: str, use: ExternalImage, pinned: str) -> str:
    if use.instruction == "FROM":
        # Between words: blanks or a line continuation (FROM \<newline> image is valid).
        gap = r"(?:\s|\\\r?\n)+"
        match = re.match(rf"(?is)^(\s*FROM{gap}(?:--platform=\S+{gap})?)(\S+)(.*)$", content)
        if not match:
            raise InputError(f"cannot pin the FROM on line {use.line}")
        return match.group(1) + pinned + match.group(3)
    if use.instruction.endswith("--from"):
        return content.replace(f"--from={use.raw}", f"--from={pinned}", 1)
    return re.sub(r"(--mount=\S*?\bfrom=)" + re.escape(use.raw) + r"(?=[,\s])",
                  lambda m: m.group(1) + pinned, content, count=1)
