"""Which backend builds: ``--backend docker|buildah``, or the default.

The default is the docker engine when one answers (what ``docker build`` users expect), else
buildah (a CI container without a docker socket). The choice is made once, when a run starts,
and stored with the run: a resumed run must push from the storage its image was built in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from oci_attest.build.base import BuildBackend
from oci_attest.errors import UsageError

BackendName = Literal["docker", "buildah"]
BACKENDS: tuple[BackendName, ...] = ("docker", "buildah")


def docker_engine_reachable() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure to connect means "not reachable"
        return False


def choose_backend(requested: str | None) -> BackendName:
    """The backend for a new run; one that was asked for but cannot work is refused here,
    before the source is collected or anything is pulled."""
    if requested == "buildah":
        from oci_attest.build.buildah import buildah_available

        if not buildah_available():
            raise UsageError("--backend buildah: buildah is not installed",
                             hint="apt-get install buildah, or use --backend docker")
        return "buildah"
    if requested == "docker":
        if not docker_engine_reachable():
            address = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            raise UsageError(f"--backend docker: the docker engine does not answer at {address}",
                             hint="start dockerd or set DOCKER_HOST, or use --backend buildah")
        return "docker"
    if requested not in (None, "auto"):
        raise UsageError(f"unknown --backend {requested!r}", hint="use docker or buildah")
    if docker_engine_reachable():
        return "docker"
    from oci_attest.build.buildah import buildah_available

    if buildah_available():
        return "buildah"
    raise UsageError("no build backend: the docker engine does not answer and buildah is not "
                     "installed", hint="start dockerd (or set DOCKER_HOST), or apt-get install "
                                       "buildah")


def backend_factory(name: str) -> Callable[[], BuildBackend]:
    def make() -> BuildBackend:
        if name == "buildah":
            from oci_attest.build.buildah import BuildahBackend

            return BuildahBackend()
        from oci_attest.build.docker_engine import DockerEngineBackend

        return DockerEngineBackend()

    return make


def check_dockerfile(name: str, path: Path) -> None:
    """Refuse, before anything runs, what the chosen backend cannot build."""
    from oci_attest.build.features import check_buildah, check_classic_builder
    from oci_attest.collect.materials import read_dockerfile

    content = read_dockerfile(path)
    if name == "docker":
        check_classic_builder(path, content)
    else:
        check_buildah(path, content)
