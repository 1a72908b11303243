"""The inventory store: one interface, one set of SQL, two databases underneath.

Why one interface with the SQL in it, rather than two independent stores: the inventory must
give *identical* answers on SQLite (one file, the default) and PostgreSQL (one inventory shared
by a fleet). Writing every query once, in the SQL both databases speak, makes that true by
construction; an implementation only supplies what really differs: how to connect, the
placeholder style, transactions and locking (:class:`InventoryStore`'s abstract methods).

Every question is an index lookup: packages by their purl name or by the name advisories use,
images by package (``image_packages_by_package``), findings by advisory or rescan. Nothing
loads the inventory into memory, so a query costs the same with ten images or ten thousand.
"""

from __future__ import annotations

import datetime
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from oci_attest.errors import InputError
from oci_attest.inventory import migrations
from oci_attest.inventory.keys import package_key

#: Rows per IN (...) list: well under both databases' parameter limits.
CHUNK = 500


@dataclass(frozen=True)
class ImageRecord:
    """An image as the inventory records it."""

    repository: str
    digest: str
    reference: str
    source: str                   # "verified attestation (...)", "image layers", ...
    tags: tuple[str, ...]
    purls: tuple[str, ...]


@dataclass(frozen=True)
class PackageRow:
    id: int
    purl: str
    version: str
    matched: int = 0


@dataclass
class ImageHit:
    """An image that holds some of the packages asked about."""

    id: int
    repository: str
    digest: str
    reference: str
    recorded_at: str
    tags: list[str] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "repository": self.repository,
                "digest": self.digest, "tags": self.tags, "recordedAt": self.recorded_at,
                "components": self.components}


@dataclass(frozen=True)
class StoredFinding:
    package_id: int
    purl: str
    version: str
    advisory: str
    aliases: tuple[str, ...]
    severity: str
    score: float | None
    fixed: tuple[str, ...]
    summary: str
    rescan: int


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def marks(count: int) -> str:
    return ", ".join("?" * count)


