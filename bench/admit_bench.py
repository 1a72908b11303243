"""Admission webhook throughput and latency: cached verdicts and first sight of a digest.

Starts a registry and the local Sigstore stack on 127.0.0.1, pushes images with a signed SLSA
provenance and CycloneDX SBOM each (the verify benchmark's helpers), runs ``attest admit
serve`` as its own process over TLS, and drives ``POST /validate`` with real AdmissionReviews
from a pool of client threads (keep-alive connections):

* **cached**: one digest, verified once beforehand; ``--concurrency`` clients for ``--seconds``;
* **first sight**: ``--images`` digests never seen before, all requested at once (up to
  ``--concurrency`` in flight), so every answer includes one full verification.

Every answer must be ``allowed: true``. The load generator runs on the same machine (and
cores) as the server, so the figures are a floor for what one replica holds.

    .venv/bin/python bench/admit_bench.py [--seconds 30] [--concurrency 100] [--images 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from verify_bench import REPOSITORY, prepare  # noqa: E402

from devstack import services  # noqa: E402
from devstack.sigstore import SigstoreStack  # noqa: E402
from oci_attest.admit.certs import make_serving_certificate, write_certificate  # noqa: E402


def review(image: str) -> bytes:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench"},
           "spec": {"containers": [{"name": "app", "image": image}]}}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": str(uuid.uuid4()),
                                   "kind": {"group": "", "version": "v1", "kind": "Pod"},
                                   "namespace": "prod", "operation": "CREATE",
                                   "object": pod}}).encode()


class Client(threading.local):
    session: requests.Session | None = None


def ask(url: str, ca: str, image: str, local: Client) -> float:
    if local.session is None:
        local.session = requests.Session()
    started = time.perf_counter()
    answer = local.session.post(f"{url}/validate", data=review(image), verify=ca, timeout=30,
                                headers={"Content-Type": "application/json"})
    elapsed = time.perf_counter() - started
    if answer.status_code != 200 or not answer.json()["response"]["allowed"]:
        raise SystemExit(f"not admitted: {answer.status_code} {answer.text[:300]}")
    return elapsed


def hammer(pool: ThreadPoolExecutor, url: str, ca: str, image: str, local: Client,
           clients: int, seconds: float) -> tuple[list[float], float]:
    """``clients`` threads asking for one cached digest for ``seconds``: latencies, duration."""
    samples: list[float] = []
    stop = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < stop:
            samples.append(ask(url, ca, image, local))

    started = time.monotonic()
    for future in [pool.submit(loop) for _ in range(clients)]:
        future.result()
    return samples, time.monotonic() - started


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--low-concurrency", type=int, default=4,
                        help="also measure cached verdicts with this many clients")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_text, SigstoreStack.start() as stack, \
            services.running_registry(Path(scratch_text) / "registry") as registry:
        scratch = Path(scratch_text)
        trust_config = stack.write_trust_config(scratch / "trust-config.json")
        images = [prepare(stack, registry, f"admit{i}", components=50,
                          layouts_used="referrers", size=4096, tag=f"v{i}")
                  for i in range(options.images + 1)]
        config = scratch / "admit.yaml"
        config.write_text(json.dumps({"policies": [{
            "name": "bench", "images": [f"{registry.host}/bench/*"],
            "policy": {"identities": [{
                "issuer": stack.issuer("github"),
                "subject": stack.expected_identity("github", repository=REPOSITORY)}],
                "trust": {"trustConfig": str(trust_config)}, "sbom": {"required": True}}}],
            "cache": {"maxEntries": 10000}}))
        write_certificate(make_serving_certificate("bench", "bench",
                                                   extra_names=("127.0.0.1",)), scratch / "tls")
        port = services.free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "oci_attest", "admit", "serve", "--config", str(config),
             "--listen", f"127.0.0.1:{port}", "--tls-cert", str(scratch / "tls" / "tls.crt"),
             "--tls-key", str(scratch / "tls" / "tls.key")], cwd=ROOT)
        url, ca = f"https://127.0.0.1:{port}", str(scratch / "tls" / "ca.crt")
        try:
            services.wait_for(lambda: requests.get(f"{url}/healthz", verify=ca,
                                                   timeout=1).ok, 60, "attest admit serve")
            local = Client()
            with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
                half = 1 + options.images // 2
                alone = [ask(url, ca, image, local) for image in images[1:half]]
                burst = list(pool.map(lambda image: ask(url, ca, image, local), images[half:]))
                ask(url, ca, images[0], local)  # the cached scenario's digest, verified once
                runs = {clients: hammer(pool, url, ca, images[0], local, clients,
                                        options.seconds)
                        for clients in sorted({options.low_concurrency, options.concurrency})}
        finally:
            server.terminate()
            server.wait(10)
        environment = services.environment_summary()
    print(f"attest admit serve, one replica (local registry {environment.get('registry')}, "
          f"local Sigstore stack, Python {environment.get('python')}; TLS, keep-alive; "
          f"clients on the same 2 cores)\n")
    print("| scenario | requests | req/s | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- |")
    for clients, (cached, duration) in runs.items():
        print(f"| cached verdict, {clients} clients, {options.seconds:g} s | {len(cached)} | "
              f"{len(cached) / duration:.0f} | {statistics.median(cached) * 1000:.1f} | "
              f"{percentile(cached, 0.99):.1f} |")
    for label, first in (("one at a time", alone), ("all at once", burst)):
        print(f"| first sight, {label} (provenance + SBOM verified) | {len(first)} | - | "
              f"{statistics.median(first) * 1000:.0f} | {percentile(first, 0.99):.0f} |")


if __name__ == "__main__":
    main()
