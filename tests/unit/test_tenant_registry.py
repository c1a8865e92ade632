"""The tenant model and the registry read: items, the default tenant, caching, a registry that is down."""

from __future__ import annotations

from decimal import Decimal
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
from aep.tenants.registry import DEFAULT_CACHE_SIZE, InvalidTenantError

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
        def batch_get_item(self, **kwargs: Any) -> Any:
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


ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        pytest.param(
            {"source_queues": [f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/brand-a"]},
            "source_queues",
            "sqs.us-east-1.amazonaws.com",
            id="a queue URL",
        ),
        pytest.param(
            {"source_queues": ["brand-a-queue"]}, "source_queues", "brand-a-queue", id="a queue name"
        ),
        pytest.param(
            {"source_queues": [f"arn:aws:sns:us-east-1:{ACCOUNT}:brand-a"]},
            "source_queues",
            "sns",
            id="a topic",
        ),
        pytest.param({"principals": ["brand-h-ivr please"]}, "principals", "please", id="words"),
        pytest.param(
            {"principals": [f"arn:aws:sts::{ACCOUNT}:assumed-role/ivr-brand-a/i-0abc"]},
            "principals",
            "i-0abc",
            id="a session",
        ),
        pytest.param({"principals": ["authorizer:"]}, "principals", None, id="an empty authorizer id"),
        pytest.param(
            {"principals": ["authorizer:two words"]}, "principals", "two words", id="authorizer spaces"
        ),
        pytest.param({"api_key_ids": [""]}, "api_key_ids", None, id="an empty key id"),
        pytest.param({"api_key_ids": ["k1", "k2 x"]}, "api_key_ids", "k2 x", id="a key id with a space"),
        pytest.param({"streaming": {"inlet_id": "  "}}, "streaming.inlet_id", None, id="a blank inlet"),
        pytest.param({"streaming": {"dataset_id": "ds-a\n"}}, "streaming.dataset_id", None, id="a newline"),
        pytest.param({"streaming": {"flow_id": " flow-a"}}, "streaming.flow_id", None, id="a leading space"),
        pytest.param({"streaming": {"schema_ref": ""}}, "streaming.schema_ref", None, id="an empty schema"),
        pytest.param(
            {"streaming": {"allowed_namespaces": ["Phone", " "]}},
            "streaming.allowed_namespaces",
            None,
            id="a blank namespace",
        ),
        pytest.param(
            {"credentials_secret_id": '{"client_secret": "p8e-PASTED"}'},
            "credentials_secret_id",
            "p8e-PASTED",
            id="a pasted credential",
        ),
        pytest.param({"token_secret_id": "aep/brand a/token"}, "token_secret_id", "brand a", id="a space"),
        pytest.param({"rate_ceiling": Decimal("1e300")}, "rate_ceiling", "1e300", id="huge"),
        pytest.param({"rate_ceiling": Decimal("1e-300")}, "rate_ceiling", "1e-300", id="tiny"),
        pytest.param({"rate_ceiling": Decimal("0.05")}, "rate_ceiling", "0.05", id="below 0.1"),
        pytest.param({"rate_ceiling": Decimal("10000.5")}, "rate_ceiling", "10000.5", id="above 10000"),
        pytest.param({"rate_ceiling": float("inf")}, "rate_ceiling", "inf", id="infinite"),
        pytest.param({"rate_ceiling": float("nan")}, "rate_ceiling", None, id="not a number"),
    ],
)
def test_lists_secrets_targets_and_the_rate_ceiling_are_checked_naming_the_field_never_the_value(
    change, field, value
):
    with pytest.raises(AepConfigError) as error:
        Tenant.from_item({**brand_a().to_item(), **change})

    message = str(error.value)
    assert f"tenant 'brand-a' in the registry is invalid: {field}: " in message
    assert "; " not in message  # one problem: the field's alone
    if value is not None:
        assert value not in message


def test_the_accepted_forms_round_trip_through_dynamodb(table, clock):
    tenant = brand_a(
        credentials_secret_id=f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:aep/brand-a/credentials-AbC123",
        token_secret_id="aep/brand-a/token+v2=@.",
        source_queues=(
            f"arn:aws:sqs:us-east-1:{ACCOUNT}:brand-a",
            f"arn:aws-us-gov:sqs:us-gov-west-1:{ACCOUNT}:brand_a-events.fifo",
        ),
        principals=(
            f"arn:aws:iam::{ACCOUNT}:role/ivr/brand-a/ivr-brand-a",
            f"arn:aws:iam::{ACCOUNT}:user/ops/admin",
            "authorizer:user|a1b2c3",
        ),
        api_key_ids=("a1b2c3d4e5", "8bklk8bl1k3sB38D9B3l0enyWT8c09B30lkq0blk"),
        streaming=TenantStreaming(inlet_id="inlet-a", allowed_namespaces=("Phone", "Email")),
        rate_ceiling=0.1,
    )
    table.put_item(Item=tenant.to_item())
    table.put_item(Item=brand_a(tenant_id="brand-b", rate_ceiling=10000).to_item())
    registry = TenantRegistry(TABLE, clock=clock)

    assert registry.get("brand-a") == tenant
    assert registry.get("brand-b").rate_ceiling == 10000.0


