"""Bounded exponential backoff for calls to remote services.

Registries and Sigstore services fail transiently all the time (rate limits, restarts, resets
under load); a release must not fail for that. But retrying forever turns an outage into a hung
pipeline, so every loop here is bounded in attempts and in total sleep, and honours a server's
``Retry-After`` up to a cap.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class TransientError(Exception):
    """A failure worth retrying; ``retry_after`` is the server's requested wait, if any;
    ``hint`` what to check should it never succeed (a refused connection is not a rate
    limit)."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.hint = hint


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults suit CI: about half a minute of patience in all."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """``ATTEST_RETRY_ATTEMPTS`` / ``ATTEST_RETRY_BASE_DELAY`` tune it (tests shorten it)."""
        attempts = int(os.environ.get("ATTEST_RETRY_ATTEMPTS", cls.attempts))
        base = float(os.environ.get("ATTEST_RETRY_BASE_DELAY", cls.base_delay))
        return cls(attempts=max(1, attempts), base_delay=max(0.0, base))

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before retry number ``attempt`` (1-based), jittered to avoid herds."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        backoff = min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)
        return float(backoff * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not crypto


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` is either seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def reason(error: BaseException, what: str) -> str:
    """The cause of a failure without the ``what: `` prefix a wrapper's message already has."""
    text = str(error)
    return text[len(what) + 2:] if text.startswith(f"{what}: ") else text


def call_with_retries(
    what: str,
    func: Callable[[], T],
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``func``; retry while it raises :class:`TransientError`; re-raise the last one."""
    policy = policy or RetryPolicy.from_env()
    attempt = 1
    while True:
        try:
            return func()
        except TransientError as error:
            if attempt >= policy.attempts:
                raise
            wait = policy.delay(attempt, error.retry_after)
            log.warning("%s: %s; retrying in %.1fs (%d/%d)", what, reason(error, what), wait,
                        attempt, policy.attempts - 1)
            sleep(wait)
            attempt += 1
