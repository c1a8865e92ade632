"""Two brands on one deployment: each caller reads its own tenant's org only, through the same function."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from aep import AepClient, AepCredentials, AepSettings, RetryPolicy, SystemClock
from aep.tenants import TenantRegistry
from aep.tenants.clients import ClientCache, base_settings
from profile_lookup.offload import Offload
from profile_lookup.service import CONTROL_WORKERS
from tests.integration.conftest import BRAND_B_CALLERS, emulator_client
from tests.support.apigw import IVR_SESSION, lookup_event, profile_event
from tests.support.fakes import FakeClock
from tests.support.lookup import (
    LookupFunction,
    caller_profile,
    ingest_by_batch,
    lookup_runtime_for,
    registry_tenant,
)

pytestmark = pytest.mark.integration

TABLE = "tenants"
A_PHONE = "+14155550100"
B_PHONE = "+442079460456"
B_ROLE = "arn:aws:iam::123456789012:role/brand-b-ivr"
B_SESSION = "arn:aws:sts::123456789012:assumed-role/brand-b-ivr/call-1"
POLICY = RetryPolicy(max_attempts=2, base=0.01, max_wait=0.05, jitter=lambda c: c)


class Gated:
    """A boto3 client whose ``method`` waits for ``gate`` before it answers (a read that hangs); every other
    call goes straight through."""

    def __init__(self, client: Any, method: str, gate: threading.Event) -> None:
        self._client, self._method, self.gate = client, method, gate
        self.calls = 0
        self.finished = 0  # calls past the gate (set, or 10 s passed)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if name != self._method:
            return found

        def gated(**kwargs: Any) -> Any:
            self.calls += 1
            self.gate.wait(10)
            self.finished += 1
            return found(**kwargs)

        return gated


@pytest.fixture
def brands(two_orgs, aws):
    """Builds the function for two brands: ``build(env, dynamodb=, secrets=)`` wraps the registry's DynamoDB
    client and the tenants' Secrets Manager client when given (tests of reads that hang)."""
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(
        Name="aep/brand-b/credentials",
        SecretString=json.dumps(
            {
                "client_id": two_orgs.b.client_id,
                "client_secret": two_orgs.b.client_secret,
                "org_id": two_orgs.b.org_id,
            }
        ),
    )
    secrets.create_secret(Name="aep/brand-b/token", SecretString="{}")
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb").Table(TABLE)
    table.put_item(Item=registry_tenant("brand-b", two_orgs.b.org_id, (B_ROLE,)).to_item())
    disabled = registry_tenant("brand-c", two_orgs.b.org_id, (B_ROLE,)).model_copy(update={"enabled": False})
    table.put_item(Item=disabled.to_item())

    default = emulator_client(two_orgs.emulator, SystemClock(), POLICY, org=two_orgs.a.config)
    b_client = emulator_client(
        two_orgs.emulator, SystemClock(), POLICY, org=two_orgs.b.config, token_secret_id="aep/brand-b/token"
    )
    assert ingest_by_batch(default, [caller_profile(A_PHONE, "caller 1")]) == "success"
    assert (
        ingest_by_batch(b_client, [caller_profile(B_PHONE, "caller B1")], dataset=BRAND_B_CALLERS)
        == "success"
    )

    def factory(settings: AepSettings, credentials: AepCredentials, secrets_client: Any) -> AepClient:
        return AepClient(
            settings, credentials, secrets_client=secrets_client, clock=SystemClock(), policy=POLICY
        )

    def build(
        extra: dict[str, str] | None = None,
        *,
        dynamodb: Gated | None = None,
        secrets_client: Gated | None = None,
        registry_clock: FakeClock | None = None,
    ) -> LookupFunction:
        """The function as the container builds it: the registry refreshes in the background through the
        runtime's pool of registry and secret reads."""
        url = two_orgs.url
        clients = ClientCache(
            base_settings({"AEP_IMS_URL": url, "AEP_PLATFORM_URL": url, "AEP_STREAMING_URL": url}),
            default=lambda: default,
            secrets_client=lambda: secrets_client or secrets,
            factory=factory,
        )
        env = {
            "AEP_TENANTS_TABLE": TABLE,
            "AEP_CREDENTIALS_SECRET_ID": "aep/credentials",
            "AEP_TOKEN_SECRET_ID": "aep/token",
            **(extra or {}),
        }
        control = Offload(CONTROL_WORKERS)
        options: dict[str, Any] = {"background": control.submit, "clock": registry_clock or SystemClock()}
        if dynamodb is not None:
            options["dynamodb_client"] = lambda: dynamodb
        registry = TenantRegistry.from_env(env, **options)
        return LookupFunction(
            lookup_runtime_for(default, FakeClock(), env, registry=registry, clients=clients, control=control)
        )

    return build


@pytest.fixture
def lookup(brands):
    return brands()


