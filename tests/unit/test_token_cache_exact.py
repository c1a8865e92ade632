"""The token cache pinned exactly: its defaults, the lease request it sends, the log lines it writes."""

from __future__ import annotations

import json
import logging
import random
import uuid
from typing import Any

import pytest

from aep import AepServerError
from aep.token_cache import TokenCache
from tests.support.fakes import FakeClock
from tests.support.fakes import FakeIms as Ims

LIFETIME = 86_399.0
LEASE_NAMESPACE = uuid.UUID("6f1f4c62-5b7e-4a51-9d0e-2f7f3c1a8b10")


class Secrets:
    """A Secrets Manager stand-in that records every call and answers from a script."""

    def __init__(self, answer: dict[str, Any] | None = None, put_error: Exception | None = None) -> None:
        self.answer = answer if answer is not None else {"SecretString": "{}", "VersionId": "v-1"}
        self.put_error = put_error
        self.gets: list[dict[str, Any]] = []
        self.puts: list[dict[str, Any]] = []

    def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        self.gets.append(kwargs)
        return self.answer

    def put_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs)
        if self.put_error is not None and "ClientRequestToken" in kwargs:
            raise self.put_error
        return {}


def cache(ims: Ims, secrets: Any, clock: FakeClock, **kwargs: Any) -> TokenCache:
    return TokenCache(
        fetch=ims,
        secret_id="aep/token",
        secrets_client=lambda: secrets,
        clock=clock,
        rng=random.Random(1),
        **kwargs,
    )


def test_the_defaults():
    clock = FakeClock()
    tokens = TokenCache(fetch=Ims(clock), secret_id="s", secrets_client=lambda: None, clock=clock)

    assert (tokens._margin, tokens._hard_margin) == (3600.0, 60.0)
    assert 0.0 <= tokens._jitter <= 1800.0
    assert (tokens._lease_seconds, tokens._lease_poll_seconds, tokens._lease_polls) == (120.0, 0.5, 10)
    assert (tokens._backoff, tokens._max_backoff, tokens._reject_window) == (30.0, 3600.0, 60.0)
    assert tokens._shared_poll_seconds == 1.0


def test_the_jitter_is_drawn_once_from_the_given_rng():
    clock = FakeClock()
    tokens = TokenCache(
        fetch=Ims(clock), secret_id="s", secrets_client=lambda: None, clock=clock, rng=random.Random(3)
    )

    assert tokens._jitter == random.Random(3).uniform(0.0, 1800.0)


def test_the_lease_is_a_put_with_a_request_token_derived_from_secret_version_and_bucket():
    clock = FakeClock(now=1_800_000_123.0)
    secrets = Secrets({"SecretString": "{}", "VersionId": "v-7"})
    tokens = cache(Ims(clock), secrets, clock, lease_seconds=120)

    tokens.get()

    lease, published = secrets.puts
    bucket = int(1_800_000_123.0 // 120)  # 15000001
    assert bucket == 15_000_001
    assert lease == {
        "SecretId": "aep/token",
        "SecretString": json.dumps({"lease": tokens._worker, "for_version": "v-7"}),
        "ClientRequestToken": str(uuid.uuid5(LEASE_NAMESPACE, f"aep/token|v-7|{bucket}")),
        "VersionStages": ["AEPREFRESHLEASE"],
    }
    assert len(tokens._worker) == 32
    assert published == {
        "SecretId": "aep/token",
        "SecretString": json.dumps(
            {
                "access_token": "tok-1",
                "expires_at": 1_800_000_123.0 + LIFETIME,
                "issued_at": 1_800_000_123.0,
                "token_type": "bearer",
            }
        ),
    }
    assert secrets.gets == [{"SecretId": "aep/token"}]


def test_a_secret_without_a_version_id_leases_version_none():
    clock = FakeClock(now=1_800_000_000.0)
    secrets = Secrets({"SecretString": "{}"})
    tokens = cache(Ims(clock), secrets, clock, lease_seconds=120)

    tokens.get()

    expected = uuid.uuid5(LEASE_NAMESPACE, f"aep/token|none|{int(1_800_000_000.0 // 120)}")
    assert secrets.puts[0]["ClientRequestToken"] == str(expected)
    assert json.loads(secrets.puts[0]["SecretString"])["for_version"] == "none"


def test_the_secrets_client_is_created_once():
    clock = FakeClock()
    made: list[Secrets] = []

    def factory() -> Secrets:
        made.append(Secrets())
        return made[-1]

    tokens = TokenCache(fetch=Ims(clock), secret_id="s", secrets_client=factory, clock=clock)
    tokens.get()
    tokens.invalidate("tok-1")
    tokens.get()

    assert len(made) == 1
    assert len(made[0].gets) == 2


class Coded(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


def test_a_lease_write_that_fails_otherwise_refreshes_alone_and_logs_the_code(caplog):
    clock = FakeClock()
    secrets = Secrets(put_error=Coded("ThrottlingException"))
    caplog.set_level(logging.INFO, logger="aep.token_cache")
    ims = Ims(clock)

    assert cache(ims, secrets, clock).get().value == "tok-1"

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.getMessage(), r.error) for r in warnings] == [
        ("cannot take the token refresh lease", "ThrottlingException")
    ]
    assert ims.calls == 1


