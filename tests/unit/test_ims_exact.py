"""IMS token exchange, pinned exactly: the URL, the count of requests, the refusal's fields, the log lines."""

from __future__ import annotations

import logging

import pytest

from aep import AepAuthError, AepCredentials
from aep.http import Transport
from aep.ims import ImsTokenFetcher
from tests.conftest import CLIENT_ID, CLIENT_SECRET, ORG_ID, exact_policy, token_reply
from tests.support.recorder import Reply

NOT_B64 = ValueError("access token is not an RFC 6750 b64token")
YEAR_AND_A_DAY = 31_622_400  # 366 days: the longest lifetime taken from IMS


def fetcher(url, clock, reload=None) -> ImsTokenFetcher:
    transport = Transport(policy=exact_policy(1), clock=clock)
    creds = AepCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, org_id=ORG_ID)
    return ImsTokenFetcher(transport, url, creds, reload=reload)


def test_a_trailing_slash_on_the_ims_url_is_not_doubled(recorder, clock):
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply("t")))

    fetcher(recorder.url + "//", clock)()

    assert [(r.method, r.path) for r in recorder.requests] == [("POST", "/ims/token/v3")]


def test_take_count_counts_each_token_request_once(recorder, clock):
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply("t1")), Reply(200, token_reply("t2")))
    ims = fetcher(recorder.url, clock)

    assert (ims.requests, ims.take_count()) == (0, 0)
    ims()
    assert (ims.requests, ims.take_count(), ims.take_count()) == (1, 1, 0)
    ims()
    ims_requests_after_two = ims.requests
    assert (ims_requests_after_two, ims.take_count(), ims.take_count()) == (2, 1, 0)


def test_a_refused_request_counts_too(recorder, clock):
    recorder.on("POST", "/ims/token/v3", Reply(400, {"error": "invalid_scope"}))
    ims = fetcher(recorder.url, clock)

    with pytest.raises(AepAuthError):
        ims()

    assert ims.take_count() == 1


@pytest.mark.parametrize(
    ("expires_in", "ok"),
    [(YEAR_AND_A_DAY, True), (YEAR_AND_A_DAY + 0.5, False), (YEAR_AND_A_DAY + 1, False), (0.001, True)],
)
def test_the_longest_lifetime_is_366_days(recorder, clock, expires_in, ok):
    recorder.on("POST", "/ims/token/v3", Reply(200, {"access_token": "t", "expires_in": expires_in}))
    ims = fetcher(recorder.url, clock)

    if ok:
        assert ims().expires_at == clock.now() + expires_in
    else:
        with pytest.raises(AepAuthError) as caught:
            ims()
        assert str(caught.value.__cause__) == "expires_in is out of range"


@pytest.mark.parametrize(
    ("payload", "cause"),
    [
        ({"access_token": "t", "expires_in": "86399"}, TypeError("expires_in is not a number")),
        ({"access_token": "t", "expires_in": False}, TypeError("expires_in is not a number")),
        ({"access_token": "t", "expires_in": float("nan")}, ValueError("expires_in is out of range")),
        ({"access_token": "t", "expires_in": -0.5}, ValueError("expires_in is out of range")),
        ({"expires_in": 86399}, KeyError("access_token")),
        ({"access_token": "t"}, KeyError("expires_in")),
        (
            {"access_token": "a b", "expires_in": 86399},
            ValueError("access token is not an RFC 6750 b64token"),
        ),
        ({"access_token": 7, "expires_in": 86399}, NOT_B64),
        (["access_token"], TypeError("list indices must be integers or slices, not str")),
    ],
)
def test_an_unusable_answer_is_an_auth_error_with_its_cause(recorder, clock, payload, cause):
    recorder.on("POST", "/ims/token/v3", Reply(200, payload))

    with pytest.raises(AepAuthError) as caught:
        fetcher(recorder.url, clock)()

    assert caught.value.message == "IMS answered without a usable access_token/expires_in"
    assert (caught.value.status, caught.value.code, caught.value.body) == (200, None, None)
    assert type(caught.value.__cause__) is type(cause)
    assert str(caught.value.__cause__) == str(cause)


