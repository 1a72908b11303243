"""A throwaway PostgreSQL server (Debian's ``postgresql``) for the inventory's tests and
benchmarks: ``initdb`` into a temporary directory, ``pg_ctl`` on a free 127.0.0.1 port.

PostgreSQL refuses to run as root, so when we are root the server runs as the ``postgres``
system user the Debian package creates (``runuser -u postgres --``), in a directory it owns.
The server trusts local connections only on 127.0.0.1; it is stopped (fast) on exit.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.services import free_port


class PostgresMissing(RuntimeError):
    """Debian's postgresql is not installed (``scripts/setup`` installs it)."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresMissing("PostgreSQL is not installed: apt-get install postgresql "
                              "(scripts/setup does)")
    return Path(found[-1]).parent


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a ``postgresql://`` URL of an empty database on a fresh server."""
    bin_dir = _bin_dir()
    as_user: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="attest-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(workdir, "postgres", "postgres")
    data = workdir / "data"
    port = free_port()

    def run(*argv: str) -> None:
        subprocess.run([*as_user, *argv], check=True, capture_output=True, text=True,
                       timeout=120)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "attest", "--auth=trust",
            "-E", "UTF8", "--no-sync")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(workdir / "log"), "-w",
            "-o", f"-k {workdir} -c listen_addresses=127.0.0.1 -p {port} -c fsync=off",
            "start")
        try:
            run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "attest",
                "inventory")
            yield f"postgresql://attest@127.0.0.1:{port}/inventory"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
