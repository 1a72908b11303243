"""attest scan-secrets reads everything now: what that costs in time and memory.

One command: ``.venv/bin/python bench/secret_scan_bench.py [--runs 3]``. It scans, as users run
it (``attest -q scan-secrets``, one process per run, peak RSS via ``wait4``):

* the devstack Debian base (a real distribution: every binary is scanned with the shape rules),
  from a ``docker save`` tar and from a registry on 127.0.0.1;
* a grown image: the same base plus a layer holding one 400 MB file of random bytes (streamed
  through overlapping windows, not skipped) and a private key at its very end, to show that the
  scan finds it and that memory stays flat whatever a file's size.

Prints a markdown table (median of the runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack import services  # noqa: E402
from devstack.baseimage import push_debian_base  # noqa: E402
from tests.secrets.planted import rsa_pem  # noqa: E402

ATTEST = [sys.executable, "-m", "oci_attest", "-q", "scan-secrets"]


def measure(spec: str, expect: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one scan process."""
    start = time.perf_counter()
    process = subprocess.Popen([*ATTEST, spec], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != expect:
        raise SystemExit(f"scan of {spec} exited {code}, expected {expect}: "
                         f"{stderr.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


def grown_image(base: str, work: Path) -> Path:
    """The base plus one 400 MB random file with a private key appended, saved as a tar."""
    context = work / "grown"
    context.mkdir()
    with open(context / "big.bin", "wb") as sink:
        for _ in range(400):
            sink.write(os.urandom(1024 * 1024))
        sink.write(rsa_pem().encode())
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY big.bin /data/big.bin\n")
    subprocess.run(["docker", "build", "-q", "-t", "attest-bench/grown:1", str(context)],
                   check=True, capture_output=True)
    archive = work / "grown.tar"
    subprocess.run(["docker", "save", "-o", str(archive), "attest-bench/grown:1"], check=True)
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    services.ensure_docker_engine()
    with tempfile.TemporaryDirectory(prefix="attest-secret-bench-") as tmp:
        work = Path(tmp)
        registry = services.start_registry(work / "registry")
        try:
            base = push_debian_base(registry.host)
            archive = work / "base.tar"
            subprocess.run(["docker", "save", "-o", str(archive), base], check=True)
            cases = [("Debian base, docker-archive", f"docker-archive:{archive}", 0,
                      archive.stat().st_size),
                     ("Debian base, registry", base, 0, archive.stat().st_size)]
            grown = grown_image(base, work)
            cases.append(("base + 400 MB random file, key at its end",
                          f"docker-archive:{grown}", 7, grown.stat().st_size))
            print("| image | MB | runs | wall s (median) | MB/s | peak RSS MB (max) |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for name, spec, expect, size in cases:
                results = [measure(spec, expect) for _ in range(runs)]
                wall = statistics.median(r[0] for r in results)
                peak = max(r[1] for r in results)
                print(f"| {name} | {size / 1e6:.0f} | {runs} | {wall:.2f} | "
                      f"{size / 1e6 / wall:.0f} | {peak:.0f} |")
        finally:
            registry.stop()
            subprocess.run(["docker", "rmi", "-f", "attest-bench/grown:1"],
                           capture_output=True, check=False)


if __name__ == "__main__":
    main()
