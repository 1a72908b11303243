"""Mutation testing of the security-critical modules: do the tests notice a one-line bug?

    .venv/bin/python bench/mutation.py                      # every target (slow: ~1 h, 2 cores)
    .venv/bin/python bench/mutation.py redact identity      # some targets
    .venv/bin/python bench/mutation.py --list               # the targets and their tests

For each target, mutmut (from the test extra) mutates the module(s) in a scratch copy of the
working tree and runs, for each mutant, only the tests of that target that execute the mutated
function. A surviving mutant is a bug the tests would let through: kill it with a test, or add
it to ``bench/mutation-equivalent.txt`` with the reason it cannot change behaviour. Prints a
markdown table (module, mutants, killed, survived, score) and the survivors; exits 1 if an
unlisted mutant survived. Not part of CI (too slow for two cores); each target is bounded by
``--budget`` seconds of wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "bench" / "mutation-equivalent.txt"


@dataclass(frozen=True)
class Target:
    name: str
    modules: tuple[str, ...]  # globs under the repository root
    tests: tuple[str, ...]  # pytest node ids or paths
    #: mutmut mutant-name globs (``module.x_function__*``, ``module.xǁClassǁmethod__*``) to
    #: narrow a large module to its security-critical functions; empty: all of it.
    functions: tuple[str, ...] = ()


TARGETS = [
    Target("redact", ("oci_attest/redact.py",), ("tests/core/test_redact.py",)),
    Target("secrets", ("oci_attest/secrets/rules.py",),
           ("tests/secrets/test_rules.py", "tests/secrets/test_rule_edges.py")),
    Target("identity", ("oci_attest/verify/identity_rules.py", "oci_attest/verify/policy.py",
                        "oci_attest/verify/identity.py"),
           ("tests/verify/test_policy.py", "tests/verify/test_identity_edges.py",
            "tests/verify/test_identity_values.py"),
           ("oci_attest.verify.identity_rules.xǁIdentityRuleǁmismatch__*",
            "oci_attest.verify.identity_rules.x_normalize_repository__*",
            "oci_attest.verify.identity_rules.x_certificate_repository__*",
            "oci_attest.verify.identity_rules.x_signer_workflow_matches__*",
            "oci_attest.verify.policy.x_repository_allowed__*",
            "oci_attest.verify.policy.x_ref_allowed__*",
            "oci_attest.verify.identity.*")),
    Target("retry", ("oci_attest/_internal/retry.py",),
           ("tests/core/test_retry.py", "tests/registry/test_client.py")),
    Target("materials", ("oci_attest/collect/materials.py",), ("tests/core/test_materials.py",)),
    Target("checks", ("oci_attest/verify/checks.py", "oci_attest/verify/judge.py"),
           ("tests/verify/test_policy.py", "tests/verify/test_adversarial.py",
            "tests/verify/test_build_output.py")),
    Target("bundles", ("oci_attest/verify/bundles.py", "oci_attest/verify/bundle_parse.py",
                       "oci_attest/verify/signature.py", "oci_attest/verify/tlog.py",
                       "oci_attest/verify/timestamps.py", "oci_attest/verify/certificate.py"),
           ("tests/verify/test_bundles.py", "tests/verify/test_forged_bundles.py",
            "tests/verify/test_hostile_input.py", "tests/verify/test_conformance_bundles.py")),
    Target("registry-client", ("oci_attest/registry/client.py", "oci_attest/registry/content.py",
                               "oci_attest/registry/bodies.py"),
           ("tests/registry", "tests/hostile/test_registry_content.py")),
]
#: Copied next to the package so that the tests run in the scratch copy as in the worktree.
ALSO_COPY = ("tests", "devstack", "templates", "examples", "README.md")


def scratch_copy(target: Target, work: Path) -> None:
    """The working tree (tracked and new files, not ignored ones) plus mutmut's settings."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    settings = "\n".join([
        "", "[tool.mutmut]",
        'source_paths = ["oci_attest"]',
        f"only_mutate = {list(target.modules)!r}",
        f"also_copy = {list(ALSO_COPY)!r}",
        f"pytest_add_cli_args_test_selection = {list(target.tests)!r}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-p", "no:randomly"]',
        "use_git_change_detection = false",
        "timeout_multiplier = 5.0",
        "",
    ]).replace("'", '"')
    with (work / "pyproject.toml").open("a") as pyproject:
        pyproject.write(settings)


