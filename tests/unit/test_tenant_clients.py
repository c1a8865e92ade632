"""Clients per tenant (aep.tenants.clients): bounded, rebuilt on eviction and on a new version, each tenant on
its own token secret, and a credentials secret naming another org refused."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from aep import AepAuthError, AepClient, AepConfigError, AepCredentials, AepSettings
from aep.tenants import DEFAULT_TENANT, Tenant
from aep.tenants.clients import (
    DEFAULT_SIZE,
    ClientCache,
    TenantOrgMismatchError,
    base_settings,
    cache_size,
    tenant_settings,
)
from tests.conftest import exact_policy, token_reply
from tests.support.fakes import FakeClock
from tests.support.recorder import Recorded, Reply

ORGS = {name: f"{name.upper().replace('-', '')}{'0' * 16}@AdobeOrg" for name in ("a", "b", "c")}


def brand(name: str, **changes: Any) -> Tenant:
    values: dict[str, Any] = {
        "tenant_id": f"brand-{name}",
        "org_id": ORGS[name],
        "sandbox_name": f"sandbox-{name}",
        "credentials_secret_id": f"aep/brand-{name}/credentials",
        "token_secret_id": f"aep/brand-{name}/token",
        **changes,
    }
    return Tenant(**values)


@pytest.fixture
def secrets(aws: None) -> Any:
    client = boto3.client("secretsmanager")
    for name, org in ORGS.items():
        client.create_secret(
            Name=f"aep/brand-{name}/credentials",
            SecretString=json.dumps(
                {"client_id": f"client-{name}", "client_secret": f"secret-{name}", "org_id": org}
            ),
        )
        client.create_secret(Name=f"aep/brand-{name}/token", SecretString="{}")
    return client


class CountingSecrets:
    """The moto client, counting credentials reads."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.reads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_secret_value(self, **kwargs: Any) -> Any:
        if kwargs["SecretId"].endswith("/credentials"):
            self.reads.append(kwargs["SecretId"])
        return self._client.get_secret_value(**kwargs)


def base(url: str = "http://127.0.0.1:9") -> AepSettings:
    return base_settings({"AEP_IMS_URL": url, "AEP_PLATFORM_URL": url, "AEP_STREAMING_URL": url})


def cache_of(
    secrets: Any, clock: FakeClock, *, size: int = DEFAULT_SIZE, url: str = "http://127.0.0.1:9", **kw: Any
):
    counting = CountingSecrets(secrets)

    def factory(settings: AepSettings, credentials: AepCredentials, secrets_client: Any) -> AepClient:
        return AepClient(
            settings, credentials, secrets_client=secrets_client, clock=clock, policy=exact_policy(2)
        )

    cache = ClientCache(base(url), size=size, secrets_client=lambda: counting, factory=factory, **kw)
    return cache, counting


def test_each_tenant_gets_its_own_client_with_its_secrets_sandbox_and_the_base_settings(secrets, clock):
    cache, _ = cache_of(secrets, clock)

    a, b = cache.get(brand("a")), cache.get(brand("b"))

    assert a is not b
    assert (a.credentials.org_id, a.credentials.client_id) == (ORGS["a"], "client-a")
    assert (b.credentials.org_id, b.credentials.client_id) == (ORGS["b"], "client-b")
    assert (a.settings.credentials_secret_id, a.settings.token_secret_id, a.settings.sandbox_name) == (
        "aep/brand-a/credentials",
        "aep/brand-a/token",
        "sandbox-a",
    )
    assert b.settings.token_secret_id == "aep/brand-b/token"
    assert a.settings.streaming_url == b.settings.streaming_url == "http://127.0.0.1:9"
    assert cache.get(brand("a")) is a  # reused, not rebuilt
    assert cache.builds == 2


def test_the_cache_is_bounded_and_an_evicted_tenant_is_rebuilt(secrets, clock):
    cache, counting = cache_of(secrets, clock, size=2)
    first_a = cache.get(brand("a"))
    cache.get(brand("b"))
    cache.get(brand("a"))  # a is now the most recently used
    cache.get(brand("c"))  # evicts b, the least recently used

    assert cache.cached() == ["brand-a", "brand-c"]
    assert cache.get(brand("a")) is first_a
    rebuilt_b = cache.get(brand("b"))  # evicts c
    assert cache.cached() == ["brand-a", "brand-b"]
    assert rebuilt_b.credentials.org_id == ORGS["b"]
    assert cache.builds == 4
    assert counting.reads == [
        "aep/brand-a/credentials",
        "aep/brand-b/credentials",
        "aep/brand-c/credentials",
        "aep/brand-b/credentials",  # the evicted tenant's credentials read again
    ]


def test_a_new_version_of_a_tenant_gets_a_new_client(secrets, clock):
    cache, _ = cache_of(secrets, clock)
    old = cache.get(brand("a"))

    new = cache.get(brand("a", version=2, sandbox_name="moved"))

    assert new is not old
    assert new.settings.sandbox_name == "moved"
    assert cache.get(brand("a", version=2)) is new
    assert cache.cached() == ["brand-a"]


def test_the_default_tenant_is_the_containers_client_and_takes_no_slot(secrets, clock):
    default_client = object()
    calls: list[int] = []

    def default() -> Any:
        calls.append(1)
        return default_client

    cache, counting = cache_of(secrets, clock, size=1, default=default)
    tenant = Tenant(tenant_id=DEFAULT_TENANT, credentials_secret_id="x", token_secret_id="y")

    assert cache.get(tenant) is default_client
    cache.get(brand("a"))
    assert cache.get(tenant) is default_client
    assert cache.cached() == ["brand-a"]
    assert len(calls) == 2
    assert counting.reads == ["aep/brand-a/credentials"]


