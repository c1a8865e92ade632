"""The per-tenant circuit breaker and token bucket (stream_ingest.fairness), on a fake clock."""

from __future__ import annotations

import threading

import pytest

from aep import Deadline
from stream_ingest.fairness import COOLDOWN_SECONDS, PROBE_SECONDS, THRESHOLD, CircuitBreaker, TokenBucket
from tests.support.fakes import FakeClock


@pytest.fixture
def far(clock) -> Deadline:
    return Deadline.after(600.0, clock)


def test_a_closed_breaker_runs_on_the_invocations_deadline(clock, far):
    breaker = CircuitBreaker(clock)

    admission = breaker.admit(far)

    assert (admission.state, admission.deadline, admission.wait) == ("closed", far, 0.0)


def test_one_failure_makes_the_tenant_suspect_with_a_bounded_share(clock, far):
    breaker = CircuitBreaker(clock, probe_seconds=4.0)
    breaker.record("failure")

    admission = breaker.admit(far)

    assert admission.state == "suspect"
    assert admission.deadline is not None
    assert admission.deadline.at == clock.monotonic() + 4.0


def test_the_bounded_share_never_passes_the_invocations_deadline(clock):
    breaker = CircuitBreaker(clock, probe_seconds=4.0)
    breaker.record("failure")
    near = Deadline.after(1.0, clock)

    assert breaker.admit(near).deadline is near


def test_consecutive_failures_open_it_for_the_cooldown_then_one_probe(clock, far):
    breaker = CircuitBreaker(clock, threshold=3, cooldown=10.0)
    for _ in range(3):
        assert breaker.state() != "open"
        breaker.record("failure")

    assert breaker.state() == "open"
    admission = breaker.admit(far)
    assert (admission.state, admission.deadline, admission.wait) == ("open", None, 10.0)
    clock.advance(9.5)
    assert breaker.admit(far).wait == pytest.approx(0.5)
    clock.advance(0.5)
    probe = breaker.admit(far)
    assert probe.state == "probe"
    assert probe.deadline is not None
    assert probe.deadline.at == clock.monotonic() + PROBE_SECONDS
    assert breaker.opened == 1


def test_a_failed_probe_doubles_the_cooldown_up_to_the_cap(clock):
    breaker = CircuitBreaker(clock, threshold=1, cooldown=10.0, max_cooldown=30.0)
    breaker.record("failure")
    waits = []
    for _ in range(4):
        clock.advance(breaker.admit(Deadline.after(600.0, clock)).wait)
        assert breaker.state() == "probe"
        breaker.record("failure")
        waits.append(breaker.admit(Deadline.after(600.0, clock)).wait)

    assert waits == [20.0, 30.0, 30.0, 30.0]
    assert breaker.opened == 5


def test_a_success_closes_it_and_resets_the_cooldown(clock, far):
    breaker = CircuitBreaker(clock, threshold=1, cooldown=10.0)
    breaker.record("failure")
    clock.advance(10.0)
    breaker.record("failure")  # failed probe: 20 s
    clock.advance(20.0)

    breaker.record("success")

    assert breaker.state() == "closed"
    breaker.record("failure")
    assert breaker.admit(far).wait == 10.0


def test_a_success_between_failures_resets_the_count(clock):
    breaker = CircuitBreaker(clock, threshold=2)
    breaker.record("failure")
    breaker.record("success")
    breaker.record("failure")

    assert breaker.state() == "suspect"


def test_nothing_said_changes_nothing(clock):
    breaker = CircuitBreaker(clock, threshold=1)
    breaker.record(None)

    assert breaker.state() == "closed"


def test_the_defaults_and_a_threshold_below_one():
    assert (THRESHOLD, COOLDOWN_SECONDS, PROBE_SECONDS) == (2, 30.0, 5.0)
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(FakeClock(), threshold=0)


def test_a_bucket_lets_a_burst_through_then_paces(clock):
    bucket = TokenBucket(4.0, clock)

    for _ in range(4):
        assert bucket(None) is True
    assert clock.sleeps == []
    assert bucket(None) is True
    assert bucket(None) is True

    assert clock.sleeps == [pytest.approx(0.25), pytest.approx(0.25)]
    assert bucket.waited == pytest.approx(0.5)


def test_a_bucket_refills_with_time_up_to_its_capacity(clock):
    bucket = TokenBucket(2.0, clock)
    bucket(None)
    bucket(None)

    clock.advance(10.0)  # refills 20 tokens, kept to 2
    for _ in range(2):
        assert bucket(None) is True
    assert clock.sleeps == []
    assert bucket(None) is True
    assert clock.sleeps == [pytest.approx(0.5)]


def test_a_slow_ceiling_has_a_burst_of_one(clock):
    bucket = TokenBucket(0.5, clock)

    bucket(None)
    bucket(None)

    assert bucket.capacity == 1.0
    assert clock.sleeps == [pytest.approx(2.0)]


def test_a_wait_past_the_deadline_is_refused_and_takes_no_token(clock):
    bucket = TokenBucket(1.0, clock)
    bucket(None)

    assert bucket(Deadline.after(0.5, clock)) is False
    assert bucket.refused == 1
    assert clock.sleeps == []
    assert bucket(Deadline.after(1.5, clock)) is True  # the refused call reserved nothing
    assert clock.sleeps == [pytest.approx(1.0)]


class StoppedClock(FakeClock):
    """Sleeps are recorded, time does not move: callers that overlap in real time."""

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)


def test_concurrent_callers_each_reserve_their_own_slot():
    clock = StoppedClock()
    bucket = TokenBucket(10.0, clock, burst=1.0)
    bucket(None)
    threads = [threading.Thread(target=bucket, args=(None,)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # five reservations behind one another: waits of 0.1, 0.2, ... 0.5 s (in whatever order they ran)
    assert sorted(clock.sleeps) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_a_bucket_needs_a_positive_rate(clock):
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0.0, clock)
