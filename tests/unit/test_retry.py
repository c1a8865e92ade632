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
