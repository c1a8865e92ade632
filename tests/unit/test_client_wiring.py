"""AepClient's composition: every setting reaches the part that uses it; the credentials secret's errors."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import requests

import aep.client as client_module
from aep import AepClient, AepConfigError, AepCredentials, AepSettings, RetryPolicy
from aep.client import _boto3_secrets_client, load_credentials, reset_shared_client, shared_client
from aep.timing import SystemClock
from tests.conftest import CLIENT_ID, CLIENT_SECRET, ORG_ID
from tests.support.fakes import FakeClock

SETTINGS = AepSettings(
    credentials_secret_id="aep/credentials",
    token_secret_id="aep/token",
    sandbox_name="dev-1",
    ims_url="https://ims.example.test/",
    platform_url="https://platform.example.test/",
    streaming_url="https://stream.example.test/",
    connect_timeout=1.5,
    read_timeout=7.25,
    max_attempts=3,
    max_backoff=9.5,
    pool_size=5,
    token_refresh_margin=900,
    token_refresh_jitter=120,
)
CREDENTIALS = AepCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, org_id=ORG_ID)


def build(secrets: Any = None, **kwargs: Any) -> AepClient:
    return AepClient(SETTINGS, CREDENTIALS, secrets_client=lambda: secrets, **kwargs)


def test_the_transport_gets_the_timeouts_pool_size_retry_policy_and_clock():
    clock = FakeClock()
    client = build(clock=clock)
    transport = client.transport

    assert (transport.connect_timeout, transport.read_timeout) == (1.5, 7.25)
    assert (transport.policy.max_attempts, transport.policy.max_wait) == (3, 9.5)
    assert transport.policy.base == 0.2
    assert client.clock is clock
    assert transport.clock is clock
    adapter = transport.session.get_adapter("https://platform.example.test/")
    assert adapter._pool_maxsize == 5  # type: ignore[attr-defined]
    assert transport.authenticator is not None


def test_a_given_session_policy_and_no_clock():
    session = requests.Session()
    policy = RetryPolicy(max_attempts=2)
    client = build(session=session, policy=policy)

    assert client.transport.session is session
    assert client.transport.policy is policy
    assert isinstance(client.clock, SystemClock)
    assert client.transport.clock is client.clock


def test_the_ims_fetcher_gets_the_ims_url_and_the_credentials():
    client = build()

    assert client.ims._url == "https://ims.example.test/ims/token/v3"
    assert client.ims.credentials is CREDENTIALS
    assert client.ims._transport is client.transport


def test_the_ims_fetcher_rereads_the_credentials_secret(secrets):
    rotated = {"client_id": CLIENT_ID, "client_secret": "rotated", "org_id": ORG_ID}
    secrets.put_secret_value(SecretId="aep/credentials", SecretString=json.dumps(rotated))
    client = build(secrets)

    assert client.ims._reload is not None
    reread = client.ims._reload()

    assert reread.client_secret.get_secret_value() == "rotated"
    assert (reread.client_id, reread.org_id) == (CLIENT_ID, ORG_ID)


def test_the_token_cache_gets_the_secret_margin_jitter_and_clock(secrets):
    clock = FakeClock()
    client = build(secrets, clock=clock, rng=random.Random(7))
    tokens = client.tokens

    assert tokens._fetch is client.ims
    assert tokens._secret_id == "aep/token"
    assert tokens._clock is clock
    assert tokens._margin == 900
    assert tokens._jitter == random.Random(7).uniform(0.0, 120)
    assert tokens._secrets() is secrets


def test_every_platform_call_carries_the_four_headers_from_credentials_and_settings(secrets):
    clock = FakeClock()
    shared = {"access_token": "shared-tok", "expires_at": clock.now() + 86_000, "issued_at": clock.now()}
    secrets.put_secret_value(SecretId="aep/token", SecretString=json.dumps(shared))
    client = build(secrets, clock=clock)

    assert client.transport.authenticator is not None
    assert client.transport.authenticator.headers() == {
        "Authorization": "Bearer shared-tok",
        "x-api-key": CLIENT_ID,
        "x-gw-ims-org-id": ORG_ID,
        "x-sandbox-name": "dev-1",
    }


def test_the_apis_get_their_base_urls_and_the_shared_transport():
    client = build()

    assert client.batches._base == "https://platform.example.test/data/foundation/import"
    assert client.catalog._catalog == "https://platform.example.test/data/foundation/catalog"
    assert client.streaming._base == "https://stream.example.test/collection"
    assert client.streaming._sandbox_name == "dev-1"
    assert client.profiles._base == "https://platform.example.test/data/core/ups"
    assert client.identities._url == "https://platform.example.test/data/core/idnamespace/identities"
    apis: list[Any] = [client.batches, client.catalog, client.streaming, client.profiles, client.identities]
    assert all(api._t is client.transport for api in apis)


def test_repr_names_the_org_and_sandbox_only():
    assert repr(build()) == f"AepClient(org_id={ORG_ID!r}, sandbox='dev-1')"


REQUIRED = {"AEP_CREDENTIALS_SECRET_ID": "aep/credentials", "AEP_TOKEN_SECRET_ID": "aep/token"}


def test_from_env_reads_os_environ_by_default_and_shares_one_secrets_client(secrets, monkeypatch):
    for name, value in {**REQUIRED, "AEP_SANDBOX_NAME": "from-os"}.items():
        monkeypatch.setenv(name, value)
    made: list[object] = []

    def factory() -> Any:
        made.append(1)
        return secrets

    clock = FakeClock()
    client = AepClient.from_env(secrets_client=factory, clock=clock)

    assert client.settings.sandbox_name == "from-os"
    assert client.credentials == CREDENTIALS
    assert client.clock is clock
    assert client.tokens._secrets() is secrets
    assert client.ims._reload is not None
    assert client.ims._reload() == CREDENTIALS
    assert len(made) == 1


def test_from_env_prefers_the_given_mapping(secrets, monkeypatch):
    monkeypatch.setenv("AEP_SANDBOX_NAME", "from-os")

    client = AepClient.from_env({**REQUIRED, "AEP_SANDBOX_NAME": "given"}, secrets_client=lambda: secrets)

    assert client.settings.sandbox_name == "given"


class Denied(Exception):
    response: dict[str, dict[str, str]] = {"Error": {"Code": "AccessDeniedException"}}


class NoCode(Exception):
    response: dict[str, dict[str, str]] = {"Error": {}}


class Failing:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def get_secret_value(self, **kwargs: Any) -> Any:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "code"),
    [(Denied(), "AccessDeniedException"), (NoCode(), "NoCode"), (RuntimeError("boom"), "RuntimeError")],
)
def test_an_unreadable_credentials_secret_is_named_with_the_error_code(exc, code):
    with pytest.raises(AepConfigError) as caught:
        load_credentials(Failing(exc), "aep/creds")

    assert caught.value.message == f"cannot read credentials secret 'aep/creds': {code}"
    assert caught.value.__cause__ is exc


@pytest.mark.parametrize("response", [{}, {"SecretString": ""}, {"SecretString": None}])
def test_a_credentials_secret_without_text_says_so(response):
    class Empty:
        def get_secret_value(self, **kwargs: Any) -> Any:
            assert kwargs == {"SecretId": "aep/creds"}
            return response

    with pytest.raises(AepConfigError) as caught:
        load_credentials(Empty(), "aep/creds")

    assert caught.value.message == "credentials secret 'aep/creds' has no SecretString"


def test_the_default_secrets_client_is_a_secrets_manager_client(aws):
    assert _boto3_secrets_client().meta.service_model.service_name == "secretsmanager"


def test_shared_client_is_built_once_until_reset(secrets, monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    reset_shared_client()
    try:
        first = shared_client()
        assert isinstance(first, AepClient)
        assert shared_client() is first
        reset_shared_client()
        assert client_module._shared is None
        second = shared_client()
        assert isinstance(second, AepClient)
        assert second is not first
    finally:
        reset_shared_client()
