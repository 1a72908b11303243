"""Memory and time of ``attest verify`` on an image flooded with hostile referrers.

Issue 8 #6: an attacker who can push to a repository attaches N referrers to an image. Each
scenario starts a fresh distribution registry on 127.0.0.1, pushes a small image, stages the
flood (devstack.referrerflood), then runs ``python -m oci_attest verify`` as a new process and
reports its peak RSS (GNU ``time``'s maximum resident set size) and wall time, with the exit code:

* **shared blob**: N distinct referrer manifests all pointing at one large bundle-shaped blob
  (the issue's case; before the fix each referrer held its own copy of the blob; now the
  blob is larger than an attestation may be and is refused unread);
* **at the cap**: the same with a blob just under the per-attestation cap (16 MiB), which is
  read and verified (once), the worst case a single attestation can cost;
* **distinct blobs**: N referrers each with its own 1 MiB blob, more than the read cap allows,
  so the verification must fail closed (exit 3) at the cap, not read them all.

The verification must stay under 200 MB RSS and end within its deadline in every scenario.

    .venv/bin/python bench/referrer_flood.py [--referrers 1000] [--blob-mib 48]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack import services  # noqa: E402
from devstack.referrerflood import flood  # noqa: E402
from oci_attest.reference import parse_reference  # noqa: E402
from oci_attest.registry import media_types as mt  # noqa: E402
from oci_attest.registry.client import RegistryClient  # noqa: E402
from oci_attest.registry.layouts import MAX_ATTESTATION_BYTES  # noqa: E402

LIMIT_MB = 200.0


def push_subject(client: RegistryClient, repository: str) -> str:
    config = client.put_blob(repository, mt.EMPTY_JSON)
    layer = client.put_blob(repository, repository.encode())
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": config.digest, "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": layer.digest, "size": layer.size}],
    }).encode()
    digest, _ = client.put_manifest(repository, "v1", manifest, mt.OCI_MANIFEST)
    return digest


def run_verify(image: str, scratch: Path) -> tuple[float, float, int, str]:
    """Peak RSS (MB, GNU time's %M of the verify process alone) and wall time (s) of one
    verify process, its exit code and its last line on stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    report = scratch / "time.txt"
    started = time.monotonic()
    done = subprocess.run(
        ["/usr/bin/time", "-o", str(report), "-f", "%M",
         sys.executable, "-m", "oci_attest", "verify", image, "--offline",
         "--certificate-identity", "bench@example.com",
         "--certificate-oidc-issuer", "https://issuer.example"],
        capture_output=True, text=True, env=env, timeout=900)
    elapsed = time.monotonic() - started
    peak_kb = int(report.read_text().strip().splitlines()[-1])
    last = (done.stderr.strip().splitlines() or [""])[-1]
    return peak_kb / 1024, elapsed, done.returncode, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrers", type=int, default=1000)
    parser.add_argument("--blob-mib", type=int, default=48)
    parser.add_argument("--distinct", type=int, default=200,
                        help="referrers with their own 1 MiB blob in the second scenario")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch, \
            services.running_registry(Path(scratch) / "registry") as registry:
        client = RegistryClient(registry.host)
        at_cap = MAX_ATTESTATION_BYTES
        scenarios = [
            (f"{args.referrers} referrers, one shared {args.blob_mib} MiB blob", "shared",
             args.referrers, args.blob_mib * 1024 * 1024, True),
            (f"{args.referrers} referrers, one shared blob at the per-attestation cap "
             f"({at_cap // 1024 // 1024} MiB)", "at-cap", args.referrers, at_cap - 1024, True),
            (f"{args.distinct} referrers, distinct 1 MiB blobs", "distinct", args.distinct,
             1024 * 1024, False),
        ]
        for label, repository, count, size, shared in sorted(scenarios, key=lambda s: s[3]):
            digest = push_subject(client, f"flood/{repository}")
            subject = parse_reference(f"{registry.host}/flood/{repository}@{digest}")
            staged = time.monotonic()
            flood(client, subject, count, size, shared_blob=shared)
            print(f"staged {label} in {time.monotonic() - staged:.1f}s", file=sys.stderr)
            rss, seconds, code, last = run_verify(str(subject), Path(scratch))
            rows.append((label, rss, seconds, code, last))
    print("| scenario | peak RSS (MB) | wall time (s) | exit | under 200 MB |")
    print("|---|---:|---:|---:|---|")
    for label, rss, seconds, code, _ in rows:
        print(f"| {label} | {rss:.0f} | {seconds:.1f} | {code} | "
              f"{'yes' if rss < LIMIT_MB else 'NO'} |")
    for label, *_, last in rows:
        print(f"\n{label}: {last[:300]}", file=sys.stderr)


if __name__ == "__main__":
    main()