def test_each_brand_s_caller_reads_its_own_org_only(lookup):
    b_status, b_body = lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))
    a_status, a_body = lookup(profile_event("Phone", A_PHONE, principal=IVR_SESSION))
    b_in_a = lookup(profile_event("Phone", B_PHONE, principal=IVR_SESSION))[0]
    a_in_b = lookup(profile_event("Phone", A_PHONE, tenant="brand-b", principal=B_SESSION))[0]

    assert (b_status, b_body["attributes"]["person"]["name"]["firstName"]) == (200, "caller B1")
    assert (a_status, a_body["attributes"]["person"]["name"]["firstName"]) == (200, "caller 1")
    assert (b_in_a, a_in_b) == (404, 404)


def test_a_caller_of_one_brand_cannot_read_another(lookup):
    assert lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=IVR_SESSION))[0] == 403
    assert lookup(profile_event("Phone", A_PHONE, principal=B_SESSION))[0] == 403
    assert (
        lookup(lookup_event({"identities": [{"namespace": "Phone", "id": B_PHONE}]}, tenant="brand-b"))[0]
        == 403
    )


def test_a_disabled_or_unknown_tenant_is_the_same_403(lookup):
    disabled = lookup(profile_event("Phone", B_PHONE, tenant="brand-c", principal=B_SESSION))
    unknown = lookup(profile_event("Phone", B_PHONE, tenant="brand-z", principal=B_SESSION))

    assert disabled[0] == unknown[0] == 403
    assert disabled[1]["error"]["message"] == unknown[1]["error"]["message"]


def test_the_cache_keeps_brands_apart(lookup):
    lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))

    status, _ = lookup(profile_event("Phone", B_PHONE, principal=IVR_SESSION))

    assert status == 404


def _with_streaming(streaming: dict[str, Any]) -> None:
    """Brand B's registry item with these streaming rules (its version bumped, as the CLI does)."""
    table = boto3.resource("dynamodb").Table(TABLE)
    item = table.get_item(Key={"tenant_id": "brand-b"})["Item"]
    table.put_item(Item={**item, "streaming": streaming, "version": int(item["version"]) + 1})


@pytest.mark.parametrize("written", [B_PHONE, "020 7946 0456", "02079460456", "(020) 7946-0456"])
def test_finding_2_a_tenant_s_numbers_are_read_with_its_own_phone_region(lookup, written):
    _with_streaming({"default_phone_region": "GB"})

    status, body = lookup(profile_event("Phone", written, tenant="brand-b", principal=B_SESSION))

    assert status == 200
    assert {"namespace": "Phone", "id": B_PHONE} in body["identities"]


def test_finding_2_without_its_region_a_national_number_is_the_deployment_s_region(lookup):
    status, _ = lookup(profile_event("Phone", "020 7946 0456", tenant="brand-b", principal=B_SESSION))

    assert status == 400  # read as a US number: too long


def test_finding_2_a_tenant_s_allow_list_is_its_own(lookup, two_orgs):
    _with_streaming({"allowed_namespaces": ["Phone"]})

    email = lookup(profile_event("Email", "ada@example.com", tenant="brand-b", principal=B_SESSION))
    phone = lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))
    mixed = lookup(
        lookup_event(
            {
                "identities": [
                    {"namespace": "Email", "id": "ada@example.com"},
                    {"namespace": "Phone", "id": B_PHONE},
                ]
            },
            tenant="brand-b",
            principal=B_SESSION,
        )
    )

    assert (email[0], email[1]["error"]["code"]) == (400, "invalid-identity")
    assert "allowed" in email[1]["error"]["message"]
    assert phone[0] == 200
    assert [r["status"] for r in mixed[1]["results"]] == ["error", "found"]


def test_finding_2_the_default_tenant_keeps_the_deployment_s_rules(lookup):
    _with_streaming({"allowed_namespaces": ["Phone"], "default_phone_region": "GB"})

    status, _ = lookup(profile_event("Phone", "(415) 555-0100", principal=IVR_SESSION))

    assert status == 200


# -- the deadline bounds the registry read and the first client build too ---------------------------------


def wait_until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("the background work did not finish")


def test_a_registry_read_that_hangs_answers_at_the_deadline_and_serves_the_next_lookup(brands):
    gate = threading.Event()
    dynamodb = Gated(boto3.client("dynamodb"), "batch_get_item", gate)
    lookup = brands({"LOOKUP_DEADLINE_SECONDS": "0.5"}, dynamodb=dynamodb)

    status, body = lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))

    assert (status, body["error"]["code"]) == (504, "deadline")  # answered while the read still hangs
    assert dynamodb.calls == 1
    gate.set()  # the read ends in the background and fills the registry's cache
    wait_until(lambda: lookup.rt.access.holds("brand-b"))
    status, body = lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))
    assert (status, body["attributes"]["person"]["name"]["firstName"]) == (200, "caller B1")
    assert dynamodb.calls == 1  # no second read


