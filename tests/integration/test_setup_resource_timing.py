"""The custom resource's answer beats Lambda's deadline and runs never overlap: each PUT to a slow
ResponseURL is bounded by the time left, the FAILED-on-timeout answer starts early enough for the slowest
answer, and a run that outlived its request (it goes on in its thread) is never joined by a second one."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from aep_setup.resource import DEFAULT_MARGIN_SECONDS, STILL_RUNNING, SetupRuns, handle, physical_id
from aep_setup.response import PUT_ATTEMPTS, PUT_TIMEOUT_SECONDS, WORST_ANSWER_SECONDS, Responder
from tests.integration.test_setup_custom_resource import CloudFormation
from tests.support.fakes import FakeLambdaContext
from tests.support.recorder import Recorder


@pytest.fixture
def cfn(recorder: Recorder) -> CloudFormation:
    return CloudFormation(recorder)


class SlowUrl:
    """A ResponseURL that never answers: each PUT takes its whole timeout on a fake clock."""

    def __init__(self, left: float) -> None:
        self.left = left
        self.timeouts: list[float] = []
        self.pauses: list[float] = []

    def time_left(self) -> float:
        return self.left

    def put(self, url: str, body: bytes, timeout: float) -> int:
        self.timeouts.append(timeout)
        self.left -= timeout
        raise TimeoutError("timed out")

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.left -= seconds


def responder(slow: SlowUrl, event: Mapping[str, Any] | None = None) -> Responder:
    event = event or {"ResponseURL": "https://cfn.example/answer", "RequestId": "r-1"}
    return Responder(event, "aep-setup-AepSetup-1", sender=slow.put, sleep=slow.sleep)


def test_without_a_deadline_the_slowest_answer_takes_the_worst_answer_time() -> None:
    slow = SlowUrl(left=1_000.0)
    assert responder(slow).send("FAILED", "late") is True
    assert slow.timeouts == [PUT_TIMEOUT_SECONDS] * PUT_ATTEMPTS
    assert 1_000.0 - slow.left == WORST_ANSWER_SECONDS


@pytest.mark.parametrize("left", [12.0, 5.0, 2.2, 0.3])
def test_the_attempts_to_a_slow_response_url_end_before_the_deadline(left: float) -> None:
    # Given a ResponseURL that never answers and `left` seconds before Lambda stops the function
    slow = SlowUrl(left)
    # When the answer is sent with the time left
    responder(slow).send("FAILED", "late", time_left=slow.time_left)
    # Then it was tried at least once, each attempt bounded by the time left, and it gave up in time
    assert slow.timeouts
    assert all(t <= PUT_TIMEOUT_SECONDS for t in slow.timeouts)
    if left > 1.5:  # time for a bounded attempt: the deadline is never passed
        assert slow.left >= 0, (slow.timeouts, slow.pauses)


def test_with_twelve_seconds_left_it_tries_ten_then_what_is_left() -> None:
    slow = SlowUrl(12.0)
    responder(slow).send("FAILED", "late", time_left=slow.time_left)
    assert slow.timeouts == [10.0, 1.0]
    assert slow.pauses == [0.5]
    assert slow.left == pytest.approx(0.5)


def test_the_timeout_answer_starts_early_enough_for_the_slowest_answer(cfn: CloudFormation) -> None:
    # Given a run that does not finish, and a ResponseURL that never answers
    release = threading.Event()
    event = cfn.request("Create", {"Setup": {}})
    context = FakeLambdaContext(remaining_ms=int(DEFAULT_MARGIN_SECONDS * 1000) + 200)
    seen: list[float] = []

    def blocked(properties: Mapping[str, Any]) -> dict[str, str]:
        release.wait(60)
        return {}

    def put(url: str, body: bytes, timeout: float) -> int:
        seen.append(context.get_remaining_time_in_millis() / 1000.0)
        raise TimeoutError("timed out")

    try:
        # When the handler runs with the default margin
        handle(
            event,
            context,
            run=blocked,
            responder=Responder(event, physical_id(event), sender=put, sleep=lambda _: None),
            runs=SetupRuns(),
        )
    finally:
        release.set()
    # Then the FAILED answer started with at least the slowest answer's time left
    assert DEFAULT_MARGIN_SECONDS >= WORST_ANSWER_SECONDS
    assert len(seen) == PUT_ATTEMPTS
    assert seen[0] >= WORST_ANSWER_SECONDS


def test_a_run_still_going_after_its_timeout_is_never_joined_by_a_second(cfn: CloudFormation) -> None:
    # Given a run that blocks until released, counted as it runs
    release = threading.Event()
    lock = threading.Lock()
    active = [0]
    most = [0]
    calls: list[str] = []

    def run(properties: Mapping[str, Any]) -> dict[str, str]:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            calls.append(str(properties.get("Revision")))
        try:
            release.wait(60)
            return {"Status": "converged"}
        finally:
            with lock:
                active[0] -= 1

    runs = SetupRuns()
    first = cfn.request("Create", {"Revision": "1"})
    # When the first request runs out of time (0.2 s before its margin)
    handle(first, FakeLambdaContext(remaining_ms=10_200), run=run, margin=10.0, runs=runs)
    assert cfn.answer(first)["Status"] == "FAILED"
    # and a second request arrives in the same container while the first run goes on
    second = cfn.request("Update", {"Revision": "2"})
    handle(second, FakeLambdaContext(remaining_ms=10_200), run=run, margin=10.0, runs=runs)
    # Then the second is answered FAILED without starting a run beside the first
    answer = cfn.answer(second)
    assert (answer["Status"], answer["Reason"]) == ("FAILED", STILL_RUNNING)
    assert calls == ["1"]
    # When the first run ends while a third request waits for it
    third = cfn.request("Update", {"Revision": "3"})
    threading.Timer(0.2, release.set).start()
    handle(third, FakeLambdaContext(remaining_ms=70_000), run=run, margin=10.0, runs=runs)
    # Then the third ran its own setup after it, never two at once
    assert cfn.answer(third)["Status"] == "SUCCESS"
    assert calls == ["1", "3"]
    assert most[0] == 1
