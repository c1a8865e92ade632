"""The lookup's TTL cache and single flight, on a fake clock and with threads coordinated by events."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from profile_lookup.cache import TtlCache
from profile_lookup.flight import FlightTimeoutError, SingleFlight
from tests.support.fakes import FakeClock


def test_an_entry_is_answered_until_its_ttl_passes():
    clock = FakeClock()
    cache: TtlCache[str] = TtlCache(10, clock)
    cache.put("k", "v", ttl=30)

    clock.advance(29.999)
    assert cache.get("k") == "v"
    clock.advance(0.001)
    assert cache.get("k") is None
    assert len(cache) == 0


def test_each_entry_keeps_its_own_ttl():
    clock = FakeClock()
    cache: TtlCache[str] = TtlCache(10, clock)
    cache.put("long", "a", ttl=60)
    cache.put("short", "b", ttl=5)

    clock.advance(5)

    assert cache.get("short") is None
    assert cache.get("long") == "a"


def test_the_least_recently_used_entry_goes_first_beyond_the_size():
    clock = FakeClock()
    cache: TtlCache[int] = TtlCache(2, clock)
    cache.put("a", 1, ttl=60)
    cache.put("b", 2, ttl=60)
    assert cache.get("a") == 1  # a is now the most recently used

    cache.put("c", 3, ttl=60)

    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    assert len(cache) == 2


def test_putting_a_key_again_replaces_its_value_and_ttl():
    clock = FakeClock()
    cache: TtlCache[int] = TtlCache(2, clock)
    cache.put("a", 1, ttl=5)
    clock.advance(4)
    cache.put("a", 2, ttl=5)
    clock.advance(4)

    assert cache.get("a") == 2


@pytest.mark.parametrize(("size", "ttl"), [(0, 60.0), (10, 0.0)])
def test_a_zero_size_or_ttl_keeps_nothing(size, ttl):
    cache: TtlCache[int] = TtlCache(size, FakeClock())
    cache.put("a", 1, ttl=ttl)

    assert cache.get("a") is None
    assert len(cache) == 0


def test_a_negative_size_is_refused():
    with pytest.raises(ValueError, match="negative"):
        TtlCache(-1, FakeClock())


class Followers:
    """Counts callers that started waiting on another's call; ``reached(n)`` waits until n did."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def __call__(self, key) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def reached(self, n: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.count >= n, timeout=5)


def test_concurrent_calls_for_one_key_share_one_execution():
    waiting = Followers()
    flight: SingleFlight[str] = SingleFlight(on_follow=waiting)
    started, release = threading.Event(), threading.Event()
    results: list[tuple[str, bool]] = []

    def slow() -> str:
        started.set()
        release.wait(5)
        return "profile"

    leader = threading.Thread(target=lambda: results.append(flight.run("k", slow)))
    leader.start()
    started.wait(5)
    followers = [
        threading.Thread(target=lambda: results.append(flight.run("k", lambda: "second", timeout=5)))
        for _ in range(3)
    ]
    for thread in followers:
        thread.start()
    assert waiting.reached(3)  # every follower is waiting on the leader's call
    assert flight.in_flight("k") == 3
    release.set()
    for thread in [leader, *followers]:
        thread.join(5)

    assert sorted(results) == [("profile", False), ("profile", True), ("profile", True), ("profile", True)]
    assert flight.executions == 1
    assert flight.in_flight("k") == -1


def test_followers_get_the_leader_s_exception():
    waiting = Followers()
    flight: SingleFlight[str] = SingleFlight(on_follow=waiting)
    started, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def failing() -> str:
        started.set()
        release.wait(5)
        raise RuntimeError("AEP failed")

    def call(fn) -> None:
        try:
            flight.run("k", fn, timeout=5)
        except RuntimeError as exc:
            errors.append(exc)

    leader = threading.Thread(target=call, args=(failing,))
    leader.start()
    started.wait(5)
    follower = threading.Thread(target=call, args=(lambda: "never",))
    follower.start()
    assert waiting.reached(1)
    release.set()
    leader.join(5)
    follower.join(5)

    assert [str(e) for e in errors] == ["AEP failed", "AEP failed"]
    assert flight.executions == 1


def test_a_follower_stops_waiting_at_its_own_timeout():
    flight: SingleFlight[str] = SingleFlight()
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "late"

    leader = threading.Thread(target=lambda: flight.run("k", slow))
    leader.start()
    started.wait(5)
    try:
        with pytest.raises(FlightTimeoutError):
            flight.run("k", lambda: "other", timeout=0)
    finally:
        release.set()
        leader.join(5)


def test_calls_after_one_finished_run_again_and_other_keys_never_wait():
    flight: SingleFlight[int] = SingleFlight()
    counter = iter(range(10))

    first = flight.run("a", lambda: next(counter))
    second = flight.run("a", lambda: next(counter))
    other = flight.run("b", lambda: next(counter))

    assert (first, second, other) == ((0, False), (1, False), (2, False))
    assert flight.executions == 3


def test_a_leader_that_submits_waits_at_its_own_timeout_and_the_call_still_ends_for_the_others():
    waiting = Followers()
    flight: SingleFlight[str] = SingleFlight(on_follow=waiting)
    pool = ThreadPoolExecutor(max_workers=1)
    started, release = threading.Event(), threading.Event()
    submitted: list[object] = []

    def slow() -> str:
        started.set()
        release.wait(5)
        return "profile"

    def submit(work: Any) -> None:
        submitted.append(work)
        pool.submit(work)

    with pytest.raises(FlightTimeoutError):  # the leader gives up; the call runs on
        flight.run("k", slow, timeout=0.05, submit=submit)
    assert started.is_set()
    assert flight.in_flight("k") == 0
    results: list[tuple[str, bool]] = []
    follower = threading.Thread(target=lambda: results.append(flight.run("k", lambda: "second", timeout=5)))
    follower.start()
    assert waiting.reached(1)
    release.set()
    follower.join(5)
    pool.shutdown(wait=True)

    assert results == [("profile", True)]
    assert (len(submitted), flight.executions, flight.in_flight("k")) == (1, 1, -1)


def test_a_submitted_call_s_exception_reaches_its_leader():
    flight: SingleFlight[str] = SingleFlight()
    with ThreadPoolExecutor(max_workers=1) as pool:

        def failing() -> str:
            raise RuntimeError("AEP failed")

        def submit(work: Any) -> None:
            pool.submit(work)

        with pytest.raises(RuntimeError, match="AEP failed"):
            flight.run("k", failing, timeout=5, submit=submit)

    assert flight.in_flight("k") == -1
