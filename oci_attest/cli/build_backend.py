"""``attest build --backend`` and ``--secret``: choosing the builder and checking, before
anything runs, that it can build this Dockerfile with these secrets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from oci_attest.build.buildah import validate_secret_id
from oci_attest.build.select import BACKENDS, check_dockerfile, choose_backend
from oci_attest.errors import InputError, UsageError
from oci_attest.pipeline import BuildOptions, validate_options

F = TypeVar("F", bound=Callable[..., Any])


def backend_option(function: F) -> F:
    return click.option(
        "--backend", type=click.Choice(list(BACKENDS)), default=None,
        help="docker: the engine's classic builder (no RUN --mount, no secrets). buildah: "
             "daemonless, RUN --mount cache/secret/bind, --secret. Default: docker when an "
             "engine answers, else buildah.")(function)


def secret_option(function: F) -> F:
    return click.option(
        "--secret", "secrets", multiple=True, metavar="id=ID,src=FILE",
        help="Build secret for RUN --mount=type=secret,id=ID (buildah backend; repeatable). "
             "The provenance records the id only; the value never enters a layer.")(function)


def parse_secret(text: str) -> tuple[str, str]:
    """``id=ID,src=FILE`` (``source=`` too) -> (id, absolute path of a readable file)."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in ("id", "src", "source", "type"):
            raise UsageError(f"--secret {text.split(',')[0][:40]}...: expected id=ID,src=FILE",
                             hint="e.g. --secret id=npmrc,src=$HOME/.npmrc")
        fields[key.strip()] = value.strip()
    if fields.get("type", "file") != "file":
        raise UsageError("--secret supports type=file only", hint="write the value to a file")
    source = fields.get("src") or fields.get("source")
    secret_id = fields.get("id") or (Path(source).name if source else "")
    if not source or not secret_id:
        raise UsageError("--secret needs id=ID and src=FILE",
                         hint="e.g. --secret id=npmrc,src=$HOME/.npmrc")
    path = Path(source).expanduser().resolve()
    if not path.is_file():
        raise InputError(f"--secret id={secret_id}: {source} is not a readable file",
                         hint="give the path of the file holding the secret")
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise InputError(f"--secret id={secret_id}: cannot read {source}: {error.strerror}",
                         hint="give the path of the file holding the secret") from None
    return validate_secret_id(secret_id), str(path)


def prepare_backend(options: BuildOptions, requested: str | None,
                    secrets: tuple[str, ...]) -> None:
    """Fill ``options.backend``/``options.secrets``, refusing what the backend cannot build."""
    validate_options(options)
    parsed = dict(parse_secret(s) for s in secrets)
    if parsed and requested is None:
        requested = "buildah"  # only buildah has build secrets
    name = choose_backend(requested)
    if parsed and name != "buildah":
        raise UsageError("--secret needs --backend buildah: the docker engine's classic "
                         "builder has no build secrets", hint="add --backend buildah")
    context = Path(options.context)
    dockerfile = Path(options.dockerfile) if options.dockerfile else context / "Dockerfile"
    check_dockerfile(name, dockerfile)
    options.backend = name
    options.secrets = parsed