class InventoryStore(ABC):
    """Images, their packages and what rescans found; see the module docstring."""

    dialect: str
    location: str

    # ------------------------------------------------------------ what implementations supply
    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (``?`` placeholders) and return its rows."""

    @abstractmethod
    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All statements inside commit together, or none does."""

    @abstractmethod
    def lock(self) -> None:
        """Within a transaction: wait until no other writer (another rescan) is writing."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    # ------------------------------------------------------------------------- migrations
    def migrate(self) -> None:
        with self.transaction():
            self.lock()
            self.query("CREATE TABLE IF NOT EXISTS schema_migrations ("
                       "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            applied = {int(row[0]) for row in self.query("SELECT version FROM schema_migrations")}
            newest = max(applied, default=0)
            if newest > migrations.LATEST:
                raise InputError(f"the inventory {self.location} has schema version {newest}; "
                                 f"this attest knows up to {migrations.LATEST}",
                                 hint="upgrade attest to use this inventory")
            for version, _ in migrations.MIGRATIONS:
                if version in applied:
                    continue
                for statement in migrations.statements(self.dialect, version):
                    self.query(statement)
                self.query("INSERT INTO schema_migrations VALUES (?, ?)", (version, now()))

    def schema_version(self) -> int:
        rows = self.query("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    # ---------------------------------------------------------------------------- writing
    def record_image(self, image: ImageRecord) -> bool:
        """Record an image and its packages; tags it names move to it. Returns whether the
        image (by repository and digest) is new or its components changed."""
        purls = sorted(set(image.purls))
        with self.transaction():
            found = self.query("SELECT id FROM images WHERE repository = ? AND digest = ?",
                               (image.repository, image.digest))
            package_ids = self._package_ids(purls)
            if found:
                image_id = int(found[0][0])
                stored = {int(r[0]) for r in self.query(
                    "SELECT package_id FROM image_packages WHERE image_id = ?", (image_id,))}
                changed = stored != set(package_ids)
                if changed:
                    self.query("DELETE FROM image_packages WHERE image_id = ?", (image_id,))
                    self.query("UPDATE images SET source = ?, rescanned = 0, reference = ? "
                               "WHERE id = ?", (image.source, image.reference, image_id))
            else:
                changed = True
                image_id = int(self.query(
                    "INSERT INTO images (repository, digest, reference, source, recorded_at) "
                    "VALUES (?, ?, ?, ?, ?) RETURNING id",
                    (image.repository, image.digest, image.reference, image.source, now()))[0][0])
            if changed:
                self.execute_many("INSERT INTO image_packages VALUES (?, ?)",
                                  [(image_id, pid) for pid in sorted(set(package_ids))])
            self._move_tags(image.repository, image_id, image.tags)
        return changed

    def tag_image(self, repository: str, digest: str, tags: Sequence[str]) -> bool:
        """Point ``tags`` at an already recorded image; ``False`` if it is not recorded."""
        with self.transaction():
            found = self.query("SELECT id FROM images WHERE repository = ? AND digest = ?",
                               (repository, digest))
            if not found:
                return False
            self._move_tags(repository, int(found[0][0]), tags)
        return True

    def _move_tags(self, repository: str, image_id: int, tags: Sequence[str]) -> None:
        tags = sorted(set(tags))
        for part in chunks(tags):
            self.query(f"DELETE FROM tags WHERE repository = ? AND tag IN ({marks(len(part))})",
                       (repository, *part))
        self.execute_many("INSERT INTO tags VALUES (?, ?, ?)",
                          [(repository, tag, image_id) for tag in tags])

    def _package_ids(self, purls: Sequence[str]) -> list[int]:
        """Ids of the packages, filing the ones not seen before. Parsing a purl costs more
        than an index lookup, so only packages new to the inventory are parsed: recording the
        thousandth image built on a base costs a lookup per component."""
        known = self._known_ids(purls)
        keys = {purl: key for purl in purls
                if purl not in known and (key := package_key(purl)) is not None}
        self.execute_many(
            "INSERT INTO packages (purl, ptype, pname, version, ecosystem, mname, release) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (purl) DO NOTHING",
            [(purl, k.ptype, k.pname, k.version, k.ecosystem, k.mname, k.release)
             for purl, k in sorted(keys.items())])
        known.update(self._known_ids(sorted(keys)))
        return sorted(set(known.values()))

    def _known_ids(self, purls: Sequence[str]) -> dict[str, int]:
        known: dict[str, int] = {}
        for part in chunks(purls):
            known.update((purl, int(i)) for i, purl in self.query(
                f"SELECT id, purl FROM packages WHERE purl IN ({marks(len(part))})", part))
        return known

    # ---------------------------------------------------------------------------- lookups
    def packages_named(self, ptype: str, pname: str) -> list[PackageRow]:
        return [PackageRow(int(i), p, v) for i, p, v in self.query(
            "SELECT id, purl, version FROM packages WHERE ptype = ? AND pname = ?",
            (ptype, pname))]

    def packages_matching(self, ecosystem: str, mname: str) -> list[PackageRow]:
        """Packages known to advisories as ``mname`` in ``ecosystem`` (all releases)."""
        return [PackageRow(int(i), p, v, int(m)) for i, p, v, m in self.query(
            "SELECT id, purl, version, matched FROM packages WHERE ecosystem = ? AND mname = ?",
            (ecosystem, mname))]

    def images_with(self, package_ids: Sequence[int],
                    extra: dict[int, list[dict[str, Any]]] | None = None) -> list[ImageHit]:
        """The images holding any of the packages, each with the ones it holds (one component
        entry per dict of ``extra[package_id]``, merged in: the advisories that hit it),
        sorted by repository and digest."""
        hits: dict[int, ImageHit] = {}
        seen: set[tuple[int, int]] = set()
        # One statement (tags joined in): a round trip per answer, not per 500 images.
        for part in chunks(sorted(set(package_ids))):
            for image_id, repository, digest, reference, recorded, pid, purl, version, tag in \
                    self.query(
                        "SELECT i.id, i.repository, i.digest, i.reference, i.recorded_at, "
                        "p.id, p.purl, p.version, t.tag FROM image_packages ip "
                        "JOIN images i ON i.id = ip.image_id "
                        "JOIN packages p ON p.id = ip.package_id "
                        "LEFT JOIN tags t ON t.image_id = i.id "
                        f"WHERE ip.package_id IN ({marks(len(part))})", part):
                hit = hits.get(int(image_id))
                if hit is None:
                    hit = hits[int(image_id)] = ImageHit(int(image_id), repository, digest,
                                                         reference, recorded)
                if tag is not None and tag not in hit.tags:
                    hit.tags.append(tag)
                if (int(image_id), int(pid)) in seen:
                    continue
                seen.add((int(image_id), int(pid)))
                for more in (extra or {}).get(int(pid)) or [{}]:
                    hit.components.append({"purl": purl, "version": version, **more})
        for hit in hits.values():
            hit.tags.sort()
            hit.components.sort(key=lambda c: (c["purl"], str(c.get("advisory", ""))))
        return sorted(hits.values(), key=lambda h: (h.repository, h.digest))

    def images_by_id(self, image_ids: Sequence[int]) -> dict[int, ImageHit]:
        hits: dict[int, ImageHit] = {}
        for part in chunks(sorted(set(image_ids))):
            for image_id, repository, digest, reference, recorded in self.query(
                    "SELECT id, repository, digest, reference, recorded_at FROM images "
                    f"WHERE id IN ({marks(len(part))})", part):
                hits[int(image_id)] = ImageHit(int(image_id), repository, digest, reference,
                                               recorded)
        self._fill_tags(hits)
        return hits

    def _fill_tags(self, hits: dict[int, ImageHit]) -> None:
        for part in chunks(sorted(hits)):
            for image_id, tag in self.query(
                    f"SELECT image_id, tag FROM tags WHERE image_id IN ({marks(len(part))}) "
                    "ORDER BY tag", part):
                hits[int(image_id)].tags.append(tag)

    def image_count(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM images")[0][0])

    # ------------------------------------------------------------------- rescan bookkeeping
    def begin_rescan(self) -> int:
        return int(self.query("INSERT INTO rescans (started_at) VALUES (?) RETURNING id",
                              (now(),))[0][0])

    def finish_rescan(self, rescan: int) -> None:
        self.query("UPDATE rescans SET finished_at = ? WHERE id = ?", (now(), rescan))
        self.query("UPDATE images SET rescanned = ? WHERE rescanned = 0", (rescan,))

    def has_matched_packages(self) -> bool:
        return bool(self.query("SELECT 1 FROM packages WHERE matched <> 0 LIMIT 1"))

    def unmatched_packages(self) -> list[PackageRow]:
        return [PackageRow(int(i), p, v) for i, p, v in self.query(
            "SELECT id, purl, version FROM packages WHERE matched = 0 ORDER BY id")]

    def mark_matched(self, package_ids: Sequence[int], rescan: int) -> None:
        for part in chunks(sorted(package_ids)):
            self.query(f"UPDATE packages SET matched = ? WHERE id IN ({marks(len(part))})",
                       (rescan, *part))

    def advisory_state(self) -> dict[str, str]:
        return {a: h for a, h in self.query("SELECT advisory, hash FROM advisory_state")}

    def set_advisory_state(self, changed: dict[str, str], removed: Sequence[str]) -> None:
        for part in chunks(sorted({*changed, *removed})):
            self.query(f"DELETE FROM advisory_state WHERE advisory IN ({marks(len(part))})",
                       part)
        self.execute_many("INSERT INTO advisory_state VALUES (?, ?)", sorted(changed.items()))

    def findings_of_advisory(self, advisory: str) -> list[StoredFinding]:
        return self._findings("f.advisory = ?", (advisory,))

    def findings_of_packages(self, package_ids: Sequence[int]) -> list[StoredFinding]:
        found: list[StoredFinding] = []
        for part in chunks(sorted(set(package_ids))):
            found += self._findings(f"f.package_id IN ({marks(len(part))})", part)
        return found

    def findings_of_rescan(self, rescan: int) -> list[StoredFinding]:
        return self._findings("f.rescan = ?", (rescan,))

    def _findings(self, where: str, params: Sequence[Any]) -> list[StoredFinding]:
        return [StoredFinding(int(pid), purl, version, advisory,
                              tuple(filter(None, aliases.split(" "))), severity, score,
                              tuple(filter(None, fixed.split(" "))), summary, int(rescan))
                for pid, purl, version, advisory, aliases, severity, score, fixed, summary,
                rescan in
                self.query("SELECT f.package_id, p.purl, p.version, f.advisory, f.aliases, "
                           "f.severity, "
                           "f.score, f.fixed, f.summary, f.rescan FROM findings f "
                           f"JOIN packages p ON p.id = f.package_id WHERE {where} "
                           "ORDER BY f.package_id, f.advisory", params)]

    def delete_findings(self, advisory: str) -> None:
        self.query("DELETE FROM findings WHERE advisory = ?", (advisory,))

    def add_findings(self, findings: Iterable[StoredFinding]) -> None:
        self.execute_many(
            "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(f.package_id, f.advisory, " ".join(f.aliases), f.severity, f.score,
              " ".join(f.fixed), f.summary, f.rescan) for f in findings])

    def new_images(self) -> list[int]:
        """Images recorded (or whose components changed) since the last rescan."""
        return [int(r[0]) for r in self.query("SELECT id FROM images WHERE rescanned = 0")]

    def packages_of_images(self, image_ids: Sequence[int]) -> list[int]:
        ids: set[int] = set()
        for part in chunks(sorted(image_ids)):
            ids |= {int(r[0]) for r in self.query(
                "SELECT package_id FROM image_packages WHERE image_id IN "
                f"({marks(len(part))})", part)}
        return sorted(ids)

    def severity_counts(self, image_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """image id -> {severity: number of findings}, counted by the database."""
        counts: dict[int, dict[str, int]] = {}
        for part in chunks(sorted(set(image_ids))):
            for image_id, severity, count in self.query(
                    "SELECT ip.image_id, f.severity, COUNT(*) FROM image_packages ip "
                    "JOIN findings f ON f.package_id = ip.package_id "
                    f"WHERE ip.image_id IN ({marks(len(part))}) "
                    "GROUP BY ip.image_id, f.severity", part):
                counts.setdefault(int(image_id), {})[severity] = int(count)
        return counts

    def image_ids_with(self, package_ids: Sequence[int]) -> dict[int, set[int]]:
        """package id -> ids of the images holding it."""
        holders: dict[int, set[int]] = {}
        for part in chunks(sorted(set(package_ids))):
            for pid, image_id in self.query(
                    "SELECT package_id, image_id FROM image_packages WHERE package_id IN "
                    f"({marks(len(part))})", part):
                holders.setdefault(int(pid), set()).add(int(image_id))
        return holders
