"""Start the real services attest talks to, on loopback only: the docker engine and a registry.

Used by the test suite, the README demo and the benchmarks so that all three run against the
same real parts. Nothing here is part of the attest package.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DOCKER_SOCKET = Path("/var/run/docker.sock")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if callable(predicate) and predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready within {timeout:.0f}s")


def docker_engine_ready() -> bool:
    if not DOCKER_SOCKET.exists():
        return False
    try:
        result = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def ensure_docker_engine(log_path: Path | None = None) -> None:
    """Start ``dockerd`` without a bridge network (no private address ranges) if none runs."""
    if docker_engine_ready():
        return
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not installed: apt-get install docker.io")
    log_path = log_path or Path(tempfile.gettempdir()) / "attest-dockerd.log"
    with open(log_path, "ab") as log:
        subprocess.Popen(
            ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(docker_engine_ready, 60, "the docker engine")


@dataclass
class Registry:
    """A running distribution registry on 127.0.0.1."""

    host: str
    root: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_registry(root: Path, port: int | None = None, *, tls_cert: Path | None = None,
                   tls_key: Path | None = None, ca_file: Path | None = None) -> Registry:
    """Run ``docker-registry serve`` with a config of ours (no auth, deletes allowed); with
    ``tls_cert``/``tls_key`` it serves HTTPS only (``ca_file`` checks it is up)."""
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed: apt-get install docker-registry")
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {root / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        + (f"  tls:\n    certificate: {tls_cert}\n    key: {tls_key}\n" if tls_cert else "")
    )
    log = open(root / "registry.log", "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    host = f"127.0.0.1:{port}"

    def ready() -> bool:
        if tls_cert:
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            with urllib.request.urlopen(f"https://{host}/v2/", timeout=2,
                                        context=context) as response:
                return bool(response.status == 200)
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=2) as response:
            return bool(response.status == 200)

    try:
        wait_for(ready, 30, f"the registry on {host}")
    except RuntimeError:
        process.kill()
        raise
    return Registry(host=host, root=root, process=process)


@contextlib.contextmanager
def running_registry(root: Path) -> Iterator[Registry]:
    registry = start_registry(root)
    try:
        yield registry
    finally:
        registry.stop()


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (never hard-coded: it differs per machine)."""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        if not path.is_file() or path.name.endswith(".disabled-by-farm"):
            continue
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("URIs:") and "debian" in line and "security" not in line:
                return line.split(":", 1)[1].strip().split()[0]
            if line.startswith("deb ") and "debian" in line and "security" not in line:
                parts = [p for p in line.split()[1:] if not p.startswith("[")]
                return parts[0]
    raise RuntimeError("no Debian mirror found in /etc/apt/sources.list*")


def environment_summary() -> dict[str, str]:
    """Versions of the real parts, for bench tables and bug reports."""
    summary: dict[str, str] = {}
    for name, argv in {
        "docker": ["docker", "version", "--format", "{{.Server.Version}}"],
        "registry": ["docker-registry", "--version"],
    }.items():
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
            summary[name] = (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            summary[name] = "absent"
    summary["python"] = os.sys.version.split()[0]  # type: ignore[attr-defined]
    return summary