def test_a_lease_write_that_fails_without_a_code_logs_the_exception_type(caplog):
    clock = FakeClock()
    secrets = Secrets(put_error=RuntimeError("down"))
    caplog.set_level(logging.WARNING, logger="aep.token_cache")

    assert cache(Ims(clock), secrets, clock).get().value == "tok-1"

    assert [(r.getMessage(), r.error) for r in caplog.records] == [
        ("cannot take the token refresh lease", "RuntimeError")
    ]


def test_a_lease_held_by_another_container_is_not_logged_as_a_failure(caplog):
    clock = FakeClock()
    held = Secrets(put_error=Coded("ResourceExistsException"))
    shared = {"access_token": "theirs", "expires_at": clock.now() + 100, "issued_at": clock.now()}
    held.answer = {"SecretString": json.dumps(shared), "VersionId": "v-2"}
    caplog.set_level(logging.WARNING, logger="aep.token_cache")
    ims = Ims(clock)

    token = cache(ims, held, clock, margin=3600, jitter=0).get()

    assert token.value == "theirs"
    assert ims.calls == 0
    assert caplog.records == []


class BrokenSecrets:
    def get_secret_value(self, **kwargs: Any) -> Any:
        raise KeyError("denied")

    def put_secret_value(self, **kwargs: Any) -> Any:
        raise KeyError("denied")


def test_secrets_manager_failures_are_logged_by_type_only(caplog):
    clock = FakeClock()
    caplog.set_level(logging.WARNING, logger="aep.token_cache")

    cache(Ims(clock), BrokenSecrets(), clock).get()

    assert [(r.getMessage(), r.error) for r in caplog.records] == [
        ("cannot read the token secret", "KeyError"),  # unreadable: no lease is tried
        ("cannot write the token secret", "KeyError"),
    ]
    assert "denied" not in caplog.text


def test_a_failing_ims_call_logs_the_backoff_and_cause(caplog):
    clock = FakeClock()
    ims = Ims(clock)
    ims.failure = AepServerError("IMS down", status=503)
    caplog.set_level(logging.WARNING, logger="aep.token_cache")
    tokens = cache(ims, Secrets(), clock, backoff=30)

    with pytest.raises(AepServerError):
        tokens.get()

    (record,) = [r for r in caplog.records if "authentication" in r.getMessage()]
    assert record.getMessage() == "authentication failing; not refreshing the token for a while"
    assert (record.backoff_seconds, record.failures, record.error) == (30, 1, "IMS down")


def test_a_rejection_is_logged_with_the_fingerprint(caplog):
    clock = FakeClock()
    tokens = cache(Ims(clock), Secrets(), clock)
    token = tokens.get()
    caplog.set_level(logging.INFO, logger="aep.token_cache")

    tokens.invalidate(token.value)

    (record,) = caplog.records
    assert record.getMessage() == "token rejected; it will be replaced"
    assert record.token == token.fingerprint
