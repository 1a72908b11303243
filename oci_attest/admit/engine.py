"""The admission decision: every image of an object, resolved, verified, judged in time.

Per image: the first policy whose image and namespace globs match is chosen; the tag is
resolved to a digest (briefly cached); the digest's evidence is judged by the ``attest
verify`` engine under that policy (cached by digest and policy content, one computation for
any number of concurrent requests). All images of a request are worked on at once, and the
answer is given before the deadline whatever happens: an image whose verification has not
finished in time is denied with that reason (the verification goes on and fills the cache, so
the API server's retry is admitted). A registry failure denies; it is never an allow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Any

from oci_attest.admit.cache import SingleFlightCache
from oci_attest.admit.config import AdmitConfig, AdmitPolicy
from oci_attest.admit.credentials import DockerConfigCredentials, PullSecrets
from oci_attest.admit.metrics import AdmitMetrics
from oci_attest.admit.workloads import ContainerImage, container_images
from oci_attest.errors import AttestError, RegistryError
from oci_attest.pin.sites import with_digest_text
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry.auth import Credentials
from oci_attest.registry.client import RegistryClient
from oci_attest.verify.trust import TrustMaterial

log = logging.getLogger(__name__)

#: Taken off the configured timeout so the answer reaches the API server before it gives up.
RESPONSE_MARGIN_SECONDS = 1.0


@dataclass(frozen=True)
class Judgement:
    """A cached verdict for (digest, policy): passed, and the failed checks when not."""

    passed: bool
    reason: str


@dataclass(frozen=True)
class ImageDecision:
    container: ContainerImage
    allowed: bool
    policy: str | None = None
    enforced: bool = True
    pinned: str | None = None    # name:tag@digest to patch in (verified images only)
    reason: str = ""
    registry_error: bool = False

    def line(self) -> str:
        subject = f"{self.container.label}: image {self.container.image}"
        by = f" by policy {self.policy}" if self.policy else ""
        if self.allowed and not self.reason:
            return f"{subject} admitted{by} ({self.pinned})"
        verb = "admitted with a warning" if self.allowed else "refused"
        return f"{subject} {verb}{by}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"container": self.container.container, "list": self.container.list_name,
                "image": self.container.image, "pointer": self.container.pointer,
                "allowed": self.allowed, "policy": self.policy, "enforced": self.enforced,
                "pinned": self.pinned, "reason": self.reason,
                "registryError": self.registry_error}


@dataclass
class Decision:
    allowed: bool
    images: list[ImageDecision] = field(default_factory=list)
    note: str = ""

    @property
    def message(self) -> str:
        denied = [d.line() for d in self.images if not d.allowed]
        return "\n".join(denied) if denied else self.note

    @property
    def warnings(self) -> list[str]:
        return [d.line() for d in self.images if d.allowed and d.reason]

    def patches(self) -> list[dict[str, str]]:
        return [{"op": "replace", "path": d.container.pointer, "value": d.pinned}
                for d in self.images
                if d.allowed and d.pinned and d.pinned != d.container.image]

    @property
    def registry_error(self) -> bool:
        return any(d.registry_error for d in self.images)


class AdmissionEngine:
    def __init__(self, config: AdmitConfig, *, metrics: AdmitMetrics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        from oci_attest.verify.image import trust_for

        self.config = config
        self.metrics = metrics or AdmitMetrics()
        self._clock = clock
        # Trust roots are loaded now, so a broken one fails startup (and readiness), not Pods.
        self._trust: dict[str, TrustMaterial] = {p.name: trust_for(p.policy)
                                                 for p in config.policies}
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="admit")
        self._verdicts: SingleFlightCache[tuple[str, str], Judgement] = SingleFlightCache(
            config.cache_ttl.total_seconds(), config.cache_entries)
        self._digests: SingleFlightCache[tuple[str, str | None], str] = SingleFlightCache(
            config.resolve_ttl.total_seconds(), config.cache_entries)
        self._docker_config = (DockerConfigCredentials(config.registry_credentials)
                               if config.registry_credentials else None)
        self._pull_secrets = (PullSecrets(config.kubeconfig,
                                          config.resolve_ttl.total_seconds())
                              if config.pull_secrets else None)

    # ------------------------------------------------------------------------------ review
    def review(self, *, namespace: str, operation: str, obj: Any, old_obj: Any = None,
               deadline: float | None = None) -> Decision:
        if self.config.exempt(namespace):
            return Decision(True, note=f"namespace {namespace} is exempt")
        images = container_images(obj)
        if not images:
            return Decision(True, note="no container images")
        if operation == "UPDATE" and old_obj is not None:
            before = sorted(c.image for c in container_images(old_obj))
            if before == sorted(c.image for c in images):
                return Decision(True, note="images unchanged by this update")
        deadline = deadline or (self._clock() + max(0.5, self.config.timeout
                                                   - RESPONSE_MARGIN_SECONDS))
        secrets = _pull_secret_names(obj)
        pending = [self._start(c, namespace, secrets) for c in images]
        decisions = [self._finish(item, deadline) for item in pending]
        for decision in decisions:
            result = "allowed" if decision.allowed and not decision.reason else (
                "warned" if decision.allowed else "denied")
            self.metrics.verdicts.labels(decision.policy or "(none)", result).inc()
        return Decision(all(d.allowed for d in decisions), decisions)

    def _start(self, container: ContainerImage, namespace: str,
               secrets: list[str]) -> _Pending:
        if not container.image:
            return _Pending(container, decided=ImageDecision(container, False,
                                                             reason="has no image"))
        try:
            ref = parse_reference(container.image)
        except AttestError as error:
            return _Pending(container, decided=ImageDecision(container, False,
                                                             reason=error.message))
        policy = self.config.policy_for(ref.name, namespace)
        if policy is None:
            allowed = not self.config.deny_unmatched
            reason = "" if allowed else (f"no policy covers {ref.name} "
                                         "(unmatchedImages: deny)")
            return _Pending(container, decided=ImageDecision(container, allowed,
                                                             reason=reason))
        credentials = self._credentials(ref.registry, namespace, secrets)
        future, hit = self._digests.get_future(
            (str(ref), ref.digest), lambda: self._resolve(ref, credentials), self._pool.submit)
        self.metrics.cache.labels("resolve", "hit" if hit else "miss").inc()
        return _Pending(container, ref=ref, policy=policy, credentials=credentials,
                        digest=future)

    def _finish(self, pending: _Pending, deadline: float) -> ImageDecision:
        if pending.decided is not None:
            return pending.decided
        assert pending.ref is not None and pending.policy is not None
        assert pending.digest is not None
        container, policy = pending.container, pending.policy
        base = ImageDecision(container, False, policy=policy.name, enforced=policy.enforce)
        try:
            digest = pending.digest.result(timeout=max(0.0, deadline - self._clock()))
            target = pending.ref.with_digest(digest)
            future, hit = self._verdicts.get_future(
                (digest, policy.digest),
                lambda: self._judge(target, policy, pending.credentials), self._pool.submit)
            self.metrics.cache.labels("verdict", "hit" if hit else "miss").inc()
            judgement = future.result(timeout=max(0.0, deadline - self._clock()))
        except FutureTimeout:
            return self._soften(replace(base, reason=(
                f"verification did not finish within {self.config.timeout:g}s; the "
                "registry may be slow or unreachable (retry in a moment)"),
                registry_error=True))
        except RegistryError as error:
            self.metrics.registry_errors.inc()
            return self._soften(replace(base, reason=f"registry error: {error.message}",
                                        registry_error=True))
        except AttestError as error:
            return self._soften(replace(base, reason=error.message))
        pinned = with_digest_text(container.image, digest,
                                  add_latest=pending.ref.tag is None and "@" not in
                                  container.image)
        if judgement.passed:
            return replace(base, allowed=True, pinned=pinned)
        return self._soften(replace(base, pinned=pinned, reason=judgement.reason))

    @staticmethod
    def _soften(decision: ImageDecision) -> ImageDecision:
        """``mode: warn`` admits what ``enforce`` refuses, keeping the reason as a warning."""
        return decision if decision.enforced else replace(decision, allowed=True)

    # ------------------------------------------------------------------------------- work
    def _resolve(self, ref: ImageReference, credentials: Credentials | None) -> str:
        resolved = RegistryClient(ref.registry, credentials=credentials).resolve(ref)
        assert resolved.digest is not None
        return resolved.digest

    def _judge(self, target: ImageReference, policy: AdmitPolicy,
               credentials: Credentials | None) -> Judgement:
        from oci_attest.verify.image import verify_image

        client = RegistryClient(target.registry, credentials=credentials)
        result = verify_image(target.pinned(), policy.policy, trust=self._trust[policy.name],
                              client=client)
        verdict = result.verdict
        if verdict.passed:
            return Judgement(True, "")
        failures = verdict.failures
        reason = "; ".join(f"{c.name}: {c.reason}" for c in failures[:3]) or "no check passed"
        return Judgement(False, " ".join(reason.split()))

    def _credentials(self, registry: str, namespace: str,
                     secrets: list[str]) -> Credentials | None:
        if self._pull_secrets is not None and secrets:
            found = self._pull_secrets.for_registry(namespace, secrets, registry)
            if found is not None:
                return found
        if self._docker_config is not None:
            return self._docker_config.for_registry(registry)
        return None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class _Pending:
    container: ContainerImage
    decided: ImageDecision | None = None
    ref: ImageReference | None = None
    policy: AdmitPolicy | None = None
    credentials: Credentials | None = None
    digest: Future[str] | None = None


def _pull_secret_names(obj: Any) -> list[str]:
    from oci_attest.admit.workloads import POD_SPEC_PATHS

    spec: Any = obj
    for key in POD_SPEC_PATHS.get(str(obj.get("kind", "")) if isinstance(obj, dict) else "",
                                  ()):
        spec = spec.get(key) if isinstance(spec, dict) else None
    secrets = spec.get("imagePullSecrets") if isinstance(spec, dict) else None
    if not isinstance(secrets, list):
        return []
    return [s["name"] for s in secrets if isinstance(s, dict) and isinstance(s.get("name"), str)]