def run_target(target: Target, budget: float, children: int,
               known: dict[str, str]) -> tuple[dict[str, str], dict[str, str], float]:
    """Mutant name -> status ('killed', 'survived', 'timeout', ...), the diff of each unlisted
    survivor, and seconds taken."""
    work = Path(tempfile.mkdtemp(prefix=f"attest-mutation-{target.name}-"))
    started = time.monotonic()
    try:
        scratch_copy(target, work)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.setdefault("ATTEST_CACHE", str(Path.home() / ".cache" / "attest-devstack"))
        mutmut = [sys.executable, "-m", "mutmut"]
        log_path = work / "mutmut.log"
        try:
            with log_path.open("w") as log:
                done = subprocess.run(
                    [*mutmut, "run", "--max-children", str(children), *target.functions],
                    cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=budget,
                    check=False)
            if done.returncode != 0:  # e.g. the tests fail before any mutation
                tail = log_path.read_text(errors="replace")[-1500:]
                print(f"{target.name}: mutmut exited {done.returncode}:\n{tail}", file=sys.stderr)
        except subprocess.TimeoutExpired:
            print(f"{target.name}: stopped after the {budget:.0f} s budget", file=sys.stderr)
        listing = subprocess.run([*mutmut, "results", "--all", "true"], cwd=work, env=env,
                                 capture_output=True, text=True, check=False).stdout
        results = {name: status for name, status in parse_results(listing).items()
                   if not target.functions
                   or any(fnmatch.fnmatchcase(name, f) for f in target.functions)}
        diffs = {name: subprocess.run([*mutmut, "show", name], cwd=work, env=env,
                                      capture_output=True, text=True, check=False).stdout
                 for name, status in results.items() if status == "survived"
                 and name not in known}
        return results, diffs, time.monotonic() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parse_results(listing: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in listing.splitlines():
        match = re.match(r"^\s*(\S+__mutmut_\d+): (.+?)\s*$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def equivalent() -> dict[str, str]:
    """Mutants shown to be equivalent: ``name  reason`` per line (``#`` comments)."""
    listed: dict[str, str] = {}
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, why = line.partition(" ")
                listed[name] = why.strip()
    return listed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="target names (default: all)")
    parser.add_argument("--budget", type=float, default=900.0,
                        help="seconds of wall time per target (default 900)")
    parser.add_argument("--children", type=int, default=2, help="parallel mutants (default 2)")
    parser.add_argument("--mutants", nargs="+", default=(), metavar="GLOB",
                        help="only mutants whose names match (e.g. '*pinned_dockerfile*')")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    args = parser.parse_args(argv)
    chosen = [t for t in TARGETS if not args.targets or t.name in args.targets]
    if args.mutants:
        chosen = [dataclasses.replace(t, functions=tuple(args.mutants)) for t in chosen]
    unknown = set(args.targets) - {t.name for t in TARGETS}
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from "
                     f"{[t.name for t in TARGETS]}")
    if args.list:
        for target in TARGETS:
            print(f"{target.name}: {' '.join(target.modules)} <- {' '.join(target.tests)}")
        return 0
    known = equivalent()
    rows: list[str] = []
    survivors: dict[str, str] = {}
    for target in chosen:
        results, diffs, seconds = run_target(target, args.budget, args.children, known)
        killed = sum(1 for s in results.values() if s in ("killed", "timeout"))
        survived = [m for m, s in results.items() if s == "survived"]
        excused = [m for m in survived if m in known]
        others = Counter(s for s in results.values()
                         if s not in ("killed", "timeout", "survived"))
        other = sum(others.values())
        other_text = f"{other} ({', '.join(f'{n} {s}' for s, n in others.items())})" \
            if other else "0"
        score = (killed + len(excused)) / max(1, killed + len(survived))
        rows.append(f"| {target.name} | {len(results)} | {killed} | {len(survived)} "
                    f"({len(excused)} equivalent) | {other_text} | {score:.0%} | {seconds:.0f} s |")
        survivors.update(diffs)
    print("| target | mutants | killed | survived | not run | score | time |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if survivors:
        print("\nSurviving mutants (kill them, or list them in bench/mutation-equivalent.txt):")
        for name, diff in survivors.items():
            print(f"\n{name}\n```diff\n{diff.strip()}\n```")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
