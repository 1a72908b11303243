"""Retry policy arithmetic: bounded exponential backoff with jitter, Retry-After honoured and
capped. The sleeps are recorded by passing a sleep function (nothing remote is involved)."""

from __future__ import annotations

import email.utils
import logging
import random
import time

import pytest

from oci_attest._internal.retry import (
    RetryPolicy,
    TransientError,
    call_with_retries,
    parse_retry_after,
    reason,
)


def test_backoff_doubles_within_jitter_and_is_capped():
    policy = RetryPolicy(attempts=9, base_delay=1.0, max_delay=8.0)
    random.seed(7)
    for attempt, backoff in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        waits = [policy.delay(attempt, None) for _ in range(200)]
        assert backoff * 0.5 <= min(waits) and max(waits) <= backoff  # jitter: 50-100 %
        assert max(waits) - min(waits) > backoff * 0.4  # really jittered


def test_retry_after_is_used_as_given_clamped_to_zero_and_the_cap():
    policy = RetryPolicy(base_delay=0.01, max_retry_after=30.0)
    assert policy.delay(1, 0.25) == 0.25
    assert policy.delay(1, -5.0) == 0.0
    assert policy.delay(1, 3600.0) == 30.0


def test_policy_from_the_environment(monkeypatch):
    monkeypatch.setenv("ATTEST_RETRY_ATTEMPTS", "7")
    monkeypatch.setenv("ATTEST_RETRY_BASE_DELAY", "0.25")
    assert RetryPolicy.from_env() == RetryPolicy(attempts=7, base_delay=0.25)
    monkeypatch.setenv("ATTEST_RETRY_ATTEMPTS", "0")
    monkeypatch.setenv("ATTEST_RETRY_BASE_DELAY", "-1")
    assert RetryPolicy.from_env() == RetryPolicy(attempts=1, base_delay=0.0)
    monkeypatch.delenv("ATTEST_RETRY_ATTEMPTS")
    monkeypatch.delenv("ATTEST_RETRY_BASE_DELAY")
    assert RetryPolicy.from_env() == RetryPolicy()


def test_retry_after_header_forms():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= parse_retry_after(future) <= 60
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert parse_retry_after(past) == 0.0


def test_reason_drops_only_the_callers_prefix():
    assert reason(TransientError("GET x: HTTP 503"), "GET x") == "HTTP 503"
    assert reason(TransientError("HTTP 503"), "GET x") == "HTTP 503"


def test_calls_are_retried_up_to_the_attempts_with_the_policys_waits(caplog):
    slept: list[float] = []
    calls = []

    def flaky():
        calls.append(1)
        raise TransientError("GET x: HTTP 503", retry_after=0.5 * len(calls))

    policy = RetryPolicy(attempts=3, base_delay=0.01)
    with caplog.at_level(logging.WARNING), pytest.raises(TransientError):
        call_with_retries("GET x", flaky, policy, sleep=slept.append)
    assert len(calls) == 3 and slept == [0.5, 1.0]
    assert [r.getMessage() for r in caplog.records] == [
        "GET x: HTTP 503; retrying in 0.5s (1/2)", "GET x: HTTP 503; retrying in 1.0s (2/2)"]


def test_success_after_a_failure_returns_the_value(monkeypatch):
    monkeypatch.setenv("ATTEST_RETRY_ATTEMPTS", "2")
    outcomes = iter([TransientError("x: reset"), "ok"])

    def once_flaky():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    slept: list[float] = []
    assert call_with_retries("x", once_flaky, sleep=slept.append) == "ok"
    assert len(slept) == 1
