"""Inventory fixtures: each test gets a fresh inventory on SQLite and on a real PostgreSQL
server started for the session, and a copy of an advisory database holding the real OSV
exports in ../shared (PyPI, Go)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devstack.postgres import PostgresMissing, postgres_server
from oci_attest.inventory import open_inventory
from oci_attest.inventory.base import InventoryStore
from tests.shared_vectors import shared_dir

BACKENDS = ("sqlite", "postgres")


def attest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oci_attest", *args], capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield url
    except PostgresMissing as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{error}: the inventory must be tested on PostgreSQL in CI")
        pytest.skip(str(error))


@pytest.fixture
def new_location(request: pytest.FixtureRequest, tmp_path: Path):
    """A factory of fresh, empty inventory locations for one backend (a file, or a new
    database on the session's server)."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            return str(tmp_path / f"inventory-{uuid.uuid4().hex[:8]}.sqlite3")
        server = request.getfixturevalue("postgres_url")
        name = f"inv_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return server.rsplit("/", 1)[0] + "/" + name

    return make


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, new_location) -> Iterator[InventoryStore]:
    opened = open_inventory(new_location(backend))
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def osv_vulndb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real PyPI and Go exports imported once; tests copy it before changing it."""
    root = shared_dir() / "vulndb" / "osv"
    exports = [root / "PyPI" / "all.zip", root / "Go" / "all.zip"]
    missing = [str(p) for p in exports if not p.exists()]
    if missing:
        pytest.fail(f"the OSV exports are missing: {missing} (../shared/vulndb)")
    directory = tmp_path_factory.mktemp("osv-vulndb")
    done = attest("vulndb", "import", *map(str, exports), "--vulndb", str(directory))
    assert done.returncode == 0, done.stderr
    return directory


@pytest.fixture
def vulndb(osv_vulndb: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "vulndb"
    shutil.copytree(osv_vulndb, copy)
    return copy
