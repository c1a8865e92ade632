from __future__ import annotations

import logging

import pytest

from aep import AepAuthError
from tests.conftest import CLIENT_ID, CLIENT_SECRET, make_client, token_reply
from tests.support.recorder import Reply


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
