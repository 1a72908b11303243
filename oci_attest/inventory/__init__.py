"""The inventory of shipped images: which images hold which packages, and what rescans found.

``open_inventory`` picks the store from the location: a ``postgresql://`` URL opens a shared
PostgreSQL inventory, anything else is a SQLite file (default ``$ATTEST_INVENTORY``, else
``~/.local/share/attest/inventory.sqlite3``: unlike the advisory cache, an inventory is a
record that cannot be downloaded again).
"""

from __future__ import annotations

import os
from pathlib import Path

from oci_attest.inventory.base import InventoryStore


def default_location() -> str:
    configured = os.environ.get("ATTEST_INVENTORY")
    if configured:
        return configured
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(data) / "attest" / "inventory.sqlite3")


def open_inventory(location: str | None = None) -> InventoryStore:
    where = location or default_location()
    if where.startswith(("postgresql://", "postgres://")):
        from oci_attest.inventory.postgres import PostgresInventory

        return PostgresInventory(where)
    from oci_attest.inventory.sqlite import SqliteInventory

    return SqliteInventory(Path(where))
