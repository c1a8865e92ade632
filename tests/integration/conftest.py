from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests

from aep import AepClient, AepCredentials, AepSettings, Clock, RetryPolicy
from aep_emulator import Emulator, running
from tests.support.fakes import FakeClock

CALL_EVENTS = "65f0c0a1e4b0c1d2e3f40002"
CALLERS = "65f0c0a1e4b0c1d2e3f40001"
LOYALTY = "65f0c0a1e4b0c1d2e3f40003"
EVENTS_INLET = "9b0c7f3e1d2a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e"
CALLERS_INLET = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
EVENTS_FLOW = "d8a6f005-0000-4000-8000-00000000c411"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running() as emu:
        yield emu


class Admin:
    def __init__(self, url: str) -> None:
        self.url = url

    def faults(self, *rules: dict[str, Any], seed: int = 7) -> None:
        requests.post(
            f"{self.url}/_admin/faults", json={"seed": seed, "rules": list(rules)}, timeout=5
        ).raise_for_status()

    def revoke_all(self) -> int:
        return int(
            requests.post(f"{self.url}/_admin/revoke", json={"all": True}, timeout=5).json()["revoked"]
        )

    def requests(self) -> list[dict[str, Any]]:
        return list(requests.get(f"{self.url}/_admin/requests", timeout=5).json())

    def counters(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/_admin/counters", timeout=5).json())

    def streamed(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/_admin/streamed", timeout=5).json())


@pytest.fixture
def admin(emulator: Emulator) -> Admin:
    return Admin(emulator.url)


def emulator_client(emulator: Emulator, clock: Clock, policy: RetryPolicy) -> AepClient:
    """A client of the emulator, with the shared token secret in moto (created once per test)."""
    secrets = boto3.client("secretsmanager")
    with contextlib.suppress(secrets.exceptions.ResourceExistsException):
        secrets.create_secret(Name="aep/token", SecretString="{}")
    creds = emulator.config.clients[0]
    return AepClient(
        AepSettings(
            credentials_secret_id="aep/credentials",
            token_secret_id="aep/token",
            ims_url=emulator.url,
            platform_url=emulator.url,
            streaming_url=emulator.url,
        ),
        AepCredentials.model_validate(
            {
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
                "org_id": emulator.config.org_id,
            }
        ),
        secrets_client=lambda: secrets,
        clock=clock,
        policy=policy,
    )


@pytest.fixture
def client(emulator: Emulator, aws: None) -> AepClient:
    return emulator_client(
        emulator,
        FakeClock(real_sleep=0.001),
        RetryPolicy(max_attempts=5, base=0.01, max_wait=0.05, jitter=lambda c: c),
    )


def iso(minutes_ago: int = 5) -> str:
    return (
        (datetime.now(UTC) - timedelta(minutes=minutes_ago))
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def call_event(phone: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "_id": f"call-{phone}-{n}",
        "timestamp": iso(10_000 - n),
        "eventType": "ivr.call",
        "identityMap": {"Phone": [{"id": phone, "primary": True}]},
        "_acme": {"call": {"direction": "inbound", "durationSeconds": 60 + n, "intent": "billing"}},
        **extra,
    }


def caller(phone: str, first: str) -> dict[str, Any]:
    return {
        "_id": f"caller-{phone}",
        "identityMap": {"Phone": [{"id": phone, "primary": True}]},
        "person": {"name": {"firstName": first}},
        "_acme": {"tier": "gold"},
    }


def envelope(
    emulator: Emulator, dataset_id: str, record: dict[str, Any], flow_id: str | None = None
) -> dict[str, Any]:
    dataset = emulator.config.dataset(dataset_id)
    assert dataset is not None
    ref = {"id": dataset.schema_ref, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    header: dict[str, Any] = {"schemaRef": ref, "imsOrgId": emulator.config.org_id, "datasetId": dataset_id}
    if flow_id:
        header["flowId"] = flow_id
    return {"header": header, "body": {"xdmMeta": {"schemaRef": ref}, "xdmEntity": record}}


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()
