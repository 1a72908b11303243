"""What a Dockerfile asks of its builder, found before anything runs.

The docker engine's classic builder fails on BuildKit syntax only when it reaches the line,
after pulls and earlier steps have run, and with a message that does not say which builder
would work. Reading the Dockerfile first lets ``attest build`` refuse at once, naming the line
and the backend that can build it, and lets the provenance record which build secrets a RUN
mounted (by id: the value never leaves the secret file).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from oci_attest.errors import InputError

_RUN_FLAG = re.compile(r"^\s*--(mount|network|security)=(\S+)")
_COPY_FLAG = re.compile(r"(?:^|\s)--(chmod|link|parents|exclude|checksum|keep-git-dir)\b")
#: COPY/ADD flags of BuildKit's syntax that buildah 1.28 also builds (measured).
_BUILDAH_COPY_FLAGS = frozenset({"chmod"})
_HEREDOC = re.compile(r"(?<!<)<<-?[\"']?[A-Za-z_][A-Za-z0-9_]*[\"']?(?=\s|$)")


@dataclass(frozen=True)
class Feature:
    """One use of builder syntax the classic builder lacks."""

    line: int
    what: str
    #: True when buildah (the Debian 12 version) builds it.
    buildah: bool


@dataclass(frozen=True)
class SecretMount:
    """``RUN --mount=type=secret``: the id (BuildKit's default: the target's file name)."""

    id: str
    line: int


def _structure(content: bytes) -> list[dict[str, Any]]:
    try:
        return list(DockerfileParser(fileobj=io.BytesIO(content), env_replace=False).structure)
    except (ValueError, IndexError, RecursionError) as error:
        raise InputError(f"cannot parse the Dockerfile: {error}") from None


def _mount_options(spec: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        options[key.strip().lower()] = value.strip() if sep else "true"
    return options


def buildkit_features(content: bytes) -> list[Feature]:
    """Every instruction that needs more than the classic builder, in file order."""
    found: list[Feature] = []
    for instruction in _structure(content):
        name = str(instruction["instruction"]).upper()
        value = str(instruction["value"])
        line = int(instruction["startline"]) + 1
        if name == "RUN":
            rest = value
            while match := _RUN_FLAG.match(rest):
                kind, spec = match.group(1), match.group(2)
                if kind == "mount":
                    mount_type = _mount_options(spec).get("type", "bind")
                    found.append(Feature(line, f"RUN --mount=type={mount_type}", True))
                else:
                    found.append(Feature(line, f"RUN --{kind}", False))
                rest = rest[match.end():]
        if name in ("RUN", "COPY", "ADD") and _HEREDOC.search(value):
            found.append(Feature(line, f"{name} heredoc (<<EOF)", False))
        if name in ("COPY", "ADD"):
            for flag in _COPY_FLAG.findall(value):
                found.append(Feature(line, f"{name} --{flag}", flag in _BUILDAH_COPY_FLAGS))
    return found


def secret_mounts(content: bytes) -> list[SecretMount]:
    mounts: list[SecretMount] = []
    for instruction in _structure(content):
        if str(instruction["instruction"]).upper() != "RUN":
            continue
        for spec in re.findall(r"--mount=(\S+)", str(instruction["value"])):
            options = _mount_options(spec)
            if options.get("type") != "secret":
                continue
            secret_id = options.get("id") or Path(options.get("target") or
                                                  options.get("dst") or "").name
            if secret_id:
                mounts.append(SecretMount(secret_id, int(instruction["startline"]) + 1))
    return mounts


def check_classic_builder(path: Path, content: bytes) -> None:
    """Refuse, before anything runs, a Dockerfile the docker engine's classic builder cannot
    build; name the first line and what would build it."""
    features = buildkit_features(content)
    if not features:
        return
    first = features[0]
    if first.buildah:
        hint = "build it with --backend buildah (daemonless; RUN --mount cache, secret and bind)"
        others = [f for f in features if not f.buildah]
        if others:
            hint += f"; line {others[0].line} ({others[0].what}) needs rewriting for buildah too"
    else:
        hint = "neither backend here builds it (buildah 1.28 lacks it too): rewrite the line"
    raise InputError(f"Dockerfile {path} line {first.line}: {first.what} needs BuildKit, which "
                     "the docker engine's classic builder (--backend docker) does not have",
                     hint=hint)


def check_buildah(path: Path, content: bytes) -> None:
    """Refuse what buildah 1.28 cannot build, naming the line."""
    for feature in buildkit_features(content):
        if not feature.buildah:
            raise InputError(f"Dockerfile {path} line {feature.line}: {feature.what} is not "
                             "supported by buildah 1.28 (--backend buildah)",
                             hint="rewrite the line (e.g. a heredoc as RUN lines or a COPY'd "
                                  "script)")


def last_from_line(content: bytes) -> int | None:
    """The line of the last ``FROM``: the stage whose image is pushed (without --target)."""
    lines = [int(i["startline"]) + 1 for i in _structure(content)
             if str(i["instruction"]).upper() == "FROM"]
    return lines[-1] if lines else None
