"""A corrupted token secret is treated as empty and refreshed: its content never becomes a header."""

from __future__ import annotations

import json

import pytest

from aep import AccessToken, AepAuthError
from aep.token import is_bearer_token
from tests.conftest import make_client, token_reply
from tests.support.recorder import Reply

NOW = 1_800_000_000.0  # FakeClock's start
DAY = 86_400.0
NAMESPACES = "/data/core/idnamespace/identities"


def good(**changes: object) -> str:
    return json.dumps(
        {"access_token": "stored-token", "expires_at": NOW + DAY / 2, "token_type": "bearer", **changes}
    )


CORRUPTED = {
    "crlf": good(access_token="stored\r\nX-Injected: 1"),
    "lf": good(access_token="stored\ntoken"),
    "space": good(access_token="stored token"),
    "non-ascii": good(access_token="st\u00f6red"),
    "equals-inside": good(access_token="abc=def"),
    "quote": good(access_token='abc"def'),
    "empty-token": good(access_token=""),
    "token-number": good(access_token=12345),
    "token-list": good(access_token=["stored-token"]),
    "token-missing": json.dumps({"expires_at": NOW + DAY / 2}),
    "expires-missing": json.dumps({"access_token": "stored-token"}),
    "expires-infinity": good(expires_at=float("inf")),  # json.dumps writes Infinity
    "expires-nan": good(expires_at=float("nan")),
    "expires-1e999": json.dumps({"access_token": "stored-token"})[:-1] + ', "expires_at": 1e999}',
    "expires-over-a-year": good(expires_at=NOW + 367 * DAY),
    "expires-negative": good(expires_at=-1),
    "expires-string": good(expires_at=str(NOW + DAY / 2)),
    "expires-bool": good(expires_at=True),
    "expires-null": good(expires_at=None),
    "issued-nan": good(issued_at=float("nan")),
    "issued-string": good(issued_at="yesterday"),
    "not-an-object": json.dumps(["stored-token", NOW + DAY / 2]),
    "not-json": "stored-token",
}


@pytest.mark.parametrize("content", CORRUPTED.values(), ids=CORRUPTED.keys())
def test_corrupted_shared_token_is_refreshed_and_never_sent(recorder, clock, secrets, content):
    secrets.put_secret_value(SecretId="aep/token", SecretString=content)
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply("fresh-token")))
    recorder.on("GET", NAMESPACES, Reply(200, []))
    client = make_client(recorder.url, secrets, clock)

    client.identities.namespaces()

    (sent,) = recorder.calls("GET", NAMESPACES)
    assert sent.headers["authorization"] == "Bearer fresh-token"
    assert len(recorder.calls("POST", "/ims/token/v3")) == 1
    stored = json.loads(secrets.get_secret_value(SecretId="aep/token")["SecretString"])
    assert stored["access_token"] == "fresh-token"


def test_a_well_formed_shared_token_is_used(recorder, clock, secrets):
    secrets.put_secret_value(SecretId="aep/token", SecretString=good(access_token="A-z0.9_~+/b=="))
    recorder.on("GET", NAMESPACES, Reply(200, []))
    client = make_client(recorder.url, secrets, clock)

    client.identities.namespaces()

    assert recorder.calls("GET", NAMESPACES)[0].headers["authorization"] == "Bearer A-z0.9_~+/b=="
    assert recorder.calls("POST", "/ims/token/v3") == []


def test_a_shared_token_a_year_ahead_is_still_accepted(recorder, clock, secrets):
    secrets.put_secret_value(SecretId="aep/token", SecretString=good(expires_at=NOW + 365 * DAY))
    recorder.on("GET", NAMESPACES, Reply(200, []))
    client = make_client(recorder.url, secrets, clock)

    client.identities.namespaces()

    assert recorder.calls("GET", NAMESPACES)[0].headers["authorization"] == "Bearer stored-token"


@pytest.mark.parametrize(
    "reply",
    [
        token_reply("bad\r\ntoken"),
        token_reply("bad token"),
        {"access_token": "ok", "expires_in": float("inf")},
        {"access_token": "ok", "expires_in": 367 * 86400},
        {"access_token": "ok", "expires_in": "86399"},
        {"access_token": 5, "expires_in": 86399},
    ],
    ids=["crlf", "space", "infinite", "over-a-year", "string-lifetime", "number-token"],
)
def test_a_malformed_ims_answer_is_an_auth_error_and_never_sent(recorder, clock, secrets, reply):
    body = json.dumps(reply).encode()
    recorder.on("POST", "/ims/token/v3", Reply(200, body))
    recorder.on("GET", NAMESPACES, Reply(200, []))
    client = make_client(recorder.url, secrets, clock)

    with pytest.raises(AepAuthError) as caught:
        client.identities.namespaces()

    assert caught.value.retryable
    assert recorder.calls("GET", NAMESPACES) == []
    assert "bad" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("abc", True),
        ("A-Z.a_z~0+9/", True),
        ("abc=", True),
        ("abc==", True),
        ("=", False),
        ("abc=d", False),
        ("", False),
        ("a b", False),
        ("a\tb", False),
        ("a\r\nb", False),
        ("abc\n", False),
        ("\u00e9", False),
        ("a,b", False),
        ("a;b", False),
    ],
)
def test_bearer_token_charset_is_rfc_6750_b64token(value, ok):
    assert is_bearer_token(value) is ok


def test_access_token_refuses_a_value_outside_the_charset():
    with pytest.raises(ValueError, match="b64token"):
        AccessToken(value="a\r\nb", expires_at=NOW)