# -- an unusable item, many names at once, a bounded cache ------------------------------------------------


class Counting:
    """The moto client, counting the table calls by operation; ``unprocessed(keys)`` may hold keys back
    from a BatchGetItem answer, as DynamoDB does when it is throttled or the answer is too large."""

    def __init__(self, unprocessed: Any = None) -> None:
        self.client = boto3.client("dynamodb")
        self.calls: list[tuple[str, int]] = []  # (operation, keys asked)
        self.unprocessed = unprocessed

    def get_item(self, **kwargs: Any) -> Any:
        self.calls.append(("GetItem", 1))
        return self.client.get_item(**kwargs)

    def batch_get_item(self, **kwargs: Any) -> Any:
        ((table, request),) = kwargs["RequestItems"].items()
        keys = request["Keys"]
        self.calls.append(("BatchGetItem", len(keys)))
        held = self.unprocessed(keys) if self.unprocessed else []
        asked = [k for k in keys if k not in held]
        answer = self.client.batch_get_item(RequestItems={table: {**request, "Keys": asked}}) if asked else {}
        answer.setdefault("Responses", {}).setdefault(table, [])
        answer["UnprocessedKeys"] = {table: {**request, "Keys": held}} if held else {}
        return answer


def test_an_item_with_an_extra_attribute_is_an_invalid_tenant_transient_for_its_records(table, clock):
    table.put_item(Item={**brand_a().to_item(), "note": "added by hand: +14155550100"})
    table.put_item(Item=brand_a(tenant_id="brand-b").to_item())
    registry = TenantRegistry(TABLE, clock=clock)

    found = registry.resolve(["brand-a", "brand-b"])

    assert found["brand-b"] == brand_a(tenant_id="brand-b")
    error = found["brand-a"]
    assert isinstance(error, InvalidTenantError)
    assert isinstance(error, AepConfigError)
    assert error.retryable
    assert (
        error.message == "tenant 'brand-a' in the registry is invalid: note: Extra inputs are not permitted"
    )
    with pytest.raises(InvalidTenantError, match="note: Extra inputs are not permitted") as raised:
        registry.get("brand-a")
    assert "+1415" not in str(raised.value)


def test_an_item_made_invalid_is_not_hidden_behind_its_valid_cached_version(table, clock):
    table.put_item(Item=brand_a().to_item())
    registry = TenantRegistry(TABLE, clock=clock, ttl=60)
    assert registry.get("brand-a") == brand_a()
    table.put_item(Item={**brand_a().to_item(), "enabled": "disabled"})  # a hand edit
    clock.advance(61)

    with pytest.raises(InvalidTenantError, match="tenant 'brand-a' in the registry is invalid: enabled"):
        registry.get("brand-a")


def test_many_names_are_read_with_batch_get_item_a_hundred_keys_a_call(table, clock):
    table.put_item(Item=brand_a().to_item())
    counting = Counting()
    registry = TenantRegistry(TABLE, clock=clock, dynamodb_client=lambda: counting)
    names = [f"made-up-{n}" for n in range(299)]  # and brand-a: 300 names in the table's keys

    found = registry.resolve([*names, "brand-a", "default", "made-up-7"])

    assert counting.calls == [("BatchGetItem", 100), ("BatchGetItem", 100), ("BatchGetItem", 100)]
    assert registry.reads == 3
    assert found["brand-a"] == brand_a()
    assert set(found) == {*names, "brand-a", "default"}
    for name in names:
        unknown = found[name]
        assert isinstance(unknown, UnknownTenantError)
        assert unknown.message == f"unknown tenant {name!r}"
    assert isinstance(found["default"], UnknownTenantError)  # no AEP_* variables: no default tenant
    registry.resolve(names[:150])
    assert len(counting.calls) == 3  # all cached now


