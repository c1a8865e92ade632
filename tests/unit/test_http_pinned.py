"""aep.http, pinned with a scripted session (no socket): the exact arguments of every send, the session's
settings, the deadline handed to each attempt, the refresh-once rule, the log lines and the messages."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from pydantic import BaseModel

from aep.errors import (
    AepAuthError,
    AepError,
    AepServerError,
    AepSourceError,
    AepTimeoutError,
    AepTransportError,
)
from aep.http import OK_STATUSES, USER_AGENT, Transport, _path_of, json_of, model_of, new_session
from aep.retry import RetryPolicy
from aep.timing import Deadline, SystemClock
from aep.wallclock import WatchedAdapter
from tests.support.fakes import FakeClock


class Answer(requests.Response):
    def __init__(self, status: int, content: bytes = b"", headers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.status_code = status
        self._content = content
        self.headers.update(headers or {})
        self.closed = False

    def close(self) -> None:
        self.closed = True


Script = Answer | BaseException | Callable[[], Answer]


class Session:
    """Answers each call with the next scripted answer (the last one repeats) and records the call."""

    def __init__(self, *script: Script) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []
        self.answers: list[Answer] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Answer:
        self.calls.append({"method": method, "url": url, **kwargs})
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, BaseException):
            raise step
        answer = step if isinstance(step, Answer) else step()
        self.answers.append(answer)
        return answer


class Tokens:
    def __init__(self) -> None:
        self.issued = 0
        self.invalidated: list[str] = []

    def headers(self) -> dict[str, str]:
        self.issued += 1
        return {"Authorization": f"Bearer t{self.issued}", "x-api-key": "key"}

    def invalidate(self, authorization_header: str) -> None:
        self.invalidated.append(authorization_header)


def policy(attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, base=0.2, max_wait=20.0, jitter=lambda ceiling: ceiling)


def make(session: Session, clock: FakeClock, **kwargs: Any) -> Transport:
    return Transport(session=session, clock=clock, policy=policy(kwargs.pop("attempts", 5)), **kwargs)  # type: ignore[arg-type]


URL = "https://platform.example/data/foundation/import/batches?limit=1"


# --- the session --------------------------------------------------------------------------------------


def test_new_session_settings():
    session = new_session(33)

    assert session.headers["User-Agent"] == USER_AGENT == "aep-aws-connector/0.1"
    assert session.verify is True
    https, http = session.adapters["https://"], session.adapters["http://"]
    assert https is http
    assert isinstance(https, WatchedAdapter)
    assert https._pool_connections == 8  # type: ignore[attr-defined]
    assert https._pool_maxsize == 33  # type: ignore[attr-defined]
    assert https._pool_block is False  # type: ignore[attr-defined]
    assert https.max_retries.total == 0


def test_transport_defaults():
    transport = Transport()

    assert transport.session.adapters["https://"]._pool_maxsize == 16  # type: ignore[attr-defined]
    assert transport.connect_timeout == 3.05
    assert transport.read_timeout == 30.0
    assert transport.policy == RetryPolicy(jitter=transport.policy.jitter)
    assert isinstance(transport.clock, SystemClock)
    assert transport.authenticator is None
    assert transport.deadline is None
    assert frozenset({200, 201, 202, 204, 207}) == OK_STATUSES


# --- one send -----------------------------------------------------------------------------------------


def test_every_argument_of_a_send(clock):
    session = Session(Answer(201, b'{"id": "b1"}'))
    transport = make(session, clock, connect_timeout=1.5, read_timeout=7.0, authenticator=Tokens())

    response = transport.request(
        "POST",
        URL,
        params={"a": "1"},
        headers={"Content-Type": "application/json", "Authorization": "caller's"},
        json={"k": "v"},
    )

    assert response.status_code == 201
    assert response.json() == {"id": "b1"}
    assert session.calls == [
        {
            "method": "POST",
            "url": URL,
            "params": {"a": "1"},
            "headers": {"Content-Type": "application/json", "Authorization": "Bearer t1", "x-api-key": "key"},
            "json": {"k": "v"},
            "data": None,
            "timeout": (1.5, 7.0),
            "verify": True,
            "allow_redirects": False,
            "stream": True,
        }
    ]
    assert session.answers[0].closed is True


def test_unauthenticated_calls_carry_only_the_callers_headers(clock):
    session = Session(Answer(200))
    tokens = Tokens()

    make(session, clock, authenticator=tokens).request("GET", URL, authenticated=False, data=b"raw")

    assert session.calls[0]["headers"] == {}
    assert session.calls[0]["data"] == b"raw"
    assert tokens.issued == 0


@pytest.mark.parametrize("status", sorted(OK_STATUSES))
def test_each_ok_status_is_returned(clock, status):
    assert make(Session(Answer(status)), clock).request("GET", URL).status_code == status


def test_a_caller_may_name_its_own_ok_statuses(clock):
    assert make(Session(Answer(404)), clock).request("GET", URL, ok=(404,)).status_code == 404
    with pytest.raises(AepError) as caught:
        make(Session(Answer(200, b"{}")), clock).request("GET", URL, ok=(201,))
    assert (type(caught.value), caught.value.status) == (AepError, 200)


# --- deadline -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_seconds", "transport_seconds", "read_timeout"),
    [
        (None, None, 30.0),
        (5.0, None, 5.0),
        (None, 4.0, 4.0),
        (5.0, 4.0, 4.0),
        (3.0, 4.0, 3.0),
        (100.0, None, 30.0),
        (0.05, None, 0.1),
    ],
)
def test_the_read_timeout_of_an_attempt_never_passes_the_earliest_deadline(
    clock, call_seconds, transport_seconds, read_timeout
):
    session = Session(Answer(200))
    transport = make(session, clock)
    if transport_seconds is not None:
        transport.deadline = Deadline.after(transport_seconds, clock)
    deadline = Deadline.after(call_seconds, clock) if call_seconds is not None else None

    transport.request("GET", URL, deadline=deadline)

    assert session.calls[0]["timeout"] == (3.05, read_timeout)


def test_an_expired_deadline_names_the_attempt_it_stopped(clock):
    session = Session(Answer(503))
    transport = make(session, clock)
    deadline = Deadline.after(0.5, clock)  # waits 0.2, then 0.4 does not fit

    with pytest.raises(AepServerError):
        transport.request("GET", URL, deadline=deadline)
    assert len(session.calls) == 2

    clock.advance(1.0)
    with pytest.raises(AepTimeoutError) as caught:
        transport.request("GET", URL, deadline=deadline)
    assert caught.value.message == "GET /data/foundation/import/batches: deadline reached before attempt 1"
    assert len(session.calls) == 2

    transport.deadline = Deadline(clock.monotonic(), clock)  # remaining exactly 0: expired
    with pytest.raises(AepTimeoutError, match=r"before attempt 1$"):
        transport.request("GET", URL, context="ctx")


def test_the_deadline_met_between_attempts_names_the_next_attempt(clock):
    session = Session(Answer(503))
    transport = make(session, clock)
    waits: list[float] = []

    def push_past(error: AepError) -> None:
        waits.append(error.status or 0)
        clock.advance(10)

    with pytest.raises(AepTimeoutError) as caught:
        transport.request(
            "GET", URL, deadline=Deadline.after(5.0, clock), before_retry=push_past, context="c"
        )

    assert str(caught.value) == "c: deadline reached before attempt 2"
    assert waits == [503]


def test_a_wait_that_does_not_fit_before_the_deadline_gives_up(clock):
    session = Session(Answer(503, headers={"Retry-After": "2"}))
    transport = make(session, clock)

    with pytest.raises(AepServerError):
        transport.request("GET", URL, deadline=Deadline.after(2.0, clock))  # 2 < 2 is false
    assert len(session.calls) == 1
    assert clock.sleeps == []

    session2 = Session(Answer(503, headers={"Retry-After": "2"}), Answer(200))
    # fits, with room for the exchange after the wait: the wall clock gives it what is left in real time
    make(session2, clock).request("GET", URL, deadline=Deadline.after(2.5, clock))
    assert len(session2.calls) == 2
    assert clock.sleeps == [2.0]


def test_the_wall_clock_cuts_an_exchange_that_outlives_the_deadline():
    clock = SystemClock()

    def slow() -> Answer:
        time.sleep(0.3)
        return Answer(200)

    transport = Transport(session=Session(slow), clock=clock, policy=policy(1))  # type: ignore[arg-type]
    with pytest.raises(AepTimeoutError) as caught:
        transport.request("GET", URL, deadline=Deadline.after(0.05, clock), context="ctx")
    assert caught.value.message == "ctx: deadline reached during the exchange"
    assert caught.value.__suppress_context__ is True

    def slow_then_broken() -> Answer:
        time.sleep(0.3)
        raise requests.exceptions.ConnectionError("reset")

    transport = Transport(session=Session(slow_then_broken), clock=clock, policy=policy(1))  # type: ignore[arg-type]
    with pytest.raises(AepTimeoutError) as caught:
        transport.request("GET", URL, deadline=Deadline.after(0.05, clock), context="ctx")
    assert caught.value.message == "ctx: deadline reached during the exchange"


# --- failures and retries -----------------------------------------------------------------------------


def test_an_exception_of_the_send_becomes_its_typed_error_without_its_message(clock):
    session = Session(requests.exceptions.ConnectionError("Bearer secret-token"))

    with pytest.raises(AepTimeoutError) as caught:
        make(session, clock, attempts=2).request("GET", URL)

    assert caught.value.message == "GET /data/foundation/import/batches: no answer (ConnectionError)"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True
    assert len(session.calls) == 2
    assert clock.sleeps == [0.2]


def test_an_aep_error_of_the_send_is_raised_as_it_is(clock):
    cause = OSError("disk")
    source_error = AepSourceError("read failed", retryable=False)
    source_error.__cause__ = cause

    def failing() -> Answer:
        raise source_error

    session = Session(failing)
    with pytest.raises(AepSourceError) as caught:
        make(session, clock).request("PUT", URL)

    assert caught.value is source_error
    assert caught.value.__cause__ is cause
    assert len(session.calls) == 1


def test_a_non_retryable_exchange_failure_is_not_retried(clock):
    session = Session(requests.exceptions.InvalidHeader("bad"))

    with pytest.raises(AepTransportError) as caught:
        make(session, clock).request("GET", URL)

    assert caught.value.retryable is False
    assert len(session.calls) == 1
    assert clock.sleeps == []


def test_retries_log_the_context_attempt_wait_and_status(clock, caplog):
    session = Session(Answer(503), Answer(429, headers={"Retry-After": "1.23456"}), Answer(200))
    seen: list[int | None] = []
    caplog.set_level(logging.DEBUG, logger="aep.http")

    make(session, clock).request("GET", URL, before_retry=lambda error: seen.append(error.status))

    retries = [r for r in caplog.records if r.name == "aep.http"]
    assert [(r.levelno, r.getMessage()) for r in retries] == [(logging.WARNING, "retrying AEP call")] * 2
    assert [(r.context, r.attempt, r.wait, r.status) for r in retries] == [
        ("GET /data/foundation/import/batches", 1, 0.2, 503),
        ("GET /data/foundation/import/batches", 2, 1.235, 429),
    ]
    assert clock.sleeps == [0.2, 1.23456]
    assert seen == [503, 429]


def test_before_retry_runs_after_the_wait_and_may_stop_the_retries(clock):
    order: list[str] = []

    class Stop(Exception):
        pass

    def check(error: AepError) -> None:
        order.append(f"check after {len(clock.sleeps)} sleeps")
        raise Stop

    session = Session(Answer(500))
    with pytest.raises(Stop):
        make(session, clock).request("GET", URL, before_retry=check)

    assert order == ["check after 1 sleeps"]
    assert len(session.calls) == 1


def test_attempts_are_bounded_and_the_last_error_is_raised(clock):
    session = Session(Answer(500), Answer(502), Answer(504, b'{"message": "last"}'))

    with pytest.raises(AepServerError) as caught:
        make(session, clock, attempts=3).request("GET", URL)

    assert caught.value.status == 504
    assert caught.value.message == "GET /data/foundation/import/batches: last"
    assert clock.sleeps == [0.2, 0.4]


# --- 401: refresh once --------------------------------------------------------------------------------


def test_a_401_reports_the_rejected_token_and_refreshes_once_without_counting_an_attempt(clock, caplog):
    tokens = Tokens()
    session = Session(Answer(401), Answer(503), Answer(401), Answer(200))
    caplog.set_level(logging.INFO, logger="aep.http")

    with pytest.raises(AepAuthError) as caught:
        make(session, clock, authenticator=tokens, attempts=2).request("GET", URL, context="ctx")

    # attempt 1: 401, refresh (not counted); attempt 1 again: 503, wait; attempt 2: 401, no second refresh
    assert caught.value.status == 401
    assert len(session.calls) == 3
    assert tokens.invalidated == ["Bearer t1", "Bearer t3"]
    assert clock.sleeps == [0.2]
    refreshes = [r for r in caplog.records if r.getMessage() == "token rejected; refreshing once"]
    assert len(refreshes) == 1
    assert refreshes[0].levelno == logging.INFO
    assert refreshes[0].context == "ctx"
    retries = [r for r in caplog.records if r.getMessage() == "retrying AEP call"]
    assert [r.attempt for r in retries] == [1]


def test_a_401_then_success_needs_no_wait(clock):
    tokens = Tokens()
    session = Session(Answer(401), Answer(200))

    make(session, clock, authenticator=tokens, attempts=1).request("GET", URL)

    assert [call["headers"]["Authorization"] for call in session.calls] == ["Bearer t1", "Bearer t2"]
    assert clock.sleeps == []


def test_a_rejection_without_an_authorization_header_reports_an_empty_one(clock):
    class Keyless(Tokens):
        def headers(self) -> dict[str, str]:
            return {}

    tokens = Keyless()
    make(Session(Answer(401), Answer(200)), clock, authenticator=tokens).request("GET", URL)

    assert tokens.invalidated == [""]


def test_no_refresh_for_unauthenticated_calls_other_statuses_or_without_an_authenticator(clock):
    tokens = Tokens()
    session = Session(Answer(401))
    with pytest.raises(AepAuthError):
        make(session, clock, authenticator=tokens, attempts=1).request("GET", URL, authenticated=False)
    assert (len(session.calls), tokens.invalidated) == (1, [])

    session = Session(Answer(403))
    with pytest.raises(AepAuthError):
        make(session, clock, authenticator=tokens, attempts=1).request("GET", URL)
    assert (len(session.calls), tokens.invalidated) == (1, [])

    session = Session(Answer(401))
    with pytest.raises(AepAuthError):
        make(session, clock, attempts=1).request("GET", URL)
    assert len(session.calls) == 1

    session = Session(Answer(403), Answer(200))
    make(session, clock, authenticator=tokens, attempts=1).request("GET", URL, refresh_on=(401, 403))
    assert tokens.invalidated == ["Bearer t2"]


# --- helpers ------------------------------------------------------------------------------------------


class Batch(BaseModel):
    id: str


def test_json_of_and_model_of():
    assert json_of(Answer(200, b'{"id": "b"}'), "ctx") == {"id": "b"}
    with pytest.raises(AepTransportError) as caught:
        json_of(Answer(502, b"<html>"), "ctx")
    assert (caught.value.message, caught.value.status, caught.value.retryable) == (
        "ctx: the answer is not JSON",
        502,
        False,
    )
    assert caught.value.__suppress_context__ is True

    assert model_of(Batch, {"id": "b"}, "ctx") == Batch(id="b")
    with pytest.raises(AepTransportError) as caught:
        model_of(Batch, {"id": 5}, "ctx", 201)
    assert (caught.value.message, caught.value.status, caught.value.retryable) == (
        "ctx: the answer is not a valid Batch",
        201,
        False,
    )
    assert caught.value.__suppress_context__ is True
    with pytest.raises(AepTransportError) as caught:
        model_of(Batch, [], "ctx")
    assert caught.value.status is None


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://h.example/a/b?x=1", "/a/b"),
        ("https://h.example", "/"),
        ("https://h.example/", "/"),
        ("https://h.example?x=1", "/"),
        ("http://h.example:80/p/q/r", "/p/q/r"),
        ("h.example/a?q", "/a"),
        ("https://h.example/a://b", "/a://b"),
    ],
)
def test_path_of(url, path):
    assert _path_of(url) == path