def test_a_credentials_secret_read_that_hangs_answers_at_the_deadline_and_serves_the_next_lookup(brands):
    gate = threading.Event()
    secrets = Gated(boto3.client("secretsmanager"), "get_secret_value", gate)
    lookup = brands({"LOOKUP_DEADLINE_SECONDS": "0.5"}, secrets_client=secrets)

    status, body = lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))

    assert (status, body["error"]["code"]) == (504, "deadline")
    assert secrets.calls == 1
    gate.set()
    tenant = lookup.rt.access.get("brand-b")
    wait_until(lambda: lookup.rt.clients.holds(tenant))
    status, body = lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))
    assert (status, body["attributes"]["person"]["name"]["firstName"]) == (200, "caller B1")
    assert lookup.rt.clients.builds == 1


def test_a_tenant_the_registry_holds_is_authorized_without_the_pool(lookup):
    lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))
    runs = lookup.rt.service.offload.runs

    lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))  # a cache hit

    assert lookup.rt.service.offload.runs == runs  # registry, client and profile all from memory


def test_a_client_build_that_hangs_holds_no_other_tenant(brands):
    gate = threading.Event()
    secrets = Gated(boto3.client("secretsmanager"), "get_secret_value", gate)
    lookup = brands({"LOOKUP_DEADLINE_SECONDS": "0.5"}, secrets_client=secrets)
    assert lookup(profile_event("Phone", A_PHONE, principal=IVR_SESSION))[0] == 200  # the default tenant

    assert lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))[0] == 504
    # while brand-b's credentials secret read still hangs (its build holds brand-b's lock only):
    hit = lookup(profile_event("Phone", A_PHONE, principal=IVR_SESSION))
    miss = lookup(
        profile_event("Phone", A_PHONE, principal=IVR_SESSION, headers={"Cache-Control": "no-cache"})
    )

    assert (secrets.calls, secrets.finished) == (1, 0)  # answered while brand-b's read still hangs
    assert (hit[0], hit[1]["cached"], miss[0], miss[1]["cached"]) == (200, True, 200, False)
    gate.set()


def test_registry_reads_that_hang_are_one_per_tenant_and_leave_aep_calls_their_threads(brands, two_orgs):
    gate = threading.Event()
    dynamodb = Gated(boto3.client("dynamodb"), "batch_get_item", gate)
    lookup = brands({"LOOKUP_DEADLINE_SECONDS": "0.5"}, dynamodb=dynamodb)
    assert lookup(profile_event("Phone", A_PHONE, principal=IVR_SESSION))[0] == 200

    answers = [
        lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))[0] for _ in range(6)
    ]
    healthy = lookup(
        profile_event("Phone", A_PHONE, principal=IVR_SESSION, headers={"Cache-Control": "no-cache"})
    )

    assert answers == [504] * 6
    assert dynamodb.calls == 1  # one read for the six requests
    assert (healthy[0], healthy[1]["cached"]) == (200, False)  # AEP asked while the registry hangs
    assert dynamodb.finished == 0
    gate.set()
    wait_until(lambda: lookup.rt.access.holds("brand-b"))
    status, body = lookup(profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION))
    assert (status, body["attributes"]["person"]["name"]["firstName"]) == (200, "caller B1")


def test_a_registry_entry_past_its_ttl_is_served_while_it_is_read_again(brands):
    gate = threading.Event()
    gate.set()
    dynamodb = Gated(boto3.client("dynamodb"), "batch_get_item", gate)
    clock = FakeClock()
    lookup = brands({"LOOKUP_DEADLINE_SECONDS": "5"}, dynamodb=dynamodb, registry_clock=clock)
    event = profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION)
    assert lookup(event)[0] == 200
    assert dynamodb.calls == 1

    gate.clear()  # DynamoDB hangs from now on
    clock.advance(61)  # the registry's entry is past its 60 s
    first, second = lookup(event), lookup(event)

    assert (first[0], first[1]["cached"], second[0]) == (200, True, 200)  # the entry read before answers
    wait_until(lambda: dynamodb.calls == 2)  # read again, in the background
    assert lookup(event)[0] == 200
    gate.set()
    wait_until(lambda: not lookup.rt.access.registry._refreshing)
    assert lookup(event)[0] == 200
    assert dynamodb.calls == 2  # once for the three requests past the ttl; fresh again after it


def test_a_cache_hit_of_a_tenant_whose_client_was_evicted_builds_no_client(brands):
    lookup = brands()
    event = profile_event("Phone", B_PHONE, tenant="brand-b", principal=B_SESSION)
    assert lookup(event)[0] == 200
    gate = threading.Event()  # never set: a secret read would hang
    secrets = Gated(boto3.client("secretsmanager"), "get_secret_value", gate)
    lookup.rt.clients = ClientCache(lookup.rt.clients.base, secrets_client=lambda: secrets)  # evicted

    status, body = lookup(event)

    assert (status, body["cached"]) == (200, True)
    assert secrets.calls == 0
    gate.set()