def test_unprocessed_keys_are_asked_again_then_are_transient(table, clock):
    table.put_item(Item=brand_a().to_item())
    table.put_item(Item=brand_a(tenant_id="brand-b").to_item())
    b_key = {"tenant_id": {"S": "brand-b"}}
    holds = {"n": 0}

    def once(keys: list[Any]) -> list[Any]:
        holds["n"] += 1
        return [b_key] if holds["n"] == 1 and b_key in keys else []

    counting = Counting(once)
    registry = TenantRegistry(TABLE, clock=clock, dynamodb_client=lambda: counting)

    found = registry.resolve(["brand-a", "brand-b"])

    assert (found["brand-a"], found["brand-b"]) == (brand_a(), brand_a(tenant_id="brand-b"))
    assert counting.calls == [("BatchGetItem", 2), ("BatchGetItem", 1)]

    always = Counting(lambda keys: [k for k in keys if k["tenant_id"]["S"] != "brand-a"])
    registry = TenantRegistry(TABLE, clock=clock, dynamodb_client=lambda: always)
    slept = len(clock.sleeps)

    found = registry.resolve(["brand-a", "brand-b", "brand-z"])

    assert found["brand-a"] == brand_a()
    for name in ("brand-b", "brand-z"):
        error = found[name]
        assert isinstance(error, TenantLookupError)
        assert error.retryable
        assert error.message == f"cannot read tenant {name!r} from the registry: UnprocessedKeys"
    assert [n for _, n in always.calls] == [3, 2, 2, 2]  # the first call and three more, then given up
    assert len(clock.sleeps) - slept == 3  # a short wait before each new ask
    assert all(0 < s <= 0.5 for s in clock.sleeps[slept:])


def test_the_cache_is_bounded_least_recently_used_first_out(table, clock):
    counting = Counting()
    registry = TenantRegistry(TABLE, clock=clock, dynamodb_client=lambda: counting, cache_size=200)
    first = [f"first-{n}" for n in range(100)]
    registry.resolve(first)
    registry.resolve([f"more-{n}" for n in range(100)])
    registry.resolve(first[:10])  # used again: now the most recent
    assert len(counting.calls) == 2

    registry.resolve([f"last-{n}" for n in range(90)])  # 290 names met: 90 of the oldest go

    assert len(registry.cached()) == 200
    reads = len(counting.calls)
    registry.resolve(first[:10])
    assert len(counting.calls) == reads  # kept: recently used
    registry.resolve(first[10:11])
    assert len(counting.calls) == reads + 1  # evicted: read again


def test_the_default_cache_holds_1024_names():
    registry = TenantRegistry("t")

    assert registry.cache_size == DEFAULT_CACHE_SIZE == 1024
    with pytest.raises(ValueError, match="cache_size must be at least 1"):
        TenantRegistry("t", cache_size=0)


def test_a_failed_read_is_answered_for_a_second_without_asking_the_table_again(table, clock):
    calls = {"n": 0}

    class Throttled:
        def batch_get_item(self, **kwargs: Any) -> Any:
            calls["n"] += 1
            raise RuntimeError("ProvisionedThroughputExceededException")

    registry = TenantRegistry(TABLE, clock=clock, dynamodb_client=Throttled)
    errors = []
    for _ in range(5):  # the requests or records of one moment
        with pytest.raises(TenantLookupError) as caught:
            registry.get("brand-a")
        errors.append(caught.value)

    assert calls["n"] == 1
    assert {str(e) for e in errors} == {"cannot read tenant 'brand-a' from the registry: RuntimeError"}
    assert all(e.retryable for e in errors)
    clock.advance(0.999)
    with pytest.raises(TenantLookupError):
        registry.get("brand-a")
    assert calls["n"] == 1
    clock.advance(0.001)  # a second after the failure: the table is asked again
    with pytest.raises(TenantLookupError):
        registry.get("brand-a")
    assert calls["n"] == 2


def test_a_read_that_works_again_ends_the_hold(table, clock):
    table.put_item(Item=brand_a().to_item())
    down = {"on": True}
    real = boto3.client("dynamodb")

    class Flaky:
        def batch_get_item(self, **kwargs: Any) -> Any:
            if down["on"]:
                raise RuntimeError("unreachable")
            return real.batch_get_item(**kwargs)

    registry = TenantRegistry(TABLE, clock=clock, dynamodb_client=Flaky)
    with pytest.raises(TenantLookupError):
        registry.get("brand-a")
    down["on"] = False
    clock.advance(1.0)

    assert registry.get("brand-a") == brand_a()  # read: the hold ended with its second
    with pytest.raises(UnknownTenantError):  # and a name never read before is read at once
        registry.get("brand-z")


def test_a_stale_entry_whose_refresh_failed_is_not_read_again_within_the_hold(table, clock):
    table.put_item(Item=brand_a().to_item())
    runs: list[Any] = []
    registry = TenantRegistry(TABLE, clock=clock, ttl=60, background=runs.append)
    registry.get("brand-a")

    class Down:
        def batch_get_item(self, **kwargs: Any) -> Any:
            raise RuntimeError("unreachable")

    registry._client = Down()
    clock.advance(61)
    assert registry.get("brand-a") == brand_a()  # stale, a refresh scheduled
    runs.pop()()  # the refresh runs and fails
    assert registry.get("brand-a") == brand_a()
    assert runs == []  # not scheduled again within the hold
    clock.advance(1.0)
    assert registry.get("brand-a") == brand_a()
    assert len(runs) == 1  # after it, it is
