"""Caller -> tenant for the lookup API: only a tenant's principals and API keys may act for it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from aep.tenants import Tenant, TenantLookupError, TenantRegistry
from aep.tenants.callers import (
    Caller,
    CallerNotAllowedError,
    PrincipalKind,
    authorize,
    caller_of,
    principal_matches,
)

TABLE = "tenants"
ACCOUNT = "123456789012"
ROLE_A = f"arn:aws:iam::{ACCOUNT}:role/ivr/brand-a/ivr-brand-a"  # a role with a path
ROLE_B = f"arn:aws:iam::{ACCOUNT}:role/ivr-brand-b"
SESSION_A = f"arn:aws:sts::{ACCOUNT}:assumed-role/ivr-brand-a/i-0abc123"
SESSION_B = f"arn:aws:sts::{ACCOUNT}:assumed-role/ivr-brand-b/i-0def456"
API_KEY_VALUE = "qJ9xK2mN8pL4rT6vW0yZ-key-value-never-read"


def tenant(tenant_id: str, org: str, **changes: Any) -> Tenant:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "org_id": f"{org * 4}0000000000000000{org * 4}@AdobeOrg",
        "credentials_secret_id": f"aep/{tenant_id}/credentials",
        "token_secret_id": f"aep/{tenant_id}/token",
        **changes,
    }
    return Tenant(**values)


@pytest.fixture
def registry(aws: None, clock: Any) -> TenantRegistry:
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb").Table(TABLE)
    for item in (
        tenant("brand-a", "A", principals=(ROLE_A,), api_key_ids=("keyaaaaaa1",)),
        tenant(
            "brand-b", "B", principals=(ROLE_B, "authorizer:user|brand-b-ivr"), api_key_ids=("keybbbbbb2",)
        ),
        tenant("brand-c", "C", principals=(ROLE_A,), api_key_ids=("keyaaaaaa1",), enabled=False),
    ):
        table.put_item(Item=item.to_item())
    return TenantRegistry(TABLE, clock=clock)


def request_context(
    *,
    user_arn: str | None = None,
    caller: str | None = None,
    api_key_id: str | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (proxy integration) requestContext, as Lambda receives it."""
    context: dict[str, Any] = {
        "resourceId": "a1b2c3",
        "resourcePath": "/tenants/{tenant}/profiles",
        "httpMethod": "GET",
        "extendedRequestId": "Xyz123=",
        "requestTime": "01/Dec/2025:10:00:00 +0000",
        "path": "/prod/tenants/brand-a/profiles",
        "accountId": ACCOUNT,
        "protocol": "HTTP/1.1",
        "stage": "prod",
        "domainPrefix": "abcdef1234",
        "requestTimeEpoch": 1764583200000,
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": ACCOUNT if user_arn else None,
            "cognitoIdentityId": None,
            "caller": caller,
            "sourceIp": "203.0.113.7",
            "principalOrgId": None,
            "accessKey": "ASIAEXAMPLEEXAMPLE" if user_arn else None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": user_arn,
            "userAgent": "ivr-backend/1.0",
            "user": caller,
            "apiKey": API_KEY_VALUE if api_key_id else None,
            "apiKeyId": api_key_id,
        },
        "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "apiId": "abcdef1234",
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    return context


def refusal(registry: TenantRegistry, caller: Caller, tenant_id: str | None) -> CallerNotAllowedError:
    with pytest.raises(CallerNotAllowedError) as refused:
        authorize(registry, caller, tenant_id)
    assert not refused.value.retryable
    assert refused.value.status == 403
    return refused.value


def test_a_caller_authorised_for_a_asking_for_b_is_refused(registry):
    caller = caller_of(request_context(user_arn=SESSION_A, caller="AROAEXAMPLEA:i-0abc123"))

    assert authorize(registry, caller, "brand-a").tenant_id == "brand-a"
    refused = refusal(registry, caller, "brand-b")
    assert refused.reason == "not-a-principal"
    assert str(refused) == "the caller may not act for tenant 'brand-b' status=403"
    # and the other way round
    caller_b = caller_of(request_context(user_arn=SESSION_B))
    assert authorize(registry, caller_b, "brand-b").tenant_id == "brand-b"
    assert refusal(registry, caller_b, "brand-a").reason == "not-a-principal"