def test_credentials_naming_another_org_are_refused_and_nothing_is_cached(secrets, clock):
    cache, _ = cache_of(secrets, clock)
    impostor = brand("a", credentials_secret_id="aep/brand-b/credentials")

    with pytest.raises(TenantOrgMismatchError) as caught:
        cache.get(impostor)

    assert caught.value.retryable is True  # the records wait in their queue: a deployment fault
    assert isinstance(caught.value, AepConfigError)
    assert "brand-a" in caught.value.message
    assert "aep/brand-b/credentials" in caught.value.message
    assert "secret-b" not in str(caught.value)
    assert cache.cached() == []
    assert cache.builds == 0


def test_an_unreadable_credentials_secret_is_a_config_error(secrets, clock):
    cache, _ = cache_of(secrets, clock)

    with pytest.raises(AepConfigError, match="ResourceNotFoundException"):
        cache.get(brand("a", credentials_secret_id="aep/nobody/credentials"))


def ims_by_client(request: Recorded) -> Reply:
    """IMS: brand-a's client is refused, the others get a token named after their client."""
    client_id = request.form()["client_id"]
    if client_id == "client-a":
        return Reply(400, {"error": "invalid_client", "error_description": "refused"})
    return Reply(200, token_reply(f"token-of-{client_id}"))


def test_each_tenant_has_its_own_token_secret_and_one_tenants_ims_trouble_stays_its_own(
    secrets, clock, recorder
):
    recorder.on("POST", "/ims/token/v3", ims_by_client)
    cache, _ = cache_of(secrets, clock, url=recorder.url)
    a, b, c = (cache.get(brand(name)) for name in "abc")

    with pytest.raises(AepAuthError, match="invalid_client"):  # even after reading its credentials again
        a.tokens.get()
    assert b.tokens.get().value == "token-of-client-b"
    assert c.tokens.get().value == "token-of-client-c"

    stored = {
        name: json.loads(secrets.get_secret_value(SecretId=f"aep/brand-{name}/token")["SecretString"])
        for name in "abc"
    }
    assert stored["a"] == {}
    assert stored["b"]["access_token"] == "token-of-client-b"
    assert stored["c"]["access_token"] == "token-of-client-c"
    sent = [call.form()["client_id"] for call in recorder.calls("POST", "/ims/token/v3")]
    assert sent.count("client-b") == sent.count("client-c") == 1
    assert sent.count("client-a") >= 1
    assert cache.take_ims_counts() == {"brand-a": 1, "brand-b": 1, "brand-c": 1}
    assert cache.take_ims_counts() == {}


def test_ims_calls_of_an_evicted_client_are_still_counted(secrets, clock, recorder):
    recorder.on("POST", "/ims/token/v3", ims_by_client)
    cache, _ = cache_of(secrets, clock, size=1, url=recorder.url)
    cache.get(brand("b")).tokens.get()

    cache.get(brand("c")).tokens.get()  # evicts b

    assert cache.take_ims_counts() == {"brand-b": 1, "brand-c": 1}


def test_the_default_clients_ims_calls_are_counted_once_it_was_used(secrets, clock):
    fake_ims = type("Ims", (), {"take_count": lambda self: 3})()
    default_client = type("Client", (), {"ims": fake_ims})()
    cache, _ = cache_of(secrets, clock, default=lambda: default_client)

    assert cache.take_ims_counts() == {}
    cache.get(Tenant(tenant_id=DEFAULT_TENANT, credentials_secret_id="x", token_secret_id="y"))
    assert cache.take_ims_counts() == {DEFAULT_TENANT: 3}


@pytest.mark.parametrize(("value", "size"), [(None, 16), ("", 16), ("1", 1), (" 40 ", 40), ("1000", 1000)])
def test_the_cache_size_comes_from_the_environment(value, size):
    environ = {} if value is None else {"AEP_TENANT_CLIENT_CACHE_SIZE": value}
    assert cache_size(environ) == size


@pytest.mark.parametrize("value", ["0", "-1", "1001", "ten", "2.5"])
def test_a_bad_cache_size_is_refused_naming_the_variable(value):
    with pytest.raises(AepConfigError, match="AEP_TENANT_CLIENT_CACHE_SIZE must be a whole number"):
        cache_size({"AEP_TENANT_CLIENT_CACHE_SIZE": value})


def test_from_env_reads_the_base_settings_and_the_size_without_default_secrets():
    cache = ClientCache.from_env(
        {"AEP_TENANT_CLIENT_CACHE_SIZE": "3", "AEP_MAX_ATTEMPTS": "7", "AEP_SANDBOX_NAME": "dev"}
    )

    assert cache.size == 3
    assert cache.base.max_attempts == 7
    settings = tenant_settings(cache.base, brand("a"))
    assert (settings.max_attempts, settings.sandbox_name, settings.token_secret_id) == (
        7,
        "sandbox-a",
        "aep/brand-a/token",
    )


def test_bad_base_settings_are_refused_naming_the_variable():
    with pytest.raises(AepConfigError, match="AEP_STREAMING_URL"):
        base_settings({"AEP_STREAMING_URL": "http://example.com"})


def test_a_cache_of_no_clients_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        ClientCache(base(), size=0)
