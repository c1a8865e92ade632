"""Fixtures shared by every test: AWS through moto, a scripted HTTP server, a fake clock, a client."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aep import AepClient, AepCredentials, AepSettings, RetryPolicy
from tests.support.fakes import FakeClock
from tests.support.recorder import Recorder, serve

# Powertools Metrics reads its namespace when a function module is imported.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AepConnectorTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")

ORG_ID = "5C1328435BF324E90A49402A@AdobeOrg"
CLIENT_ID = "test-client-id"
CLIENT_SECRET = "p8e-TEST-SECRET-never-logged"  # a fake credential: must never appear in output


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches AWS: fake credentials, a region, and no endpoint override leaking in."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in list(os.environ):
        if name.startswith("AEP_"):
            monkeypatch.delenv(name)


#: The loggers a function's app.py hands to its Powertools logger (aep.logs.structured_logs).
PACKAGE_LOGGERS = ("aep", "stream_ingest", "batch_ingest", "batch_follow", "profile_lookup", "aep_setup")


@pytest.fixture(autouse=True)
def _package_loggers() -> Iterator[None]:
    """A function imported by one test (its app.py stops its package loggers propagating, as in Lambda)
    leaves them as they were for the next: caplog, on the root logger, sees their records."""
    loggers = [logging.getLogger(name) for name in PACKAGE_LOGGERS]
    saved = [(lg, lg.level, lg.propagate, list(lg.handlers)) for lg in loggers]
    yield
    for lg, level, propagate, handlers in saved:
        lg.setLevel(level)
        lg.propagate = propagate
        lg.handlers = handlers


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def secrets(aws: None) -> Any:
    client = boto3.client("secretsmanager")
    client.create_secret(
        Name="aep/credentials",
        SecretString=json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "org_id": ORG_ID}),
    )
    client.create_secret(Name="aep/token", SecretString="{}")
    return client


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with serve(Recorder()) as rec:
        yield rec


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def exact_policy(max_attempts: int = 5) -> RetryPolicy:
    """Backoff without randomness: waits are exactly base * 2**(n-1), capped."""
    return RetryPolicy(max_attempts=max_attempts, base=0.2, max_wait=20.0, jitter=lambda ceiling: ceiling)


def make_client(
    base_url: str, secrets_client: Any, clock: FakeClock, *, max_attempts: int = 5, **settings: Any
) -> AepClient:
    values = {
        "credentials_secret_id": "aep/credentials",
        "token_secret_id": "aep/token",
        "ims_url": base_url,
        "platform_url": base_url,
        "streaming_url": base_url,
        **settings,
    }
    return AepClient(
        AepSettings(**values),
        AepCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, org_id=ORG_ID),
        secrets_client=lambda: secrets_client,
        clock=clock,
        policy=exact_policy(max_attempts),
    )


def token_reply(token: str = "token-1", expires_in: int = 86399) -> dict[str, Any]:
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in}
