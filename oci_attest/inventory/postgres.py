"""A shared inventory in PostgreSQL (``--inventory postgresql://USER@HOST/DB``), for a fleet
whose CI jobs all record into one place. psycopg 3; the SQL is the shared one of ``base.py``
with ``%s`` placeholders. Writers that must not interleave (migrations, rescans) take a
transaction-scoped advisory lock, so concurrent rescans queue instead of racing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from oci_attest.errors import InputError
from oci_attest.inventory.base import InventoryStore

#: pg_advisory_xact_lock key: "attest" in ASCII.
_LOCK_KEY = 0x617474657374


def redacted(url: str) -> str:
    """The URL without its password, for messages: credentials are never printed."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class PostgresInventory(InventoryStore):
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg

        self.location = redacted(url)
        self._errors = psycopg.Error
        try:
            self._db = psycopg.connect(url, connect_timeout=10, autocommit=True)
        except psycopg.Error as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else \
                type(error).__name__
            raise InputError(f"cannot connect to the inventory {self.location}: "
                             f"{reason.replace(url, self.location)}",
                             hint="check the postgresql:// URL, the server and its "
                                  "credentials (PGPASSWORD or ~/.pgpass)") from None
        self._depth = 0
        self.migrate()

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            cursor = self._db.execute(self._sql(sql), tuple(params))
            return list(cursor.fetchall()) if cursor.description else []
        return self._guard(run)  # type: ignore[no-any-return]

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(row) for row in rows]
        if rows:
            self._guard(lambda: self._db.cursor().executemany(
                self._sql(sql), rows))

    def _guard(self, run: Any) -> Any:
        try:
            return run()
        except self._errors as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise InputError(f"the inventory {self.location} failed: "
                             f"{type(error).__name__}: {first}") from None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self._db.transaction():
                yield
        finally:
            self._depth = 0

    def transaction(self) -> Any:
        return self._transaction()

    def lock(self) -> None:
        self.query("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))

    def close(self) -> None:
        self._db.close()
