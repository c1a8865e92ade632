from __future__ import annotations

import logging

import pytest

from aep import (
    AepAuthError,
    AepConfigError,
    AepCredentials,
    AepServerError,
    AepThrottledError,
    AepTimeoutError,
)
from aep.http import Transport
from aep.ims import MAX_LIFETIME, ImsTokenFetcher
from tests.conftest import CLIENT_ID, CLIENT_SECRET, ORG_ID, exact_policy, make_client, token_reply
from tests.support.recorder import DROP, Reply


def test_token_request_is_form_encoded_client_credentials(recorder, clock, secrets):
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply("abc", 86399)))
    client = make_client(recorder.url, secrets, clock)

    token = client.ims()

    (call,) = recorder.requests
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.form() == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext",
    }
    assert "authorization" not in call.headers
    assert token.value == "abc"
    assert token.expires_at == clock.now() + 86399


def test_ims_refusal_is_an_auth_error_with_what_ims_said_and_no_secret(recorder, clock, secrets, caplog):
    recorder.on(
        "POST",
        "/ims/token/v3",
        Reply(400, {"error": "invalid_client", "error_description": "invalid client_secret parameter"}),
    )
    client = make_client(recorder.url, secrets, clock)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.WARNING, logger="botocore")  # as protect_logs() does in every function

    with pytest.raises(AepAuthError) as caught:
        client.ims()

    assert caught.value.code == "invalid_client"
    assert "invalid client_secret parameter" in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)
    assert CLIENT_SECRET not in caplog.text
    assert len(recorder.requests) == 1


def test_ims_outage_is_retried(recorder, clock, secrets):
    recorder.on("POST", "/ims/token/v3", Reply(503), Reply(200, token_reply("t")))
    client = make_client(recorder.url, secrets, clock)

    assert client.ims().value == "t"
    assert clock.sleeps == [0.2]


def test_answer_without_token_is_an_auth_error(recorder, clock, secrets):
    recorder.on("POST", "/ims/token/v3", Reply(200, {"token_type": "bearer"}))

    with pytest.raises(AepAuthError):
        make_client(recorder.url, secrets, clock).ims()


class Credentials:
    """A reload function that counts its calls."""

    def __init__(self, result: AepCredentials | Exception) -> None:
        self.result = result
        self.calls = 0

    def __call__(self) -> AepCredentials:
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def fetcher(recorder, clock, reload=None) -> ImsTokenFetcher:
    transport = Transport(policy=exact_policy(1), clock=clock)
    creds = AepCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, org_id=ORG_ID)
    return ImsTokenFetcher(transport, recorder.url, creds, reload=reload)


INVALID_CLIENT = Reply(400, {"error": "invalid_client", "error_description": "invalid client_id parameter"})


def test_only_invalid_client_reads_the_credentials_again(recorder, clock):
    recorder.on("POST", "/ims/token/v3", Reply(400, {"error": "invalid_scope", "error_description": "bad"}))
    reload = Credentials(AepCredentials(client_id=CLIENT_ID, client_secret="other", org_id=ORG_ID))

    with pytest.raises(AepAuthError) as caught:
        fetcher(recorder, clock, reload)()

    assert caught.value.code == "invalid_scope"
    assert caught.value.status == 400
    assert reload.calls == 0
    assert len(recorder.requests) == 1


def test_an_unreadable_credentials_secret_raises_the_ims_refusal(recorder, clock):
    recorder.on("POST", "/ims/token/v3", INVALID_CLIENT)
    reload = Credentials(AepConfigError("cannot read credentials secret 'aep/credentials': AccessDenied"))
    ims = fetcher(recorder, clock, reload)

    with pytest.raises(AepAuthError) as caught:
        ims()

    assert caught.value.code == "invalid_client"
    assert caught.value.retryable
    assert reload.calls == 1
    assert len(recorder.requests) == 1
    assert ims.credentials.client_secret.get_secret_value() == CLIENT_SECRET


def test_a_rotated_secret_is_kept_for_the_next_requests(recorder, clock):
    rotated = AepCredentials(client_id=CLIENT_ID, client_secret="rotated", org_id=ORG_ID)
    recorder.on(
        "POST", "/ims/token/v3", INVALID_CLIENT, Reply(200, token_reply("t1")), Reply(200, token_reply("t2"))
    )
    reload = Credentials(rotated)
    ims = fetcher(recorder, clock, reload)

    assert ims().value == "t1"
    assert ims().value == "t2"

    assert [r.form()["client_secret"] for r in recorder.requests] == [CLIENT_SECRET, "rotated", "rotated"]
    assert reload.calls == 1
    assert ims.credentials == rotated
    assert ims.take_count() == 3


def test_a_throttled_ims_stays_a_throttling_error(recorder, clock):
    recorder.on("POST", "/ims/token/v3", Reply(429, {"error": "too_many_requests"}))

    with pytest.raises(AepThrottledError):
        fetcher(recorder, clock)()


@pytest.mark.parametrize(
    ("expires_in", "ok"),
    [
        (1, True),
        (86399, True),
        (MAX_LIFETIME, True),
        (MAX_LIFETIME + 1, False),
        (0, False),
        (-5, False),
        (True, False),
        (None, False),
        (0.5, True),
    ],
)
def test_token_lifetime_bounds(recorder, clock, expires_in, ok):
    recorder.on("POST", "/ims/token/v3", Reply(200, {"access_token": "t", "expires_in": expires_in}))
    ims = fetcher(recorder, clock)

    if ok:
        token = ims()
        assert (token.expires_at, token.issued_at) == (clock.now() + expires_in, clock.now())
    else:
        with pytest.raises(AepAuthError) as caught:
            ims()
        assert caught.value.message == "IMS answered without a usable access_token/expires_in"
        assert caught.value.status == 200


def test_ims_server_errors_and_timeouts_stay_what_they_are(recorder, clock):
    recorder.on("POST", "/ims/token/v3", Reply(500), DROP)

    with pytest.raises(AepServerError) as server:
        fetcher(recorder, clock)()
    with pytest.raises(AepTimeoutError) as timeout:
        fetcher(recorder, clock)()

    assert server.value.status == 500
    assert timeout.value.status is None
