"""``attest rescan``: every recorded image against the current advisory database, reporting
only what is new since the last rescan.

Matching is a function of a package version and an advisory, so findings are stored per
package, and an image's findings are its packages' findings. That makes a rescan incremental
in both directions:

* advisories added or changed since the last rescan are found by comparing each record's
  content hash with the hash stored at the last rescan (the same hashes ``vulndb import`` uses
  to report added/changed ids, so this also catches imports made by other processes); each is
  re-evaluated against only the packages it names (index lookup by ecosystem and name), and
  its old rows are replaced;
* packages first seen since the last rescan (from newly recorded images) are matched against
  the whole database.

Nothing else is read or written, so after importing one advisory a rescan of ten thousand
images touches the few rows that advisory names. A finding is *new* when its package had no
finding of that advisory (or of one of its aliases) before; a newly recorded image's findings
are all new. Everything happens in one transaction under the store's writer lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oci_attest.inventory.base import ImageHit, InventoryStore, StoredFinding
from oci_attest.vulns.match import Finding, component_from_purl, finding_for
from oci_attest.vulns.osv import Advisory
from oci_attest.vulns.store import AdvisoryStore


@dataclass
class RescanResult:
    rescan: int
    images: int
    advisories_changed: int
    packages_matched: int
    rows_touched: int
    resolved: int
    new: list[ImageHit] = field(default_factory=list)
    #: Images matched for the first time: their findings are counted, not listed (a fleet's
    #: first rescan would list millions), per severity.
    new_images: list[dict[str, Any]] = field(default_factory=list)

    def new_findings(self) -> list[dict[str, Any]]:
        return [c for image in self.new for c in image.components]

    def to_json(self) -> dict[str, Any]:
        return {"rescan": self.rescan, "images": self.images,
                "advisoriesChanged": self.advisories_changed,
                "packagesMatched": self.packages_matched, "rowsTouched": self.rows_touched,
                "resolved": self.resolved, "new": [image.to_json() for image in self.new],
                "newImages": self.new_images}


def _stored(finding: Finding, package_id: int, rescan: int) -> StoredFinding:
    return StoredFinding(package_id, finding.purl, finding.version, finding.id,
                         tuple(finding.aliases),
                         finding.severity.level, finding.severity.score, tuple(finding.fixed),
                         finding.summary[:500], rescan)


def rescan(store: InventoryStore, advisories: AdvisoryStore) -> RescanResult:
    with store.transaction():
        store.lock()
        rid = store.begin_rescan()
        current = advisories.fingerprints()
        previous = store.advisory_state()
        changed = {a: h for a, h in current.items() if previous.get(a) != h}
        removed = [a for a in previous if a not in current]
        result = RescanResult(rid, store.image_count(), len(changed) + len(removed), 0, 0, 0)
        if store.has_matched_packages():
            for advisory_id in [*sorted(changed), *sorted(removed)]:
                record = advisories.advisory(advisory_id) if advisory_id in current else None
                _reevaluate(store, advisory_id, record, rid, result)
        _match_new_packages(store, advisories, rid, result)
        new_images = set(store.new_images())
        result.new = _report(store, rid, new_images)
        result.new_images = _summaries(store, new_images)
        store.set_advisory_state(changed, removed)
        store.finish_rescan(rid)
    return result


def _reevaluate(store: InventoryStore, advisory_id: str, advisory: Advisory | None, rid: int,
                result: RescanResult) -> None:
    """Replace one advisory's findings on the packages already matched."""
    before = {f.package_id: f for f in store.findings_of_advisory(advisory_id)}
    store.delete_findings(advisory_id)
    result.rows_touched += len(before)
    found: list[StoredFinding] = []
    if advisory is not None and not advisory.withdrawn:
        names = {(a.ecosystem.split(":", 1)[0], a.name) for a in advisory.affected}
        for ecosystem, name in sorted(names):
            for row in store.packages_matching(ecosystem, name):
                component = component_from_purl(row.purl)
                if not row.matched or component is None:
                    continue  # a package first seen now is matched in full below
                result.rows_touched += 1
                finding = finding_for(advisory, component)
                if finding is None or any(f.package_id == row.id for f in found):
                    continue
                seen = before.get(row.id) or _alias_twin(store, row.id, finding)
                found.append(_stored(finding, row.id, seen.rescan if seen else rid))
    result.resolved += len(set(before) - {f.package_id for f in found})
    result.rows_touched += len(found)
    store.add_findings(found)


def _alias_twin(store: InventoryStore, package_id: int,
                finding: Finding) -> StoredFinding | None:
    """A finding already stored on the package under another id of the same vulnerability
    (PYSEC and GHSA records of one CVE): then this one is not news."""
    names = {finding.id, *finding.aliases}
    return next((f for f in store.findings_of_packages([package_id])
                 if f.advisory != finding.id and names & {f.advisory, *f.aliases}), None)


def _match_new_packages(store: InventoryStore, advisories: AdvisoryStore, rid: int,
                        result: RescanResult) -> None:
    rows = store.unmatched_packages()
    cache: dict[tuple[str, str], list[Advisory]] = {}
    found: list[StoredFinding] = []
    for row in rows:
        component = component_from_purl(row.purl)
        if component is None:
            continue
        key = (component.ecosystem, component.name)
        if key not in cache:
            cache[key] = advisories.advisories_for(*key)
        for advisory in cache[key]:
            finding = finding_for(advisory, component)
            if finding is not None:
                found.append(_stored(finding, row.id, rid))
    store.add_findings(found)
    store.mark_matched([row.id for row in rows], rid)
    result.packages_matched = len(rows)
    result.rows_touched += len(rows) + len(found)


def _report(store: InventoryStore, rid: int, new_images: set[int]) -> list[ImageHit]:
    """Findings first seen in this rescan, on the images that were rescanned before."""
    entries: dict[int, list[StoredFinding]] = {}
    fresh = store.findings_of_rescan(rid)
    holders = store.image_ids_with([f.package_id for f in fresh])
    for finding in fresh:
        for image_id in holders.get(finding.package_id, set()) - new_images:
            entries.setdefault(image_id, []).append(finding)
    images = store.images_by_id(sorted(entries))
    for image_id, found in entries.items():
        images[image_id].components = [
            {"purl": f.purl, "version": f.version, "advisory": f.advisory,
             "aliases": list(f.aliases), "severity": f.severity, "score": f.score,
             "fixed": list(f.fixed), "summary": f.summary}
            for f in sorted(found, key=lambda f: (f.purl, f.advisory))]
    return sorted(images.values(), key=lambda h: (h.repository, h.digest))


def _summaries(store: InventoryStore, new_images: set[int]) -> list[dict[str, Any]]:
    counts = store.severity_counts(sorted(new_images))
    images = store.images_by_id(sorted(new_images))
    return [{"reference": hit.reference, "repository": hit.repository, "digest": hit.digest,
             "tags": hit.tags, "findings": counts.get(hit.id, {})}
            for hit in sorted(images.values(), key=lambda h: (h.repository, h.digest))]
