from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from aep import AepClient, AepCredentials, AepSettings, Clock, RetryPolicy
from aep_emulator import Emulator, SandboxConfig, load_orgs, running
from aep_emulator.config import DEFAULT_CONFIG
from tests.support.fakes import FakeClock

CALL_EVENTS = "65f0c0a1e4b0c1d2e3f40002"
CALLERS = "65f0c0a1e4b0c1d2e3f40001"
LOYALTY = "65f0c0a1e4b0c1d2e3f40003"
EVENTS_INLET = "9b0c7f3e1d2a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e"
CALLERS_INLET = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
EVENTS_FLOW = "d8a6f005-0000-4000-8000-00000000c411"
# The second sample org (local/aep_emulator/sandbox.brand-b.json): the same schemas, its own ids.
BRAND_B_CONFIG = Path(DEFAULT_CONFIG).with_name("sandbox.brand-b.json")
BRAND_B_CALLERS = "65f0c0a1e4b0c1d2e3f4b001"
BRAND_B_CALL_EVENTS = "65f0c0a1e4b0c1d2e3f4b002"
BRAND_B_EVENTS_INLET = "968ddf2eeef4269bf21cbde8e097e9770051dec24aee5548895471fd4282a30f"
BRAND_B_CALLERS_INLET = "9d2fe902161d86abfd3607dfbf78847ed0b42a4eea5a1626ec796d7d432b4e95"
BRAND_B_EVENTS_FLOW = "d8a6f005-0000-4000-8000-0000000bc411"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running() as emu:
        yield emu


class Admin:
    """The emulator's admin endpoints; ``org`` narrows each to one org (default: every org)."""

    def __init__(self, url: str) -> None:
        self.url = url

    @staticmethod
    def _params(org: str | None, sandbox: str | None = None) -> dict[str, str]:
        return {k: v for k, v in (("org", org), ("sandbox", sandbox)) if v is not None}

    def faults(self, *rules: dict[str, Any], seed: int = 7, org: str | None = None) -> None:
        requests.post(
            f"{self.url}/_admin/faults",
            json={"seed": seed, "rules": list(rules)},
            params=self._params(org),
            timeout=5,
        ).raise_for_status()

    def revoke_all(self, org: str | None = None) -> int:
        return int(
            requests.post(
                f"{self.url}/_admin/revoke", json={"all": True}, params=self._params(org), timeout=5
            ).json()["revoked"]
        )

    def requests(self, org: str | None = None) -> list[dict[str, Any]]:
        return list(requests.get(f"{self.url}/_admin/requests", params=self._params(org), timeout=5).json())

    def counters(self, org: str | None = None) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/_admin/counters", params=self._params(org), timeout=5).json())

    def streamed(self, org: str | None = None, sandbox: str | None = None) -> dict[str, Any]:
        return dict(
            requests.get(f"{self.url}/_admin/streamed", params=self._params(org, sandbox), timeout=5).json()
        )

    def batches(self, org: str | None = None, sandbox: str | None = None) -> list[dict[str, Any]]:
        return list(
            requests.get(f"{self.url}/_admin/batches", params=self._params(org, sandbox), timeout=5).json()
        )

    def profiles(self, org: str | None = None, sandbox: str | None = None) -> list[dict[str, Any]]:
        return list(
            requests.get(f"{self.url}/_admin/profiles", params=self._params(org, sandbox), timeout=5).json()
        )


@pytest.fixture
def admin(emulator: Emulator) -> Admin:
    return Admin(emulator.url)


def emulator_client(
    emulator: Emulator,
    clock: Clock,
    policy: RetryPolicy,
    org: SandboxConfig | None = None,
    token_secret_id: str = "aep/token",
    sandbox_name: str = "prod",
) -> AepClient:
    """A client of the emulator's ``org`` (default: its default org), with the shared token secret in moto
    (created once per test; give each org its own ``token_secret_id``)."""
    secrets = boto3.client("secretsmanager")
    with contextlib.suppress(secrets.exceptions.ResourceExistsException):
        secrets.create_secret(Name=token_secret_id, SecretString="{}")
    org = org or emulator.config
    creds = org.clients[0]
    return AepClient(
        AepSettings(
            credentials_secret_id="aep/credentials",
            token_secret_id=token_secret_id,
            ims_url=emulator.url,
            platform_url=emulator.url,
            streaming_url=emulator.url,
            sandbox_name=sandbox_name,
        ),
        AepCredentials.model_validate(
            {"client_id": creds.client_id, "client_secret": creds.client_secret, "org_id": org.org_id}
        ),
        secrets_client=lambda: secrets,
        clock=clock,
        policy=policy,
    )


@dataclass(frozen=True)
class OrgAccess:
    """One org of a running emulator: its ids, its first client's credentials, and Platform headers."""

    url: str
    config: SandboxConfig

    @property
    def org_id(self) -> str:
        return self.config.org_id

    @property
    def client_id(self) -> str:
        return self.config.clients[0].client_id

    @property
    def client_secret(self) -> str:
        return self.config.clients[0].client_secret

    def token(self) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": "openid,AdobeID",
        }
        answer = requests.post(f"{self.url}/ims/token/v3", data=form, timeout=5)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def headers(self, sandbox: str = "prod", token: str | None = None) -> dict[str, str]:
        """Platform headers of this org's client (a new token unless one is given)."""
        return {
            "Authorization": f"Bearer {token or self.token()}",
            "x-api-key": self.client_id,
            "x-gw-ims-org-id": self.org_id,
            "x-sandbox-name": sandbox,
        }


@dataclass(frozen=True)
class TwoOrgs:
    """An emulator serving two orgs side by side: ``a`` (sandbox.default.json, the default org) and ``b``
    (sandbox.brand-b.json)."""

    emulator: Emulator
    a: OrgAccess
    b: OrgAccess

    @property
    def url(self) -> str:
        return self.emulator.url


@contextlib.contextmanager
def serve_two_orgs() -> Iterator[TwoOrgs]:
    """An emulator of the two sample orgs, each with its own sandbox file."""
    with running(load_orgs(DEFAULT_CONFIG, BRAND_B_CONFIG)) as emu:
        first, second = emu.orgs
        yield TwoOrgs(emu, OrgAccess(emu.url, first), OrgAccess(emu.url, second))


@pytest.fixture
def two_orgs() -> Iterator[TwoOrgs]:
    with serve_two_orgs() as orgs:
        yield orgs


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
    emulator: Emulator,
    dataset_id: str,
    record: dict[str, Any],
    flow_id: str | None = None,
    org: SandboxConfig | None = None,
) -> dict[str, Any]:
    """An XDM streaming message for a dataset of ``org`` (default: the emulator's default org)."""
    org = org or emulator.config
    dataset = org.dataset(dataset_id)
    assert dataset is not None
    ref = {"id": dataset.schema_ref, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    header: dict[str, Any] = {"schemaRef": ref, "imsOrgId": org.org_id, "datasetId": dataset_id}
    if flow_id:
        header["flowId"] = flow_id
    return {"header": header, "body": {"xdmMeta": {"schemaRef": ref}, "xdmEntity": record}}


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()
