"""Build and push through the docker engine's API with the docker SDK.

The engine's classic builder is what the SDK speaks (BuildKit needs a gRPC session the SDK
does not implement), so ``RUN --mount`` and heredocs need the buildx backend. The pushed
manifest digest is taken from the push stream's ``aux`` record: it is the digest of the bytes
the registry stored, which is what every statement's subject must be.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from oci_attest._internal.retry import RetryPolicy, TransientError, call_with_retries
from oci_attest.build.base import BuildRequest, BuildResult, BuiltImage, Progress
from oci_attest.build.messages import engine_message, scrub
from oci_attest.errors import BuildFailed, RegistryError
from oci_attest.reference import parse_reference

log = logging.getLogger(__name__)
_TRANSIENT_PUSH_HINTS = ("timeout", "connection reset", "EOF", "502", "503", "504", "429",
                         "500 Internal", "toomanyrequests", "broken pipe", "connection refused",
                         "connection broken", "malformed HTTP response", "unavailable")


def _engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _engine_problem(error: BaseException) -> str:
    """The docker library nests the cause in tuples and reprs; name it in two words."""
    text = repr(error)
    for needle, words in (("FileNotFoundError", "no such socket"),
                          ("PermissionError", "permission denied"),
                          ("Connection refused", "connection refused"),
                          ("ConnectionRefused", "connection refused"),
                          ("Read timed out", "timed out"), ("timed out", "timed out")):
        if needle in text:
            return words
    return _short(error)


class DockerEngineBackend:
    """The docker engine reached through ``docker.from_env()`` (``DOCKER_HOST`` honoured)."""

    name = "docker-engine"

    def __init__(self) -> None:
        import docker

        try:
            self._client = docker.from_env(timeout=600)
            self._client.ping()
        except Exception as error:
            raise BuildFailed(f"cannot reach the docker engine at {_engine_address()} "
                              f"({_engine_problem(error)})",
                              hint="start dockerd or set DOCKER_HOST") from None
        self._api = self._client.api

    def version(self) -> dict[str, str]:
        info = self._client.version()
        return {"docker": str(info.get("Version", "unknown")),
                "dockerApi": str(info.get("ApiVersion", "unknown"))}

    def platform(self) -> str:
        info = self._client.version()
        return f"{info.get('Os', 'linux')}/{info.get('Arch', 'amd64')}".lower()

    def inspect(self, image_id: str) -> BuiltImage:
        try:
            attrs = self._api.inspect_image(image_id)
        except Exception as error:
            raise BuildFailed(f"cannot inspect the built image {image_id[:19]}: "
                              f"{_short(error)}") from None
        layers = (attrs.get("RootFS") or {}).get("Layers") or []
        platform = f"{attrs.get('Os', '')}/{attrs.get('Architecture', '')}"
        if attrs.get("Variant"):
            platform += f"/{attrs['Variant']}"
        return BuiltImage(diff_ids=[str(layer) for layer in layers], platform=platform)

    def has_image(self, image_id: str) -> bool:
        import docker

        try:
            self._client.images.get(image_id)
        except docker.errors.ImageNotFound:
            return False
        return True

    @contextmanager
    def scan_source(self, image_id: str) -> Iterator[str]:
        yield f"docker-daemon:{image_id}"

    def build(self, request: BuildRequest, progress: Progress) -> BuildResult:
        if request.secrets:
            raise BuildFailed("the docker engine's classic builder has no build secrets",
                              hint="use --backend buildah for --secret")
        with tempfile.TemporaryDirectory(prefix="attest-dockerfile-") as tmp:
            # Outside the context: the SDK then ships it inside the context tar under a private
            # name, so the user's own Dockerfile is never modified.
            dockerfile = Path(tmp) / "Dockerfile"
            dockerfile.write_bytes(request.dockerfile)
            try:
                stream = self._api.build(
                    path=str(request.context),
                    dockerfile=str(dockerfile),
                    tag=request.tags[0] if request.tags else None,
                    buildargs=dict(request.build_args),
                    target=request.target,
                    labels=dict(request.labels),
                    network_mode=request.network,
                    pull=request.pull,
                    nocache=request.no_cache,
                    rm=True,
                    forcerm=True,
                    decode=True,
                )
                image_id = _follow_build(stream, progress)
            except BuildFailed:
                raise
            except Exception as error:
                raise BuildFailed(f"docker build failed: {_short(error)}",
                                  hint="see the build output above") from None
        for tag in request.tags[1:]:
            self._tag(image_id, tag)
        return BuildResult(image_id=image_id)

    def _tag(self, image_id: str, tag: str) -> None:
        ref = parse_reference(tag)
        self._api.tag(image_id, ref.name, ref.tag or "latest")

    def push(self, image_id: str, tag: str, progress: Progress) -> str:
        ref = parse_reference(tag)
        self._tag(image_id, tag)

        def once() -> str:
            try:
                stream = self._api.push(ref.name, tag=ref.tag or "latest", stream=True,
                                        decode=True)
                return _follow_push(stream, progress, str(ref))
            except (RegistryError, TransientError):
                raise
            except Exception as error:
                raise RegistryError(f"push of {ref} failed: {_short(error)}") from None

        try:
            return call_with_retries(f"push {ref}", once, RetryPolicy.from_env())
        except TransientError as error:
            raise RegistryError(f"push of {ref} kept failing: {error}",
                                hint="the registry is unavailable; rerun with --resume") from None


def _follow_build(stream: Iterator[dict[str, Any]], progress: Progress) -> str:
    image_id: str | None = None
    last_lines: list[str] = []
    for event in stream:
        if "stream" in event:
            text = str(event["stream"])
            for line in text.splitlines():
                if line.strip():
                    progress(line)
                    last_lines = [*last_lines[-4:], line]
        if "error" in event:
            detail = scrub(str(event.get("error", "")))
            raise BuildFailed(f"docker build failed: {detail}",
                              hint="fix the Dockerfile or the build context and rerun")
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = str(aux["ID"])
    if image_id is None:
        raise BuildFailed("docker build finished without producing an image",
                          hint="last output: " + " | ".join(last_lines))
    return image_id


def _follow_push(stream: Iterator[dict[str, Any]], progress: Progress, what: str) -> str:
    digest: str | None = None
    shown: set[tuple[str, str]] = set()
    for event in stream:
        if "error" in event:
            message = scrub(str(event.get("error", "")))
            if any(h.lower() in message.lower() for h in _TRANSIENT_PUSH_HINTS):
                raise TransientError(f"push {what}: {message}")
            raise RegistryError(f"push of {what} failed: {message}",
                                hint="check the registry address and your `docker login`")
        status = event.get("status")
        layer = event.get("id")
        if status and layer and (str(layer), str(status)) not in shown and "progress" not in event:
            shown.add((str(layer), str(status)))
            progress(f"{layer}: {status}")
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = str(aux["Digest"])
    if digest is None:
        raise TransientError(f"push {what}: the engine reported no pushed digest")
    return digest


def _short(error: BaseException) -> str:
    """Never ``str(error)``: the SDK's message holds the request URL (build args included)."""
    return engine_message(error)