def test_an_api_key_maps_to_its_own_tenant_only_and_its_value_is_never_read(registry):
    caller = caller_of(request_context(api_key_id="keybbbbbb2"))

    assert caller == Caller(principal=None, api_key_id="keybbbbbb2")
    assert API_KEY_VALUE not in repr(caller)
    assert authorize(registry, caller, "brand-b").tenant_id == "brand-b"
    assert refusal(registry, caller, "brand-a").reason == "not-a-principal"


@pytest.mark.parametrize(
    "context",
    [
        pytest.param(request_context(), id="no identity at all"),
        pytest.param({}, id="no identity block"),
        pytest.param({"identity": None, "authorizer": None}, id="nulls"),
        pytest.param(request_context(caller="AROAEXAMPLEA:i-0abc123"), id="a principal id, not an ARN"),
        pytest.param(request_context(user_arn="", api_key_id=" "), id="blank values"),
    ],
)
def test_a_request_without_an_identity_is_refused_before_the_registry_is_read(registry, context):
    caller = caller_of(context)

    assert caller.anonymous
    assert refusal(registry, caller, "brand-a").reason == "anonymous"
    assert registry.reads == 0


@pytest.mark.parametrize(
    "caller",
    [
        Caller(principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/ivr-brand-z/i-0abc123"),
        Caller(principal=f"arn:aws:iam::{ACCOUNT}:user/ivr-brand-a"),
        Caller(api_key_id="keyzzzzzz9"),
        Caller(principal="brand-a"),
    ],
)
def test_an_unknown_caller_is_refused(registry, caller):
    refused = refusal(registry, caller, "brand-a")

    assert refused.reason == "not-a-principal"
    assert str(refused) == "the caller may not act for tenant 'brand-a' status=403"


def test_a_disabled_or_unknown_tenant_is_refused_like_a_forbidden_one(registry):
    caller = Caller(principal=SESSION_A, api_key_id="keyaaaaaa1")  # brand-c lists both

    disabled = refusal(registry, caller, "brand-c")
    unknown = refusal(registry, caller, "brand-z")
    forbidden = refusal(registry, Caller(principal=SESSION_B), "brand-a")

    assert (disabled.reason, unknown.reason, forbidden.reason) == (
        "disabled-tenant",
        "unknown-tenant",
        "not-a-principal",
    )
    # One answer shape for all three: a caller cannot tell which tenants exist.
    assert {str(e).replace(repr(e.tenant_id), "T") for e in (disabled, unknown, forbidden)} == {
        "the caller may not act for tenant T status=403"
    }


@pytest.mark.parametrize(
    "tenant_id", ["", None, "../brand-a", "Brand-A", "brand-a/profiles", "brand-a\n", "a" * 100]
)
def test_an_invalid_tenant_id_is_refused_unread_and_not_echoed(registry, tenant_id):
    refused = refusal(registry, Caller(principal=SESSION_A), tenant_id)

    assert refused.reason == "invalid-tenant-id"
    assert str(refused) == "the caller may not act for tenant (invalid id) status=403"
    assert registry.reads == 0


def test_a_registry_that_cannot_be_read_is_neither_allow_nor_refusal(registry):
    class Down:
        def get_item(self, **kwargs: Any) -> Any:
            raise RuntimeError("unreachable")

    registry._client = Down()

    with pytest.raises(TenantLookupError) as error:
        authorize(registry, Caller(principal=SESSION_A), "brand-a")
    assert error.value.retryable


@pytest.mark.parametrize(
    ("caller", "allowed", "matches"),
    [
        (SESSION_A, f"arn:aws:iam::{ACCOUNT}:role/ivr-brand-a", True),
        (SESSION_A, ROLE_A, True),  # the session ARN has no path: the role's name decides
        (SESSION_A, SESSION_A, True),  # one session, listed exactly
        (f"arn:aws:iam::{ACCOUNT}:user/ops/admin", f"arn:aws:iam::{ACCOUNT}:user/ops/admin", True),
        (
            f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/ivr-brand-a/s",
            f"arn:aws-us-gov:iam::{ACCOUNT}:role/ivr-brand-a",
            True,
        ),
        (SESSION_A, f"arn:aws:iam::{ACCOUNT}:role/ivr-brand-b", False),
        (SESSION_A, "arn:aws:iam::210987654321:role/ivr-brand-a", False),  # another account
        (SESSION_A, f"arn:aws-cn:iam::{ACCOUNT}:role/ivr-brand-a", False),  # another partition
        (SESSION_A, f"arn:aws:iam::{ACCOUNT}:role/ivr-brand-ab", False),
        (SESSION_A, f"arn:aws:iam::{ACCOUNT}:role/ivr-brand", False),
        (SESSION_A, f"arn:aws:iam::{ACCOUNT}:role/ivr-brand-a/extra", False),
        (SESSION_A, f"arn:aws:iam::{ACCOUNT}:user/ivr-brand-a", False),
        (SESSION_A, f"arn:aws:sts::{ACCOUNT}:assumed-role/ivr-brand-a/other-session", False),
        (f"arn:aws:iam::{ACCOUNT}:role/ivr-brand-a", SESSION_A, False),
        (
            f"arn:aws:sts::{ACCOUNT}:federated-user/ivr-brand-a",
            f"arn:aws:iam::{ACCOUNT}:role/ivr-brand-a",
            False,
        ),
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/ivr-brand-a",
            f"arn:aws:iam::{ACCOUNT}:role/ivr-brand-a",
            False,
        ),
        (f"arn:aws:iam::{ACCOUNT}:role/IVR-brand-a", f"arn:aws:iam::{ACCOUNT}:role/ivr-brand-a", False),
    ],
)
def test_an_assumed_role_session_matches_its_role_and_nothing_else(caller, allowed, matches):
    assert principal_matches(caller, allowed) is matches


