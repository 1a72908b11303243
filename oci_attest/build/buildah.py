"""Build and push with buildah: BuildKit-style Dockerfiles without a daemon.

The docker engine's classic builder cannot run ``RUN --mount`` (cache, secret, bind from
another image or stage) and has no build secrets; buildah can, needs no daemon and runs
unprivileged enough for CI containers with ``--storage-driver vfs --isolation chroot`` (the
combination measured to work on a plain Debian 12 runner: no overlay or user namespaces needed).

Three rules keep the provenance true:

* the Dockerfile built is the pinned copy (every external image ``name@sha256:...``), so buildah
  pulls exactly what was recorded;
* build-arg values go through the environment (``--build-arg NAME`` reads ``$NAME``), never the
  command line where any local user could read them in ``ps``; secrets are passed as files with
  ``--secret id=ID,src=FILE``, mounted on a tmpfs for the RUN that asks, and never enter a layer;
* the pushed digest is the one buildah writes to ``--digestfile``: the digest of the manifest
  bytes the registry received.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from oci_attest._internal.retry import RetryPolicy, TransientError, call_with_retries
from oci_attest.build.base import BuildRequest, BuildResult, BuiltImage, Progress
from oci_attest.errors import BuildFailed, InputError, RegistryError
from oci_attest.reference import is_loopback_host, parse_reference

log = logging.getLogger(__name__)

#: Storage and isolation that work without overlayfs, user namespaces or a daemon.
STORAGE_DRIVER = "vfs"
ISOLATION = "chroot"
_BUILD_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_TRANSIENT = ("timeout", "connection reset", "eof", "502", "503", "504", "429",
              "toomanyrequests", "broken pipe", "connection refused", "unavailable")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def buildah_available() -> bool:
    return shutil.which("buildah") is not None


class BuildahBackend:
    """buildah as a subprocess. ``root`` (or ``ATTEST_BUILDAH_ROOT``) selects a storage
    directory apart from the system's, e.g. one per CI job."""

    name = "buildah"

    def __init__(self, root: str | None = None) -> None:
        binary = shutil.which("buildah")
        if binary is None:
            raise BuildFailed("buildah is not installed",
                              hint="apt-get install buildah, or use --backend docker")
        self._binary = binary
        self._root = root or os.environ.get("ATTEST_BUILDAH_ROOT") or None

    # ------------------------------------------------------------------------------ helpers
    def _global(self) -> list[str]:
        argv = [self._binary, "--storage-driver", STORAGE_DRIVER]
        if self._root:
            argv += ["--root", self._root, "--runroot", str(Path(self._root) / "run")]
        return argv

    def _run(self, args: Sequence[str], *, env: Mapping[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self._global(), *args], capture_output=True, text=True,
                              env=dict(env) if env is not None else None, timeout=timeout,
                              check=False)

    # ---------------------------------------------------------------------------- interface
    def version(self) -> dict[str, str]:
        result = self._run(["version", "--json"])
        try:
            info = json.loads(result.stdout)
        except ValueError:
            return {"buildah": "unknown"}
        return {"buildah": str(info.get("version", "unknown")),
                "containersImage": str(info.get("imageVersion", "unknown"))}

    def platform(self) -> str:
        """The host platform buildah builds for (what it picks from a multi-platform base)."""
        result = self._run(["info", "--format", "{{.host.os}}/{{.host.arch}}"])
        text = result.stdout.strip().lower()
        return text if result.returncode == 0 and "/" in text else "linux/amd64"

    def inspect(self, image_id: str) -> BuiltImage:
        """The built image's diff_ids and platform, from its OCI config."""
        result = self._run(["inspect", "--type", "image", image_id])
        try:
            config = json.loads(result.stdout)["OCIv1"]
            diff_ids = [str(d) for d in config["rootfs"]["diff_ids"]]
        except (ValueError, KeyError, TypeError):
            raise BuildFailed(f"cannot inspect the built image {image_id[:19]}: "
                              f"{_last_error(result.stderr)}") from None
        platform = f"{config.get('os', '')}/{config.get('architecture', '')}"
        if config.get("variant"):
            platform += f"/{config['variant']}"
        return BuiltImage(diff_ids=diff_ids, platform=platform)

    def has_image(self, image_id: str) -> bool:
        return self._run(["inspect", "--type", "image", "--format", "{{.FromImageID}}",
                          image_id]).returncode == 0

    def build(self, request: BuildRequest, progress: Progress) -> BuildResult:
        env = _child_env()
        with tempfile.TemporaryDirectory(prefix="attest-buildah-") as tmp:
            # Outside the context, so the user's Dockerfile is never touched or shadowed.
            dockerfile = Path(tmp) / "Dockerfile"
            dockerfile.write_bytes(request.dockerfile)
            iidfile = Path(tmp) / "image-id"
            argv = ["bud", "--isolation", ISOLATION, "--iidfile", str(iidfile),
                    "-f", str(dockerfile)]
            argv += ["--no-cache"] if request.no_cache else ["--layers"]
            argv += ["--pull=always"] if request.pull else []
            for name, value in request.build_args.items():
                if not _BUILD_ARG_NAME.match(name):
                    raise InputError(f"--build-arg {name[:60]!r} is not a valid argument name",
                                     hint="use letters, digits and underscores")
                env[name] = value
                argv += ["--build-arg", name]
            for key, value in request.labels.items():
                argv += ["--label", f"{key}={value}"]
            if request.target:
                argv += ["--target", request.target]
            if request.network:
                argv += ["--network", request.network]
            for secret_id, source in request.secrets.items():
                argv += ["--secret", f"id={secret_id},src={source}"]
            for tag in request.tags:
                argv += ["-t", tag]
            argv.append(str(request.context))
            with _registries_conf(_loopback_hosts(request), env):
                _stream(self._global() + argv, env, progress)
            image_id = iidfile.read_text().strip() if iidfile.exists() else ""
        if not image_id:
            raise BuildFailed("buildah finished without producing an image",
                              hint="see the build output above")
        return BuildResult(image_id=image_id)

    def push(self, image_id: str, tag: str, progress: Progress) -> str:
        ref = parse_reference(tag)
        destination = f"docker://{ref}"

        def once() -> str:
            with tempfile.TemporaryDirectory(prefix="attest-buildah-push-") as tmp:
                digestfile = Path(tmp) / "digest"
                argv = ["push", "--digestfile", str(digestfile), "--retry", "0"]
                if is_loopback_host(ref.registry):
                    argv.append("--tls-verify=false")
                result = self._run([*argv, image_id, destination], env=_child_env(),
                                   timeout=1800)
                if result.returncode != 0:
                    message = _last_error(result.stderr)
                    if any(h in message.lower() for h in _TRANSIENT):
                        raise TransientError(f"push {ref}: {message}")
                    raise RegistryError(f"push of {ref} failed: {message}",
                                        hint="check the registry address and your login "
                                             "(buildah reads docker's config.json too)")
                digest = digestfile.read_text().strip() if digestfile.exists() else ""
            if not _DIGEST.match(digest):
                raise TransientError(f"push {ref}: buildah wrote no pushed digest")
            progress(f"{ref}: pushed")
            return digest

        try:
            return call_with_retries(f"push {ref}", once, RetryPolicy.from_env())
        except TransientError as error:
            raise RegistryError(f"push of {ref} kept failing: {error}",
                                hint="the registry is unavailable; rerun with --resume") from None

    @contextmanager
    def scan_source(self, image_id: str) -> Iterator[str]:
        """The built image as an OCI layout in a temporary directory, for the secret scan
        that runs before anything is pushed."""
        with tempfile.TemporaryDirectory(prefix="attest-buildah-scan-") as tmp:
            layout = Path(tmp) / "layout"
            result = self._run(["push", image_id, f"oci:{layout}:scan"], timeout=1800)
            if result.returncode != 0:
                raise BuildFailed(f"cannot export the built image {image_id[:19]} for the "
                                  f"secret scan: {_last_error(result.stderr)}")
            yield f"oci-layout:{layout}:scan"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("BUILDAH_FORMAT", "oci")
    return env


