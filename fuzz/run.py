"""Bounded coverage-guided fuzzing of attest's parsers with atheris (libFuzzer for Python).

    python fuzz/run.py --seconds 60            # every target, the time split between them
    python fuzz/run.py --seconds 30 dockerfile bundle

Each target runs in its own process (libFuzzer exits when its time is up) with a corpus under
fuzz/corpus/<target> seeded from fuzz/seeds.py, so runs build on each other. A crash leaves its
input in fuzz/artifacts/ and makes this script exit 1. The table printed at the end gives the
executions per target: the number a closing note quotes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def run_one(name: str, libfuzzer_args: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["oci_attest"]):
        from fuzz.targets import TARGETS
    target = TARGETS[name]
    atheris.Setup([sys.argv[0], *libfuzzer_args], target)
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="total fuzzing time, split between the targets")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.one:
        run_one(args.one, rest)
        return 0
    from fuzz.seeds import write_seeds
    from fuzz.targets import TARGETS

    names = args.targets or list(TARGETS)
    unknown = set(names) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from {sorted(TARGETS)}")
    each = max(1, int(args.seconds / len(names)))
    (HERE / "artifacts").mkdir(exist_ok=True)
    rows, failed = [], False
    for name in names:
        corpus = HERE / "corpus" / name
        write_seeds(name, corpus)
        command = [sys.executable, str(HERE / "run.py"), "--one", name,
                   f"-max_total_time={each}", "-rss_limit_mb=2048", "-timeout=10",
                   "-max_len=65536", f"-artifact_prefix={HERE / 'artifacts'}/{name}-",
                   str(corpus)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        done = re.findall(r"Done (\d+) runs in (\d+) second", result.stderr)
        runs = int(done[-1][0]) if done else 0
        crashed = result.returncode != 0
        failed |= crashed
        rows.append((name, runs, each, "CRASH" if crashed else "ok"))
        if crashed:
            sys.stderr.write(result.stderr[-4000:])
    print(f"{'target':<12} {'executions':>11} {'seconds':>8}  result")
    for name, runs, seconds, outcome in rows:
        print(f"{name:<12} {runs:>11} {seconds:>8}  {outcome}")
    print(f"{'total':<12} {sum(r[1] for r in rows):>11} {sum(r[2] for r in rows):>8}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