def test_caller_of_prefers_the_iam_arn_then_an_arn_caller_then_the_authorizer_principal():
    authorizer = {"principalId": ROLE_B, "integrationLatency": 0}

    assert caller_of(request_context(user_arn=SESSION_A, authorizer=authorizer)) == Caller(
        principal=SESSION_A, kind=PrincipalKind.IAM
    )
    assert caller_of(request_context(caller=SESSION_A, authorizer=authorizer)) == Caller(
        principal=SESSION_A, kind=PrincipalKind.IAM
    )
    assert caller_of(request_context(caller="AROAEXAMPLE:s", authorizer=authorizer)) == Caller(
        principal=ROLE_B, kind=PrincipalKind.AUTHORIZER
    )
    assert caller_of(request_context(authorizer={"principalId": 42})).anonymous
    both = caller_of(request_context(user_arn=SESSION_A, api_key_id="keyaaaaaa1"))
    assert both == Caller(principal=SESSION_A, api_key_id="keyaaaaaa1", kind=PrincipalKind.IAM)
    keyed = caller_of(request_context(api_key_id="keybbbbbb2", authorizer={"principalId": "user|x"}))
    assert keyed == Caller(principal="user|x", api_key_id="keybbbbbb2", kind=PrincipalKind.AUTHORIZER)


def test_an_authorizer_principal_matches_only_an_authorizer_entry_exactly(registry):
    caller = caller_of(request_context(authorizer={"principalId": "user|brand-b-ivr"}))

    assert authorize(registry, caller, "brand-b").tenant_id == "brand-b"
    assert refusal(registry, caller, "brand-a").reason == "not-a-principal"
    for near in ("user|brand-b-ivr ", "USER|brand-b-ivr", "user|brand-b", "authorizer:user|brand-b-ivr"):
        refused = refusal(registry, Caller(principal=near, kind=PrincipalKind.AUTHORIZER), "brand-b")
        assert refused.reason == "not-a-principal"


@pytest.mark.parametrize(
    "principal_id",
    [
        pytest.param(ROLE_B, id="the role ARN itself"),
        pytest.param(f"arn:aws:sts::{ACCOUNT}:assumed-role/ivr-brand-b/s", id="a session of the role"),
    ],
)
def test_an_authorizer_principal_equal_to_an_iam_arn_is_not_that_iam_principal(registry, principal_id):
    """A Lambda authorizer may hand on a value its caller chose: it never passes for an IAM principal."""
    caller = caller_of(request_context(authorizer={"principalId": principal_id}))

    assert caller.kind is PrincipalKind.AUTHORIZER
    assert refusal(registry, caller, "brand-b").reason == "not-a-principal"
    # The same ARN from IAM is brand B's.
    assert authorize(registry, Caller(principal=principal_id), "brand-b").tenant_id == "brand-b"


def test_an_iam_principal_never_matches_an_authorizer_entry(registry):
    for principal in ("authorizer:user|brand-b-ivr", "user|brand-b-ivr"):
        refused = refusal(registry, Caller(principal=principal, kind=PrincipalKind.IAM), "brand-b")
        assert refused.reason == "not-a-principal"