def _loopback_hosts(request: BuildRequest) -> set[str]:
    """Registries on this machine, spoken to over plain HTTP as the docker engine does.

    The pinned Dockerfile names every external image by ``registry/name@digest``."""
    hosts = {parse_reference(tag).registry for tag in request.tags}
    text = request.dockerfile.decode("utf-8", errors="replace")
    for match in re.finditer(r"([A-Za-z0-9.\-\[\]:]+)/[^\s@,]+@sha256:[0-9a-f]{64}", text):
        hosts.add(match.group(1))
    return {h for h in hosts if is_loopback_host(h)}


@contextmanager
def _registries_conf(hosts: set[str], env: dict[str, str]) -> Iterator[None]:
    """A registries.conf that is the system's plus ``insecure = true`` for loopback
    registries, in ``env`` for the duration of a build (buildah has no per-registry flag)."""
    if not hosts:
        yield
        return
    system = Path(env.get("CONTAINERS_REGISTRIES_CONF") or "/etc/containers/registries.conf")
    base = system.read_text() if system.is_file() else ""
    try:
        existing = tomllib.loads(base)
    except tomllib.TOMLDecodeError:
        existing = {}
        base = ""
    known = {str(r.get("location", "")) for r in existing.get("registry", [])
             if isinstance(r, dict)}
    extra = "".join(f'\n[[registry]]\nlocation = "{h}"\ninsecure = true\n'
                    for h in sorted(hosts - known))
    with tempfile.NamedTemporaryFile("w", prefix="attest-registries-", suffix=".conf",
                                     delete=False) as handle:
        handle.write(base + extra)
    try:
        env["CONTAINERS_REGISTRIES_CONF"] = handle.name
        yield
    finally:
        Path(handle.name).unlink(missing_ok=True)


def _stream(argv: list[str], env: Mapping[str, str], progress: Progress) -> None:
    """Run a build, passing its output on line by line; a failure names the last lines."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(env), errors="replace")
    last: list[str] = []
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.rstrip()
        if line:
            progress(line)
            last = [*last[-3:], line]
    code = process.wait()
    if code != 0:
        detail = _last_error("\n".join(last))
        raise BuildFailed(f"buildah build failed (exit {code}): {detail}",
                          hint="fix the Dockerfile or the build context and rerun")


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("error", "time="))]
    chosen = (errors or lines or ["no output"])[-1]
    return " ".join(chosen.split())[:400]


def validate_secret_id(secret_id: str) -> str:
    if not _SECRET_ID.match(secret_id):
        raise InputError(f"--secret id {secret_id[:60]!r} is not valid",
                         hint="use letters, digits, '.', '_' and '-'")
    return secret_id
