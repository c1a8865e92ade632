"""The tenant model and the registry read: items, the default tenant, caching, a registry that is down."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from aep.errors import AepConfigError
from aep.tenants import (
    DEFAULT_TENANT,
    Tenant,
    TenantLookupError,
    TenantRegistry,
    TenantStreaming,
    UnknownTenantError,
    default_tenant,
)

TABLE = "tenants"
ORG_A = "AAAA0000000000000000AAAA@AdobeOrg"


def brand_a(**changes: Any) -> Tenant:
    values: dict[str, Any] = {
        "tenant_id": "brand-a",
        "org_id": ORG_A,
        "sandbox_name": "dev",
        "credentials_secret_id": "aep/brand-a/credentials",
        "token_secret_id": "aep/brand-a/token",
        "streaming": TenantStreaming(inlet_id="inlet-a", dataset_id="ds-a", flow_id="flow-a"),
        "source_queues": ("arn:aws:sqs:us-east-1:123456789012:brand-a",),
        "rate_ceiling": 2.5,
        **changes,
    }
    return Tenant(**values)


@pytest.fixture
def table(aws: None) -> Any:
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return boto3.resource("dynamodb").Table(TABLE)


def test_an_item_round_trips_through_dynamodb(table, clock):
    table.put_item(Item=brand_a().to_item())
    registry = TenantRegistry(TABLE, clock=clock)

    assert registry.get("brand-a") == brand_a()


def test_unknown_and_disabled_tenants_are_refused_with_their_reason(table, clock):
    table.put_item(Item=brand_a(tenant_id="brand-b", enabled=False).to_item())
    registry = TenantRegistry(TABLE, clock=clock)

    with pytest.raises(UnknownTenantError, match="unknown tenant 'brand-z'"):
        registry.get("brand-z")
    with pytest.raises(UnknownTenantError, match="tenant 'brand-b' is disabled"):
        registry.get("brand-b")


def test_reads_are_cached_for_the_ttl_unknown_tenants_too(table, clock):
    table.put_item(Item=brand_a().to_item())
    registry = TenantRegistry(TABLE, clock=clock, ttl=60)

    for _ in range(5):
        registry.get("brand-a")
        with pytest.raises(UnknownTenantError):
            registry.get("nobody")
    assert registry.reads == 2
    clock.advance(60)
    registry.get("brand-a")
    assert registry.reads == 3


def test_a_registry_that_cannot_be_read_is_transient_and_a_cached_item_still_serves(table, clock):
    table.put_item(Item=brand_a().to_item())
    calls = {"n": 0}

    class Down:
        def get_item(self, **kwargs: Any) -> Any:
            calls["n"] += 1
            raise RuntimeError("unreachable")

    clients = iter([boto3.client("dynamodb")])
    registry = TenantRegistry(TABLE, clock=clock, ttl=1, dynamodb_client=lambda: next(clients))
    registry.get("brand-a")
    registry._client = Down()
    clock.advance(5)

    assert registry.get("brand-a") == brand_a()  # stale but served
    with pytest.raises(
        TenantLookupError, match="cannot read tenant 'brand-c' from the registry: RuntimeError"
    ) as e:
        registry.get("brand-c")
    assert e.value.retryable
    assert calls["n"] == 2


def test_the_default_tenant_comes_from_the_aep_variables():
    env = {"AEP_CREDENTIALS_SECRET_ID": "creds", "AEP_TOKEN_SECRET_ID": "tok", "AEP_SANDBOX_NAME": "dev"}
    registry = TenantRegistry.from_env(env)

    tenant = registry.get(None)
    assert (tenant.tenant_id, tenant.org_id, tenant.sandbox_name) == (DEFAULT_TENANT, None, "dev")
    assert (tenant.credentials_secret_id, tenant.token_secret_id) == ("creds", "tok")
    assert registry.get("") == tenant == registry.get(DEFAULT_TENANT)
    assert registry.table_name is None
    with pytest.raises(UnknownTenantError, match="unknown tenant 'brand-a'"):
        registry.get("brand-a")  # no table: only the default tenant exists
    assert default_tenant({}) is None
    with pytest.raises(UnknownTenantError, match="unknown tenant 'default'"):
        TenantRegistry.from_env({}).get(None)


def test_an_invalid_item_names_the_tenant_and_field_never_the_value(table, clock):
    table.put_item(Item={**brand_a().to_item(), "org_id": "secret-looking-value"})
    registry = TenantRegistry(TABLE, clock=clock)

    with pytest.raises(AepConfigError) as error:
        registry.get("brand-a")
    assert "tenant 'brand-a' in the registry is invalid: org_id" in str(error.value)
    assert "secret-looking-value" not in str(error.value)


def test_only_the_default_tenant_may_leave_its_org_to_the_credentials():
    with pytest.raises(ValueError, match="org_id is required"):
        Tenant(tenant_id="brand-a", credentials_secret_id="c", token_secret_id="t")
