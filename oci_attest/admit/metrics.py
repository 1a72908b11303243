"""The webhook's Prometheus metrics, in a registry of its own (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class AdmitMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "attest_admission_request_seconds", "Time to answer an admission request.",
            ["endpoint"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.verdicts = Counter(
            "attest_admission_verdicts_total", "Image verdicts by policy and result.",
            ["policy", "result"], registry=self.registry)
        self.cache = Counter(
            "attest_admission_cache_total", "Cache lookups by cache and result.",
            ["cache", "result"], registry=self.registry)
        self.registry_errors = Counter(
            "attest_admission_registry_errors_total", "Registry failures during verification.",
            registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
