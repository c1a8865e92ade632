from __future__ import annotations

import logging

from aep.logs import protect_logs
from tests.conftest import CLIENT_SECRET, make_client, token_reply
from tests.support.recorder import Reply

PHONE = "+14155550123"


def test_a_full_exchange_logs_neither_secret_token_nor_identity(recorder, secrets, clock, caplog):
    caplog.set_level(logging.DEBUG)
    protect_logs()
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply("eyJ-very-secret-token")))
    recorder.on(
        "GET",
        "/data/core/ups/access/entities",
        Reply(401, {"error_code": "401013", "message": "Oauth token is not valid"}),
        Reply(503),
        Reply(200, {}),
    )
    client = make_client(recorder.url, secrets, clock)

    client.profiles.get(PHONE, "Phone")

    # `responses` is moto's request interceptor: it exists only under mock_aws, never in Lambda.
    records = [r for r in caplog.records if r.name != "responses"]
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in records)
    assert "retrying AEP call" in text
    assert "token rejected; refreshing once" in text
    assert CLIENT_SECRET not in text
    assert "eyJ-very-secret-token" not in text
    assert PHONE not in text
    assert "14155550123" not in text
    assert CLIENT_SECRET not in repr(client)
    assert CLIENT_SECRET not in repr(client.credentials)


def test_protect_logs_caps_libraries_that_log_bodies_and_urls(caplog):
    caplog.set_level(logging.DEBUG)

    protect_logs()

    for name in ("botocore", "urllib3"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
