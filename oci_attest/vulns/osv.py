"""OSV records: what an advisory says is affected, and whether a given version is.

The evaluation follows the OSV schema's own algorithm: the events of an ``ECOSYSTEM`` or
``SEMVER`` range are ordered by the ecosystem's version order (``introduced: "0"`` first), a
version is affected from an ``introduced`` up to (not including) a ``fixed``, or up to and
including a ``last_affected``; a ``limit`` bounds the range from above. An explicit
``versions`` list is an independent way to say "affected". ``GIT`` ranges name commits, which
an image's components do not carry, and are not evaluated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from oci_attest.vulns.versions import VersionOrder, order_for

_PEP503 = re.compile(r"[-_.]+")


def normalize_name(ecosystem: str, name: str) -> str:
    """The package name as advisories and components must both be compared."""
    base = ecosystem.split(":", 1)[0]
    if base == "PyPI":
        return _PEP503.sub("-", name).lower()
    if base in ("Debian", "Ubuntu", "Alpine", "crates.io"):
        return name.lower()
    return name


@dataclass(frozen=True)
class AffectedPackage:
    """One ``affected[]`` entry of a record, reduced to what matching needs."""

    ecosystem: str
    name: str
    ranges: tuple[dict[str, Any], ...]
    versions: frozenset[str]

    def affects(self, version: str) -> tuple[bool, tuple[str, ...]]:
        """Whether ``version`` is affected, and the fixed versions of the range(s) that say so."""
        order = order_for(self.ecosystem)
        listed = version in self.versions
        hit_fixed: list[str] = []
        all_fixed: list[str] = []
        hit = listed
        for item in self.ranges:
            if item.get("type") not in ("ECOSYSTEM", "SEMVER") or order is None:
                continue
            fixed = [str(e["fixed"]) for e in item.get("events") or []
                     if isinstance(e, dict) and "fixed" in e]
            all_fixed += fixed
            if _in_range(item.get("events") or [], version, order):
                hit = True
                hit_fixed += fixed
        candidates = hit_fixed or (all_fixed if listed else [])
        return hit, _later(dict.fromkeys(candidates), version, order) if hit else ()


def _later(fixed: Any, version: str, order: VersionOrder | None) -> tuple[str, ...]:
    """Fixed versions after ``version``, earliest first: the first is the upgrade to make."""
    if order is None or order.key(version) is None:
        return tuple(fixed)
    target: Any = order.key(version)
    later: list[tuple[Any, str]] = [(order.key(f), f) for f in fixed if order.key(f) is not None]
    try:
        return tuple(f for _, f in sorted(p for p in later if p[0] > target))
    except TypeError:
        return tuple(fixed)


def _in_range(events: list[Any], version: str, order: VersionOrder) -> bool:
    target = order.key(version)
    if target is None:
        return False
    first: list[tuple[Any, str]] = []   # introduced "0": before everything
    keyed: list[tuple[Any, str]] = []
    limits: list[Any] = []
    for event in events:
        if not isinstance(event, dict) or len(event) != 1:
            continue
        kind, value = next(iter(event.items()))
        value = str(value)
        if kind == "introduced" and value == "0":
            first.append((None, kind))
            continue
        key = order.key(value)
        if key is None:
            return False  # a range we cannot order is not guessed at
        if kind == "limit":
            limits.append(key)
        elif kind in ("introduced", "fixed", "last_affected"):
            keyed.append((key, kind))
    try:
        ordered = first + sorted(keyed, key=lambda item: item[0])
        affected = False
        for key, kind in ordered:
            if kind == "introduced" and (key is None or target >= key):
                affected = True
            elif (kind == "fixed" and target >= key) or (kind == "last_affected" and target > key):
                affected = False
        if affected and limits:
            affected = any(target < limit for limit in limits)
    except TypeError:  # versions of two different orders: not comparable, not guessed
        return False
    return affected


@dataclass(frozen=True)
class Advisory:
    id: str
    modified: str
    aliases: tuple[str, ...]
    summary: str
    withdrawn: bool
    severity: tuple[dict[str, str], ...]
    database_severity: str | None
    affected: tuple[AffectedPackage, ...] = field(default=())


def parse_record(record: Any) -> Advisory | None:
    """An OSV JSON record; ``None`` for something that is not one (skipped with a count)."""
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return None
    affected = []
    for entry in record.get("affected") or []:
        package = entry.get("package") if isinstance(entry, dict) else None
        if not isinstance(package, dict):
            continue
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if not isinstance(ecosystem, str) or not isinstance(name, str):
            continue
        ranges = tuple(r for r in entry.get("ranges") or [] if isinstance(r, dict))
        versions = frozenset(str(v) for v in entry.get("versions") or [])
        affected.append(AffectedPackage(ecosystem, normalize_name(ecosystem, name), ranges,
                                        versions))
    database = record.get("database_specific")
    level = database.get("severity") if isinstance(database, dict) else None
    return Advisory(
        id=record["id"], modified=str(record.get("modified") or ""),
        aliases=tuple(str(a) for a in record.get("aliases") or []),
        summary=str(record.get("summary") or record.get("details") or "")[:300],
        withdrawn=bool(record.get("withdrawn")),
        severity=tuple(s for s in record.get("severity") or [] if isinstance(s, dict)),
        database_severity=level.upper() if isinstance(level, str) else None,
        affected=tuple(affected))
