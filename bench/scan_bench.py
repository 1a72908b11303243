"""attest scan of a 500-component SBOM against the whole imported advisory database.

One command: ``.venv/bin/python bench/scan_bench.py [--components 500] [--runs 5]``. It imports
the real PyPI and Go OSV exports in ../shared into a fresh database (timed, and the incremental
re-import too), writes a CycloneDX SBOM of real package names from those exports (some at
affected versions, some not), and runs ``attest scan sbom:FILE --format json`` as users do:
wall time and peak RSS per process (``wait4``), plus the matching alone in-process (the CLI's
Python start-up and imports are the rest). Goal: under 1 s. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from osv_pool import exports, package_pool  # noqa: E402

from oci_attest.vulns.match import match_components  # noqa: E402
from oci_attest.vulns.store import AdvisoryStore  # noqa: E402


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed: {process.stderr.read() if process.stderr else ''}")
    return elapsed, usage.ru_maxrss * 1024, out.decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--components", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as work:
        vulndb = Path(work) / "vulndb"
        start = time.perf_counter()
        result = AdvisoryStore(vulndb).import_paths(exports())
        import_time = time.perf_counter() - start
        start = time.perf_counter()
        again = AdvisoryStore(vulndb).import_paths(exports())
        reimport_time = time.perf_counter() - start
        purls = random.Random(11).sample(package_pool(), args.components)
        sbom = Path(work) / "app.cdx.json"
        sbom.write_text(json.dumps({
            "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "components": [{"type": "library", "name": p.split("/")[-1].split("@")[0],
                            "version": p.rsplit("@", 1)[1], "purl": p} for p in purls]}))
        argv = [sys.executable, "-m", "oci_attest", "scan", f"sbom:{sbom}", "--vulndb",
                str(vulndb), "--format", "json"]
        walls, rss = [], []
        findings = 0
        for _ in range(args.runs):
            wall, peak, out = run_measured(argv, env)
            walls.append(wall)
            rss.append(peak)
            findings = len(json.loads(out)["findings"])
        matching = []
        for _ in range(args.runs):
            store = AdvisoryStore(vulndb)
            start = time.perf_counter()
            match_components(store, purls)
            matching.append(time.perf_counter() - start)
            store.close()
        baseline, _, _ = run_measured([sys.executable, "-c", "import oci_attest.cli.vulns"], env)
    print(f"### attest scan: {args.components}-component SBOM against the PyPI + Go OSV "
          f"exports ({result.read} records)\n")
    print("| measure | value |\n| --- | --- |")
    print(f"| `vulndb import` (fresh, {len(result.added)} records) | {import_time:.2f} s |")
    print(f"| `vulndb import` again (incremental: {again.unchanged} unchanged) | "
          f"{reimport_time:.2f} s |")
    print(f"| `attest scan sbom:` wall, median of {args.runs} | {statistics.median(walls):.3f} s |")
    print(f"| `attest scan sbom:` wall, max | {max(walls):.3f} s |")
    print(f"| peak RSS (max) | {max(rss) / 2**20:.0f} MiB |")
    print(f"| matching alone (in-process, median) | {statistics.median(matching) * 1000:.0f} ms |")
    print(f"| Python start-up + CLI imports (floor) | {baseline:.3f} s |")
    print(f"| findings | {findings} |")
    print("\nGoal: under 1 s for a 500-component SBOM.")


if __name__ == "__main__":
    main()
