from __future__ import annotations

import pytest

from aep.retry import RetryPolicy


def test_retryable_statuses():
    policy = RetryPolicy()

    assert [
        s
        for s in (400, 401, 403, 404, 409, 413, 422, 429, 500, 501, 502, 503, 504)
        if policy.is_retryable_status(s)
    ] == [
        429,
        500,
        502,
        503,
        504,
    ]


def test_exponential_backoff_is_capped():
    policy = RetryPolicy(base=0.5, max_wait=3.0, jitter=lambda ceiling: ceiling)

    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_full_jitter_receives_the_ceiling():
    seen: list[float] = []

    def half(ceiling: float) -> float:
        seen.append(ceiling)
        return ceiling / 2

    policy = RetryPolicy(base=1.0, jitter=half)

    assert policy.backoff(3) == 2.0
    assert seen == [4.0]


def test_server_hint_wins_and_is_capped():
    policy = RetryPolicy(base=0.2, max_wait=10.0, jitter=lambda ceiling: ceiling)

    assert policy.wait(1, retry_after=4.0) == 4.0
    assert policy.wait(1, retry_after=60.0) == 10.0
    assert policy.wait(2, retry_after=None) == pytest.approx(0.4)


def test_should_retry_respects_attempts_and_deadline():
    policy = RetryPolicy(max_attempts=3)

    assert policy.should_retry(1, 1.0, None)
    assert policy.should_retry(2, 1.0, remaining=5.0)
    assert not policy.should_retry(3, 1.0, None)
    assert not policy.should_retry(1, 5.0, remaining=4.0)


def test_the_defaults():
    policy = RetryPolicy()

    assert (policy.max_attempts, policy.base, policy.max_wait) == (5, 0.2, 20.0)


def test_the_default_jitter_is_uniform_from_zero_to_the_ceiling(monkeypatch):
    calls: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        calls.append((low, high))
        return high / 4

    monkeypatch.setattr("aep.retry.random.uniform", uniform)

    assert RetryPolicy(base=1.0).backoff(2) == 0.5
    assert calls == [(0.0, 2.0)]


def test_a_jitter_outside_the_range_is_clamped():
    assert RetryPolicy(jitter=lambda ceiling: -1.0).backoff(1) == 0.0
    assert RetryPolicy(max_wait=3.0, jitter=lambda ceiling: 99.0).backoff(1) == 3.0


def test_a_negative_server_hint_means_no_wait():
    policy = RetryPolicy(jitter=lambda ceiling: ceiling)

    assert policy.wait(1, retry_after=-5.0) == 0.0
    assert policy.wait(1, retry_after=0.0) == 0.0


def test_should_retry_boundaries():
    policy = RetryPolicy(max_attempts=2)

    assert policy.should_retry(1, 0.0, None)
    assert not policy.should_retry(2, 0.0, None)
    assert policy.should_retry(1, 1.0, remaining=1.001)
    assert not policy.should_retry(1, 1.0, remaining=1.0)  # the wait must end before the deadline
