"""Wall-time overhead of `attest build` over plain `docker build && docker push`.

One command: ``.venv/bin/python bench/build_overhead.py [--runs 5]``. It starts a registry and
the local Sigstore stack on loopback, pushes the Debian base, then builds examples/hello
alternately with plain docker and with attest (full, --no-sbom, --no-sign), each run changing
one file so the last layer is rebuilt and pushed, as a CI build of a new commit would. The
layer cache is warm for both (a warm-up run of each comes first). Prints a markdown table, and
a second one with the time of the check after the build (pinned Dockerfile judged without the
parser, built image's layers against the recorded base), which runs on every attest build.
"""

from __future__ import annotations

import argparse
import json
import shutil
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
from devstack.sigstore import SigstoreStack  # noqa: E402

ATTEST = [sys.executable, "-m", "oci_attest"]


def timed(argv: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def timed_json(argv: list[str], cwd: Path | None = None) -> tuple[float, dict[str, object]]:
    """Wall time and the ``--format json`` summary of one attest build."""
    start = time.perf_counter()
    done = subprocess.run([*argv, "--format", "json"], cwd=cwd, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return time.perf_counter() - start, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", action="store_true",
                        help="build without the layer cache (both tools), as a first CI build")
    args = parser.parse_args()
    services.ensure_docker_engine()
    work = Path(tempfile.mkdtemp(prefix="attest-bench-build-"))
    registry = services.start_registry(work / "registry")
    try:
        with SigstoreStack.start() as stack:
            trust = stack.write_trust_config(work / "trust-config.json")
            base = push_debian_base(registry.host)
            project = work / "hello"
            shutil.copytree(ROOT / "examples" / "hello", project)
            subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
            subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "add", "-A"],
                           cwd=project, check=True)
            subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm",
                            "bench"], cwd=project, check=True)
            repo = f"{registry.host}/bench/hello"
            cache = ["--no-cache"] if args.cold else []
            variants: dict[str, list[str]] = {
                "attest build (sign + SBOM + both layouts)": [],
                "attest build --no-sbom": ["--no-sbom"],
                "attest build --no-sign --no-sbom": ["--no-sign", "--no-sbom"],
            }
            results: dict[str, list[float]] = {"docker build && docker push": []}
            results.update({name: [] for name in variants})

            def plain(n: int) -> float:
                tag = f"{repo}:plain-{n}"
                build = timed(["docker", "build", "-q", *cache, "--network", "host", "--build-arg",
                               f"BASE={base}", "-t", tag, str(project)])
                return build + timed(["docker", "push", tag])

            steps: dict[str, list[float]] = {"check-build": [], "build": [], "collect": []}

            def attested(n: int, name: str, extra: list[str]) -> float:
                seconds, summary = timed_json(
                    [*ATTEST, "build", str(project), "-t", f"{repo}:a{n}", "--network",
                     "host", "--build-arg", f"BASE={base}", "--trust-config",
                     str(trust), "--identity-token",
                     stack.mint_token("bench@attest.test"), *cache, *extra])
                timings = summary.get("timings")
                if n >= 10 and isinstance(timings, dict):  # not the warm-up
                    for step, values in steps.items():
                        values.append(float(timings.get(step, 0.0)))
                return seconds

            for n in range(args.runs + 1):  # run 0 is the warm-up, not recorded
                (project / "app" / "build.txt").write_text(f"run {n} {time.time()}\n")
                measured = {"docker build && docker push": plain(n)}
                for index, (name, extra) in enumerate(variants.items()):
                    (project / "app" / "build.txt").write_text(f"run {n}.{index} {time.time()}\n")
                    measured[name] = attested(n * 10 + index, name, extra)
                if n:
                    for name, seconds in measured.items():
                        results[name].append(seconds)
            baseline = statistics.median(results["docker build && docker push"])
            print(f"\n{args.runs} runs each, alternating, "
                  f"{'no layer cache' if args.cold else 'warm layer cache'}; environment: "
                  f"{services.environment_summary()}\n")
            print("| command | median s | min s | max s | overhead vs docker (median) |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for name, values in results.items():
                median = statistics.median(values)
                print(f"| {name} | {median:.2f} | {min(values):.2f} | {max(values):.2f} | "
                      f"{median - baseline:+.2f} s ({(median / baseline - 1) * 100:+.0f}%) |")
            print("\nSteps of attest build, over every attest run above (the check after the "
                  "build runs on every build):\n")
            print("| step | median ms | min ms | max ms |")
            print("| --- | ---: | ---: | ---: |")
            labels = {"collect": "collect (parse, resolve, read bases)", "build": "docker build",
                      "check-build": "check after the build (pins, base layers, platform)"}
            for step, values in steps.items():
                print(f"| {labels[step]} | {statistics.median(values) * 1000:.0f} | "
                      f"{min(values) * 1000:.0f} | {max(values) * 1000:.0f} |")
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
