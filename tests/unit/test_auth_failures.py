"""Auth is never a property of a record: persistent 401/403, IMS failures and a rotated client secret are
transient (retryable), and cost a bounded number of IMS calls and Secrets Manager versions."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from aep import AepAuthError, AepServerError
from tests.conftest import CLIENT_ID, CLIENT_SECRET, ORG_ID, make_client, token_reply
from tests.support.recorder import Recorded, Reply

NAMESPACES = "/data/core/idnamespace/identities"
INVALID_TOKEN = Reply(401, {"error_code": "401013", "message": "Oauth token is not valid"})
ROTATED = "p8e-ROTATED-SECRET-never-logged"


class Minting:
    """IMS that issues tok-1, tok-2, ... (to the client secret it accepts)."""

    def __init__(self, accept: str = CLIENT_SECRET) -> None:
        self.accept = accept
        self.issued = 0
        self._lock = threading.Lock()

    def __call__(self, request: Recorded) -> Reply:
        if request.form().get("client_secret") != self.accept:
            return Reply(
                401, {"error": "invalid_client", "error_description": "invalid client_secret parameter"}
            )
        with self._lock:
            self.issued += 1
            return Reply(200, token_reply(f"tok-{self.issued}"))


class CountingSecrets:
    """The moto client, counting reads per secret."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.reads: dict[str, int] = {}

    def get_secret_value(self, **kwargs: Any) -> Any:
        self.reads[kwargs["SecretId"]] = self.reads.get(kwargs["SecretId"], 0) + 1
        return self.client.get_secret_value(**kwargs)

    def put_secret_value(self, **kwargs: Any) -> Any:
        return self.client.put_secret_value(**kwargs)


def versions(secrets: Any) -> int:
    answer = secrets.list_secret_version_ids(SecretId="aep/token", IncludeDeprecated=True)
    return len(answer["Versions"])


def sent_tokens(recorder: Any) -> list[str]:
    return [r.headers["authorization"] for r in recorder.calls("GET", NAMESPACES)]


def test_twenty_requests_against_a_persistent_401_cost_two_ims_calls_and_four_versions(
    recorder, clock, secrets
):
    recorder.on("POST", "/ims/token/v3", Minting())
    recorder.on("GET", NAMESPACES, INVALID_TOKEN)
    client = make_client(recorder.url, secrets, clock)
    before = versions(secrets)

    errors = []
    for _ in range(20):
        with pytest.raises(AepAuthError) as caught:
            client.identities.namespaces()
        errors.append(caught.value)

    assert [e.retryable for e in errors] == [True] * 20
    assert len(recorder.calls("POST", "/ims/token/v3")) == 2
    assert versions(secrets) - before == 4  # two refreshes: a lease and a token each
    assert sent_tokens(recorder) == ["Bearer tok-1", "Bearer tok-2"]  # then it fails fast, sending nothing
    assert errors[0].status == 401
    assert errors[0].code == "401013"
    assert "backing off" in errors[1].message
    assert clock.sleeps == []
    assert client.ims.take_count() == 2
    assert client.ims.take_count() == 0


def test_after_the_backoff_one_more_refresh_then_the_backoff_doubles(recorder, clock, secrets):
    recorder.on("POST", "/ims/token/v3", Minting())
    recorder.on("GET", NAMESPACES, INVALID_TOKEN)
    client = make_client(recorder.url, secrets, clock)
    with pytest.raises(AepAuthError):
        client.identities.namespaces()
    assert len(recorder.calls("POST", "/ims/token/v3")) == 2

    clock.advance(29.9)
    with pytest.raises(AepAuthError):
        client.identities.namespaces()
    assert len(recorder.calls("POST", "/ims/token/v3")) == 2

    clock.advance(0.1)  # 30 s after the replacement was rejected
    with pytest.raises(AepAuthError):
        client.identities.namespaces()
    assert len(recorder.calls("POST", "/ims/token/v3")) == 3
    assert sent_tokens(recorder)[-1] == "Bearer tok-3"

    clock.advance(59.9)
    with pytest.raises(AepAuthError):
        client.identities.namespaces()
    assert len(recorder.calls("POST", "/ims/token/v3")) == 3
    clock.advance(0.1)  # 60 s: the second backoff
    with pytest.raises(AepAuthError):
        client.identities.namespaces()
    assert len(recorder.calls("POST", "/ims/token/v3")) == 4


