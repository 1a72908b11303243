"""``attest inventory query``: which recorded images hold a package, or are affected by an
advisory.

``--purl`` finds the package by its purl name (an index lookup), keeps the versions asked for
(exact, or a ``vers:`` range), then the images holding them. ``--vuln`` resolves the id
through the advisory database's alias index (an OSV id, a GHSA or a CVE), looks up each
affected package by the name advisories use, and evaluates each stored *version* once with the
matcher; the images come from the package -> image index. Only the rows that answer are read.
"""

from __future__ import annotations

from typing import Any

from oci_attest.errors import InputError
from oci_attest.inventory.base import ImageHit, InventoryStore
from oci_attest.inventory.keys import in_range, parse_query_purl, parse_vers
from oci_attest.vulns.match import component_from_purl, finding_for
from oci_attest.vulns.store import AdvisoryStore


def by_purl(store: InventoryStore, purl: str, versions: str | None = None) -> list[ImageHit]:
    ptype, pname, exact = parse_query_purl(purl)
    wanted = parse_vers(versions) if versions else None
    rows = [row for row in store.packages_named(ptype, pname)
            if (exact is None or row.version == exact)
            and (wanted is None or in_range(wanted, row.version))]
    return store.images_with([row.id for row in rows])


def by_vuln(store: InventoryStore, advisories: AdvisoryStore, vuln: str) -> list[ImageHit]:
    ids = advisories.ids_for_alias(vuln.strip())
    if not ids:
        raise InputError(f"{vuln} is not in the advisory database",
                         hint="check the id, or import its ecosystem with "
                              "`attest vulndb import`/`update`")
    extra: dict[int, list[dict[str, Any]]] = {}
    for advisory_id in sorted(ids):
        advisory = advisories.advisory(advisory_id)
        if advisory is None or advisory.withdrawn:
            continue
        names = {(a.ecosystem.split(":", 1)[0], a.name) for a in advisory.affected}
        for ecosystem, name in sorted(names):
            for row in store.packages_matching(ecosystem, name):
                component = component_from_purl(row.purl)
                if component is None or row.id in extra:
                    continue
                finding = finding_for(advisory, component)
                if finding is not None:
                    extra[row.id] = [{"advisory": advisory.id, "fixed": finding.fixed,
                                      "severity": finding.severity.level}]
    return store.images_with(sorted(extra), extra)
