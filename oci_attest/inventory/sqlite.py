"""The default inventory: one SQLite file (``--inventory PATH``, ``ATTEST_INVENTORY``).

WAL journaling lets queries read while a rescan writes; ``BEGIN IMMEDIATE`` takes the write
lock at the start of a transaction, so two writers queue (with a timeout) instead of failing
halfway through.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from oci_attest.errors import InputError
from oci_attest.inventory.base import InventoryStore


class SqliteInventory(InventoryStore):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.location = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
        except (OSError, sqlite3.Error) as error:
            raise InputError(f"cannot open the inventory {path}: {error}",
                             hint="pass --inventory PATH (a writable file) or a "
                                  "postgresql:// URL") from None
        self._depth = 0
        self.migrate()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._guard(
            lambda: self._db.execute(sql, tuple(params)).fetchall())
        return rows

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._guard(lambda: self._db.executemany(sql, rows))

    def _guard(self, run: Any) -> Any:
        try:
            return run()
        except sqlite3.DatabaseError as error:
            raise InputError(f"the inventory {self.location} cannot be used: {error}",
                             hint="is it an attest inventory? pass another --inventory"
                             ) from None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._guard(lambda: self._db.execute("BEGIN IMMEDIATE"))
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.rollback()
            raise
        else:
            self._db.commit()
        finally:
            self._depth = 0

    def transaction(self) -> Any:
        return self._transaction()

    def lock(self) -> None:
        """``BEGIN IMMEDIATE`` already holds the database's write lock."""

    def close(self) -> None:
        self._db.close()
