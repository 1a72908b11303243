"""The local advisory store: OSV records in one SQLite file, indexed by (ecosystem, package).

A scan asks "which advisories name this package?" for each of a few hundred components; that is
an index lookup here, so the whole database never has to be loaded into memory (thousands of
records per ecosystem, each with long version lists). Each record is kept as its original JSON,
so what a finding says is exactly what the publisher wrote.

Imports are incremental: a record whose content is unchanged is not rewritten (compared by a
hash of its canonical JSON, because some publishers leave ``modified`` at a fixed value), a
changed one replaces its old rows, and the import reports which ids are new or changed (what
a rescan must look at). Withdrawn records stay stored and flagged, and never match. The file
is written in one transaction per import, so an interrupted import leaves the previous
database intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oci_attest.errors import InputError
from oci_attest.vulns.osv import Advisory, parse_record

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advisories (
    id TEXT PRIMARY KEY, modified TEXT NOT NULL, withdrawn INTEGER NOT NULL,
    hash TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS affected (
    advisory TEXT NOT NULL REFERENCES advisories(id) ON DELETE CASCADE,
    ecosystem TEXT NOT NULL, base TEXT NOT NULL, package TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS affected_by_package ON affected (base, package);
CREATE TABLE IF NOT EXISTS aliases (advisory TEXT NOT NULL, alias TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS aliases_by_alias ON aliases (alias);
"""
#: A single record larger than this is refused: OSV records are a few kilobytes.
MAX_RECORD_BYTES = 8 * 1024 * 1024


@dataclass
class ImportResult:
    read: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0


def default_location() -> Path:
    configured = os.environ.get("ATTEST_VULNDB")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "attest" / "vulndb"


class AdvisoryStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "osv.sqlite3"
        self._db: sqlite3.Connection | None = None

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        if self._db is None:
            if not self.path.exists() and not create:
                raise InputError(f"no advisory database at {self.directory}",
                                 hint="run `attest vulndb import FILE` or `attest vulndb "
                                      "update` first, or pass --vulndb DIR")
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, check_same_thread=False)
            except (OSError, sqlite3.Error) as error:
                raise InputError(f"cannot open the advisory database {self.path}: {error}"
                                 ) from None
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(_SCHEMA)
            version = self._meta("schema")
            if version is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                self._db.commit()
            elif version != str(SCHEMA_VERSION):
                raise InputError(f"{self.path} has schema {version}; this attest reads "
                                 f"{SCHEMA_VERSION}", hint="re-import into a new --vulndb")
        return self._db

    def require(self) -> None:
        """Fail now, with the fix, when there is no database (before any slow work)."""
        self._connect(create=False)

    def _meta(self, key: str) -> str | None:
        assert self._db is not None
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    # ----------------------------------------------------------------------------- import
    def import_paths(self, paths: Sequence[Path]) -> ImportResult:
        db = self._connect(create=True)
        result = ImportResult()
        known = dict(db.execute("SELECT id, hash FROM advisories").fetchall())
        with db:  # one transaction: all of it lands, or none of it
            for record in _records(paths):
                result.read += 1
                advisory = parse_record(record)
                if advisory is None:
                    result.skipped += 1
                    continue
                text = json.dumps(record, separators=(",", ":"), sort_keys=True)
                digest = hashlib.sha256(text.encode()).hexdigest()
                previous = known.get(advisory.id)
                if previous == digest:
                    result.unchanged += 1
                    continue
                (result.changed if previous is not None else result.added).append(advisory.id)
                known[advisory.id] = digest
                self._write(db, advisory, text, digest)
        return result

    @staticmethod
    def _write(db: sqlite3.Connection, advisory: Advisory, text: str, digest: str) -> None:
        db.execute("DELETE FROM affected WHERE advisory = ?", (advisory.id,))
        db.execute("DELETE FROM aliases WHERE advisory = ?", (advisory.id,))
        db.execute("INSERT OR REPLACE INTO advisories VALUES (?, ?, ?, ?, ?)",
                   (advisory.id, advisory.modified, int(advisory.withdrawn), digest, text))
        db.executemany("INSERT INTO affected VALUES (?, ?, ?, ?)", {
            (advisory.id, a.ecosystem, a.ecosystem.split(":", 1)[0], a.name)
            for a in advisory.affected})
        db.executemany("INSERT INTO aliases VALUES (?, ?)",
                       [(advisory.id, alias) for alias in {advisory.id, *advisory.aliases}])

    # ------------------------------------------------------------------------------ query
    def advisories_for(self, base_ecosystem: str, package: str) -> list[Advisory]:
        """Records naming ``package`` in an ecosystem (all releases); withdrawn ones excluded."""
        db = self._connect(create=False)
        rows = db.execute(
            "SELECT DISTINCT a.record FROM affected f JOIN advisories a ON a.id = f.advisory "
            "WHERE f.base = ? AND f.package = ? AND a.withdrawn = 0",
            (base_ecosystem, package)).fetchall()
        return [advisory for (text,) in rows
                if (advisory := parse_record(json.loads(text))) is not None]

    def ids_for_alias(self, alias: str) -> list[str]:
        """Advisory ids known by ``alias`` (an OSV id, a GHSA or a CVE)."""
        db = self._connect(create=False)
        return [row[0] for row in db.execute(
            "SELECT DISTINCT advisory FROM aliases WHERE alias = ?", (alias,))]

    def advisory(self, advisory_id: str) -> Advisory | None:
        db = self._connect(create=False)
        row = db.execute("SELECT record FROM advisories WHERE id = ?",
                         (advisory_id,)).fetchone()
        return parse_record(json.loads(row[0])) if row else None

    def fingerprints(self) -> dict[str, str]:
        """Every record's id and content hash: what a rescan compares with the hashes it last
        matched, to find the records added or changed since (without reading the records)."""
        db = self._connect(create=False)
        return dict(db.execute("SELECT id, hash FROM advisories").fetchall())

    def status(self) -> list[dict[str, Any]]:
        db = self._connect(create=False)
        rows = db.execute(
            "SELECT f.base, COUNT(DISTINCT a.id), MAX(a.modified), SUM(a.withdrawn) "
            "FROM affected f JOIN advisories a ON a.id = f.advisory GROUP BY f.base "
            "ORDER BY f.base").fetchall()
        return [{"ecosystem": base, "records": count, "newestModified": newest,
                 "withdrawn": withdrawn or 0} for base, count, newest, withdrawn in rows]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _records(paths: Sequence[Path]) -> Iterator[Any]:
    """Every JSON record in the given zips (``<ECOSYSTEM>/all.zip``), directories or files."""
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.is_file() and found.suffix in (".json", ".zip"):
                    yield from _records([found])
        elif path.suffix == ".zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    for info in archive.infolist():
                        if info.filename.endswith(".json") and not info.is_dir():
                            if info.file_size > MAX_RECORD_BYTES:
                                raise InputError(f"{path}: {info.filename} is larger than "
                                                 f"{MAX_RECORD_BYTES} bytes")
                            yield _json(archive.read(info), f"{path}: {info.filename}")
            except (OSError, zipfile.BadZipFile) as error:
                raise InputError(f"cannot read OSV export {path}: {error}") from None
        elif path.is_file():
            if path.stat().st_size > MAX_RECORD_BYTES:
                raise InputError(f"{path} is larger than {MAX_RECORD_BYTES} bytes")
            document = _json(path.read_bytes(), str(path))
            if isinstance(document, list):
                yield from document
            else:
                yield document
        else:
            raise InputError(f"{path} does not exist",
                             hint="give an OSV all.zip, a directory of OSV JSON, or a file")


def _json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as error:
        raise InputError(f"{where} is not JSON: {error}") from None
