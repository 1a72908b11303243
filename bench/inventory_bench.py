"""The inventory at fleet size: N images x M components on SQLite and on PostgreSQL.

One command: ``.venv/bin/python bench/inventory_bench.py [--images 10000] [--components 500]
[--queries 200] [--backends sqlite,postgres]``. Synthetic images made of real package names and
versions from the OSV exports in ../shared (PyPI, Go), drawn so that images share packages as
a real fleet does. For each backend (PostgreSQL: a throwaway server of Debian's postgresql,
started here): load time, ``query --purl`` and ``query --vuln`` latency (in-process, p50/p99
over random packages and CVE aliases; the CLI adds its Python start-up), a first full rescan,
then one new advisory imported and a rescan: time and rows touched. Goal: queries under 100 ms
p99; the rescan after one advisory touches only the affected rows. Prints markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from osv_pool import cve_aliases, exports, package_pool  # noqa: E402

from devstack.postgres import postgres_server  # noqa: E402
from oci_attest.inventory import open_inventory, query  # noqa: E402
from oci_attest.inventory.base import ImageRecord  # noqa: E402
from oci_attest.inventory.rescan import rescan  # noqa: E402
from oci_attest.vulns.store import AdvisoryStore  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def fleet(images: int, components: int, pool: list[str]) -> Iterator[ImageRecord]:
    """Images drawn from a few "base" package sets plus their own packages, like a fleet.
    Generated (the same for each backend), not held: a query process does not carry 5 million
    purls on its heap, and the garbage collector walking them would be measured as latency."""
    rng = random.Random(5)
    bases = [rng.sample(pool, components // 2) for _ in range(20)]
    for index in range(images):
        own = rng.sample(pool, components)
        purls = list(dict.fromkeys(bases[index % len(bases)] + own))[:components]
        digest = f"sha256:{index:064x}"
        repository = f"registry.example/team{index % 50}/app{index % 400}"
        yield ImageRecord(repository, digest, f"{repository}@{digest}", "bench",
                          (f"v{index}",), tuple(purls))


def bench(location: str, records: Iterator[ImageRecord], vulndb: Path, work: Path,
          queries: int, pool: list[str], cves: list[str]) -> dict[str, str]:
    store = open_inventory(location)
    start = time.perf_counter()
    count = 0
    for record in records:
        store.record_image(record)
        count += 1
    load = time.perf_counter() - start
    gc.collect()
    rng = random.Random(9)
    advisories = AdvisoryStore(vulndb)
    purl_times, purl_hits = [], []
    for purl in rng.sample(pool, queries):
        name = purl.rsplit("@", 1)[0]
        t = time.perf_counter()
        purl_hits.append(len(query.by_purl(store, name)))
        purl_times.append(time.perf_counter() - t)
    vuln_times, vuln_hits = [], []
    for cve in rng.sample(cves, queries):
        t = time.perf_counter()
        vuln_hits.append(len(query.by_vuln(store, advisories, cve)))
        vuln_times.append(time.perf_counter() - t)
    start = time.perf_counter()
    full = rescan(store, advisories)
    full_time = time.perf_counter() - start
    # One new advisory for a package the fleet holds (at every version below 999).
    target = rng.choice([p for p in pool if p.startswith("pkg:pypi/")])
    name = target.split("/", 1)[1].rsplit("@", 1)[0]
    record = {"id": f"PYSEC-2099-{rng.randint(1000, 9999)}", "modified": "2099-01-01T00:00:00Z",
              "affected": [{"package": {"ecosystem": "PyPI", "name": name}, "ranges": [
                  {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "999"}]}]}]}
    new_file = work / f"{record['id']}.json"
    new_file.write_text(json.dumps(record))
    imported = advisories.import_paths([new_file])
    start = time.perf_counter()
    after = rescan(store, advisories)
    after_time = time.perf_counter() - start
    new_findings = len(after.new_findings())
    store.close()
    return {
        "load": f"{load:.0f} s ({count / load:.0f} images/s)",
        "purl": f"{statistics.median(purl_times) * 1000:.1f} / "
                f"{percentile(purl_times, 0.99) * 1000:.1f} ms "
                f"(median {statistics.median(purl_hits):.0f} images)",
        "vuln": f"{statistics.median(vuln_times) * 1000:.1f} / "
                f"{percentile(vuln_times, 0.99) * 1000:.1f} ms "
                f"(median {statistics.median(vuln_hits):.0f} images)",
        "full": f"{full_time:.1f} s ({full.packages_matched} packages matched, "
                f"{len(full.new_images)} new images summarised)",
        "after": f"{after_time * 1000:.0f} ms: {after.advisories_changed} advisory "
                 f"({', '.join(imported.added)}), {after.rows_touched} rows touched, "
                 f"{new_findings} new image findings",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--components", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    pool = package_pool()
    cves = cve_aliases()
    results: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="inventory-bench-") as work_dir:
        work = Path(work_dir)
        template = work / "vulndb"
        AdvisoryStore(template).import_paths(exports())
        for backend in args.backends.split(","):
            vulndb = work / f"vulndb-{backend}"
            vulndb.mkdir()
            (vulndb / "osv.sqlite3").write_bytes((template / "osv.sqlite3").read_bytes())
            with contextlib.ExitStack() as stack:
                location = (stack.enter_context(postgres_server()) if backend == "postgres"
                            else str(work / "inventory.sqlite3"))
                results[backend] = bench(location, fleet(args.images, args.components, pool),
                                         vulndb, work, args.queries, pool, cves)
    print(f"### attest inventory: {args.images} images x {args.components} components "
          f"({len(pool)} distinct real package versions), {args.queries} queries each\n")
    backends = list(results)
    print("| measure | " + " | ".join(backends) + " |")
    print("| --- |" + " --- |" * len(backends))
    for key, label in (("load", "load (`record_image` per image)"),
                       ("purl", "`query --purl` p50 / p99"), ("vuln", "`query --vuln` p50 / p99"),
                       ("full", "first full rescan"),
                       ("after", "rescan after importing one advisory")):
        print(f"| {label} | " + " | ".join(results[b][key] for b in backends) + " |")
    print("\nGoal: query p99 under 100 ms; the rescan after one advisory touches only its rows.")


if __name__ == "__main__":
    main()