def test_a_refusal_carries_status_request_id_code_and_body(recorder, clock):
    body = '{"error":"invalid_scope","error_description":"scope not allowed"}'
    recorder.on("POST", "/ims/token/v3", Reply(400, body, headers={"x-request-id": "req-42"}))

    with pytest.raises(AepAuthError) as caught:
        fetcher(recorder.url, clock)()

    error = caught.value
    assert error.message == "IMS refused the token request: IMS token request: scope not allowed"
    assert (error.status, error.request_id, error.code, error.body) == (400, "req-42", "invalid_scope", body)
    assert error.__cause__ is not None
    assert error.retryable


@pytest.mark.parametrize("status", [400, 401, 403, 404, 499])
def test_every_4xx_but_429_is_a_refusal(recorder, clock, status):
    recorder.on("POST", "/ims/token/v3", Reply(status, {"error": "nope"}))

    with pytest.raises(AepAuthError) as caught:
        fetcher(recorder.url, clock)()

    assert caught.value.message.startswith("IMS refused the token request: ")
    assert (caught.value.status, caught.value.code) == (status, "nope")


class Reload:
    def __init__(self, result: AepCredentials | Exception) -> None:
        self.result = result
        self.calls = 0

    def __call__(self) -> AepCredentials:
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


INVALID_CLIENT = Reply(401, {"error": "invalid_client", "error_description": "invalid client_secret"})


def test_invalid_client_without_a_reload_is_raised_at_once(recorder, clock):
    recorder.on("POST", "/ims/token/v3", INVALID_CLIENT)

    with pytest.raises(AepAuthError) as caught:
        fetcher(recorder.url, clock)()

    assert (caught.value.code, caught.value.status) == ("invalid_client", 401)
    assert len(recorder.requests) == 1


def test_invalid_client_with_unchanged_credentials_is_not_asked_again(recorder, clock):
    recorder.on("POST", "/ims/token/v3", INVALID_CLIENT, Reply(200, token_reply("t")))
    same = AepCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, org_id=ORG_ID)
    reload = Reload(same)

    with pytest.raises(AepAuthError) as caught:
        fetcher(recorder.url, clock, reload)()

    assert caught.value.code == "invalid_client"
    assert (reload.calls, len(recorder.requests)) == (1, 1)


def test_the_log_lines_of_a_rotation_and_a_fetch(recorder, clock, caplog):
    rotated = AepCredentials(client_id=CLIENT_ID, client_secret="rotated", org_id=ORG_ID)
    recorder.on("POST", "/ims/token/v3", INVALID_CLIENT, Reply(200, token_reply("tok-9", 7200)))
    caplog.set_level(logging.INFO, logger="aep.ims")

    token = fetcher(recorder.url, clock, Reload(rotated))()

    records = [r for r in caplog.records if r.name == "aep.ims"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.WARNING, "IMS refused the client; using the credentials secret's new value"),
        (logging.INFO, "fetched IMS token"),
    ]
    assert (records[1].token, records[1].expires_in) == (token.fingerprint, 7200)
    assert "tok-9" not in caplog.text
    assert "rotated" not in caplog.text


def test_an_unreadable_credentials_secret_is_logged_by_its_message(recorder, clock, caplog):
    from aep import AepConfigError

    recorder.on("POST", "/ims/token/v3", INVALID_CLIENT)
    caplog.set_level(logging.INFO, logger="aep.ims")

    with pytest.raises(AepAuthError):
        fetcher(recorder.url, clock, Reload(AepConfigError("cannot read credentials secret 'x': Denied")))()

    (record,) = [r for r in caplog.records if r.name == "aep.ims"]
    assert (record.levelno, record.getMessage()) == (
        logging.WARNING,
        "cannot read the credentials secret again",
    )
    assert record.error == "cannot read credentials secret 'x': Denied"