def test_a_revoked_token_is_replaced_and_the_request_succeeds(recorder, clock, secrets):
    recorder.on("POST", "/ims/token/v3", Minting())
    recorder.on("GET", NAMESPACES, Reply(200, []), INVALID_TOKEN, Reply(200, []))
    client = make_client(recorder.url, secrets, clock)
    client.identities.namespaces()

    assert client.identities.namespaces() == []

    assert sent_tokens(recorder) == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_rotated_client_secret_is_read_again_once_and_used(recorder, clock, secrets):
    ims = Minting(accept=ROTATED)
    recorder.on("POST", "/ims/token/v3", ims)
    recorder.on("GET", NAMESPACES, Reply(200, []))
    counting = CountingSecrets(secrets)
    client = make_client(recorder.url, counting, clock)
    secrets.put_secret_value(
        SecretId="aep/credentials",
        SecretString=json.dumps({"client_id": CLIENT_ID, "client_secret": ROTATED, "org_id": ORG_ID}),
    )

    assert client.identities.namespaces() == []

    ims_calls = recorder.calls("POST", "/ims/token/v3")
    assert [c.form()["client_secret"] for c in ims_calls] == [CLIENT_SECRET, ROTATED]
    assert counting.reads["aep/credentials"] == 1
    assert sent_tokens(recorder) == ["Bearer tok-1"]
    assert client.ims.take_count() == 2


def test_invalid_client_with_an_unchanged_secret_reads_it_once_then_backs_off(recorder, clock, secrets):
    recorder.on("POST", "/ims/token/v3", Minting(accept="not-the-stored-one"))
    recorder.on("GET", NAMESPACES, Reply(200, []))
    counting = CountingSecrets(secrets)
    client = make_client(recorder.url, counting, clock)

    errors = []
    for _ in range(20):
        with pytest.raises(AepAuthError) as caught:
            client.identities.namespaces()
        errors.append(caught.value)

    assert [e.retryable for e in errors] == [True] * 20
    assert errors[0].code == "invalid_client"
    assert len(recorder.calls("POST", "/ims/token/v3")) == 1
    assert counting.reads["aep/credentials"] == 1
    assert recorder.calls("GET", NAMESPACES) == []
    assert CLIENT_SECRET not in str(errors[0])
    assert CLIENT_SECRET not in str(errors[1])

    clock.advance(30)
    with pytest.raises(AepAuthError):
        client.identities.namespaces()
    assert len(recorder.calls("POST", "/ims/token/v3")) == 2
    assert counting.reads["aep/credentials"] == 2


def test_an_ims_outage_is_not_called_again_during_the_backoff(recorder, clock, secrets):
    recorder.on("POST", "/ims/token/v3", Reply(503))
    recorder.on("GET", NAMESPACES, Reply(200, []))
    client = make_client(recorder.url, secrets, clock, max_attempts=2)

    with pytest.raises(AepServerError) as first:
        client.identities.namespaces()
    clock.advance(29)
    with pytest.raises(AepAuthError) as second:
        client.identities.namespaces()

    assert first.value.retryable
    assert second.value.retryable
    assert second.value.status == 503
    assert len(recorder.calls("POST", "/ims/token/v3")) == 2  # the transport's two attempts, once
    assert recorder.calls("GET", NAMESPACES) == []


def test_a_failed_scheduled_refresh_keeps_serving_the_still_valid_token(recorder, clock, secrets):
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply("tok-1")), Reply(503))
    recorder.on("GET", NAMESPACES, Reply(200, []))
    client = make_client(recorder.url, secrets, clock, max_attempts=1)
    client.identities.namespaces()
    clock.advance(86399 - 3600)  # past every refresh point, an hour before expiry

    client.identities.namespaces()
    client.identities.namespaces()

    assert sent_tokens(recorder) == ["Bearer tok-1"] * 3
    assert len(recorder.calls("POST", "/ims/token/v3")) == 2  # one failed refresh, not one per request
