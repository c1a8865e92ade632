"""The transport against a real loopback server: retries, exact waits, deadline, 401 refresh-once."""

from __future__ import annotations

import pytest

from aep import AepAuthError, AepServerError, AepThrottledError, AepTimeoutError, AepValidationError, Deadline
from aep.http import Transport
from aep.token import AccessToken
from tests.conftest import exact_policy
from tests.support.recorder import DROP, Reply


class Tokens:
    def __init__(self) -> None:
        self.issued = 0
        self.invalidated: list[str] = []
        self.current: str | None = None

    def headers(self) -> dict[str, str]:
        if self.current is None:
            self.issued += 1
            self.current = f"token-{self.issued}"
        return {"Authorization": f"Bearer {self.current}"}

    def invalidate(self, header: str) -> None:
        self.invalidated.append(header)
        self.current = None


def transport(clock, *, attempts=5, auth=None) -> Transport:
    return Transport(policy=exact_policy(attempts), clock=clock, authenticator=auth)


def test_post_is_retried_on_429_and_5xx_with_exact_backoff(recorder, clock):
    recorder.on("POST", "/x", Reply(429), Reply(500), Reply(502), Reply(503), Reply(201, {"ok": True}))

    response = transport(clock).request("POST", f"{recorder.url}/x", json={"a": 1})

    assert response.status_code == 201
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6])
    assert [r.json() for r in recorder.requests] == [{"a": 1}] * 5


def test_retry_after_seconds_and_retry_after_ms_are_honoured(recorder, clock):
    recorder.on(
        "GET",
        "/x",
        Reply(503, headers={"Retry-After": "3"}),
        Reply(429, [{"message": "Too many requests", "retryAfterMs": "750", "statusCode": "429"}]),
        Reply(200, {}),
    )

    transport(clock).request("GET", f"{recorder.url}/x")

    assert clock.sleeps == [3.0, 0.75]


def test_gives_up_after_max_attempts_with_the_typed_error(recorder, clock):
    recorder.on("GET", "/x", Reply(429, {"message": "slow down"}))

    with pytest.raises(AepThrottledError) as caught:
        transport(clock, attempts=3).request("GET", f"{recorder.url}/x")

    assert len(recorder.requests) == 3
    assert clock.sleeps == pytest.approx([0.2, 0.4])
    assert caught.value.status == 429


def test_validation_errors_are_not_retried(recorder, clock):
    recorder.on("POST", "/x", Reply(400, {"title": "bad", "status": 400}))

    with pytest.raises(AepValidationError):
        transport(clock).request("POST", f"{recorder.url}/x", json={})

    assert len(recorder.requests) == 1
    assert clock.sleeps == []


def test_dropped_connections_are_retried(recorder, clock):
    recorder.on("GET", "/x", DROP, DROP, Reply(200, {"fine": 1}))

    response = transport(clock).request("GET", f"{recorder.url}/x")

    assert response.json() == {"fine": 1}
    assert clock.sleeps == pytest.approx([0.2, 0.4])


def test_connection_refused_becomes_a_timeout_error(clock):
    with pytest.raises(AepTimeoutError):
        transport(clock, attempts=2).request("GET", "http://127.0.0.1:9/nothing")

    assert clock.sleeps == pytest.approx([0.2])


def test_no_wait_runs_past_the_deadline(recorder, clock):
    recorder.on("GET", "/x", Reply(503, headers={"Retry-After": "10"}))

    with pytest.raises(AepServerError):
        transport(clock).request("GET", f"{recorder.url}/x", deadline=Deadline.after(5, clock))

    assert len(recorder.requests) == 1
    assert clock.sleeps == []


def test_an_expired_deadline_sends_nothing(recorder, clock):
    recorder.on("GET", "/x", Reply(200, {}))
    t = transport(clock)
    t.deadline = Deadline.after(0, clock)

    with pytest.raises(AepTimeoutError):
        t.request("GET", f"{recorder.url}/x")

    assert recorder.requests == []


def test_401_refreshes_the_token_once_and_retries(recorder, clock):
    recorder.on(
        "GET",
        "/x",
        Reply(401, {"error_code": "401013", "message": "Oauth token is not valid"}),
        Reply(200, {}),
    )
    tokens = Tokens()

    transport(clock, auth=tokens).request("GET", f"{recorder.url}/x")

    assert [r.headers["authorization"] for r in recorder.requests] == ["Bearer token-1", "Bearer token-2"]
    assert tokens.invalidated == ["Bearer token-1"]
    assert clock.sleeps == []


def test_a_second_401_is_an_auth_error(recorder, clock):
    recorder.on("GET", "/x", Reply(401, {"error_code": "401013", "message": "Oauth token is not valid"}))
    tokens = Tokens()

    with pytest.raises(AepAuthError) as caught:
        transport(clock, auth=tokens).request("GET", f"{recorder.url}/x")

    assert len(recorder.requests) == 2
    assert caught.value.code == "401013"


def test_body_factory_is_called_for_every_attempt(recorder, clock):
    recorder.on("PUT", "/f", Reply(500), Reply(200))
    opened: list[int] = []

    def body() -> bytes:
        opened.append(1)
        return b"payload"

    transport(clock).request("PUT", f"{recorder.url}/f", body=body)

    assert len(opened) == 2
    assert [r.body for r in recorder.requests] == [b"payload", b"payload"]


def test_access_token_never_shows_its_value():
    token = AccessToken(value="eyJsecret", expires_at=10.0)

    assert "eyJsecret" not in repr(token)
    assert "eyJsecret" not in str(token)


def test_on_attempt_reports_every_attempt_retries_and_the_refresh_included(recorder, clock):
    recorder.on("GET", "/x", Reply(401), Reply(503), DROP, Reply(200, {}))
    recorder.on("POST", "/token", Reply(200, {}))
    seen: list[tuple[int | None, bool]] = []
    sender = transport(clock, auth=Tokens())
    sender.on_attempt = lambda status, authenticated: seen.append((status, authenticated))

    sender.request("GET", f"{recorder.url}/x")
    sender.request("POST", f"{recorder.url}/token", authenticated=False)

    assert seen == [(401, True), (503, True), (None, True), (200, True), (200, False)]
