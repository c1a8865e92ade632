"""The lookup function invoked as Lambda would, with API Gateway REST events, against the emulator after
real ingestion (profiles by batch, call events by streaming). Moto holds the token secret."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from aep import RetryPolicy, SystemClock
from tests.integration.conftest import LOYALTY, Admin, call_event, emulator_client
from tests.support.apigw import IVR_ROLE, lookup_event, profile_event, rest_event
from tests.support.lookup import (
    LookupFunction,
    caller_profile,
    ingest_by_batch,
    ingest_by_streaming,
    lookup_runtime_for,
)

pytestmark = pytest.mark.integration

PHONE = "+14155550100"
OTHER = "+14155550101"
UNKNOWN = "+14155550199"


def aep_lookups(admin: Admin) -> list[dict[str, Any]]:
    return [e for e in admin.requests() if e["path"].startswith("/data/core/ups")]


@pytest.fixture
def client(emulator, aws):
    return emulator_client(
        emulator, SystemClock(), RetryPolicy(max_attempts=3, base=0.01, max_wait=0.05, jitter=lambda c: c)
    )


@pytest.fixture
def ingested(client, emulator):
    state = ingest_by_batch(client, [caller_profile(PHONE, "caller 1"), caller_profile(OTHER, "caller 2")])
    assert state == "success"
    accepted = ingest_by_streaming(client, emulator, [call_event(PHONE, n) for n in range(5)])
    assert accepted == 5
    return client


@pytest.fixture
def make(ingested, clock):
    def build(**env: str) -> LookupFunction:
        return LookupFunction(lookup_runtime_for(ingested, clock, env))

    return build


@pytest.fixture
def lookup(make):
    return make()


# -- one profile ---------------------------------------------------------------------------------------


def test_a_caller_ingested_by_batch_is_found_in_our_own_shape(lookup):
    status, body = lookup(profile_event("Phone", PHONE))

    assert status == 200
    assert set(body) == {"profileId", "identities", "attributes", "lastModified", "cached"}
    assert {"namespace": "Phone", "id": PHONE} in body["identities"]
    assert body["attributes"]["person"] == {"name": {"firstName": "caller 1"}}
    assert body["attributes"]["_acme"] == {"tier": "gold"}
    assert "identityMap" not in body["attributes"]
    assert body["cached"] is False
    # when AEP last changed it: the latest of its fragments and events, ingested moments ago
    changed = datetime.fromisoformat(body["lastModified"].replace("Z", "+00:00"))
    assert timedelta(0) <= datetime.now(UTC) - changed < timedelta(minutes=5)


@pytest.mark.parametrize("written", ["(415) 555-0100", "415.555.0100", "+1 415-555-0100", "+14155550100"])
def test_every_way_of_writing_the_number_finds_the_same_caller(lookup, written):
    _, expected = lookup(profile_event("Phone", PHONE, headers={"Cache-Control": "no-cache"}))

    status, body = lookup(profile_event("Phone", written, headers={"Cache-Control": "no-cache"}))

    assert status == 200
    assert body["profileId"] == expected["profileId"]


def test_an_email_is_found_whatever_its_case_and_spaces(lookup, ingested):
    member = {"_id": "m-1", "_acme": {"loyalty": {"email": "ada@example.com", "memberId": "M1", "points": 3}}}
    assert ingest_by_batch(ingested, [member], dataset=LOYALTY) == "success"

    status, body = lookup(profile_event("Email", "Ada@Example.com "))

    assert status == 200
    assert {"namespace": "Email", "id": "ada@example.com"} in body["identities"]
    assert body["attributes"]["_acme"]["loyalty"]["points"] == 3


def test_an_unknown_caller_is_a_404_in_the_error_shape(lookup):
    status, body = lookup(profile_event("Phone", UNKNOWN, request_id="req-404"))

    assert status == 404
    assert body == {
        "error": {
            "status": 404,
            "code": "not-found",
            "message": "no profile for this identity",
            "requestId": "req-404",
        }
    }


def test_fields_keep_only_the_asked_attributes_and_the_identities(lookup):
    status, body = lookup(profile_event("Phone", PHONE, query={"fields": "person.name.firstName"}))

    assert status == 200
    assert body["attributes"] == {"person": {"name": {"firstName": "caller 1"}}}
    assert {"namespace": "Phone", "id": PHONE} in body["identities"]


def test_the_deployment_s_default_fields_apply_when_none_are_asked(make):
    lookup = make(LOOKUP_DEFAULT_FIELDS="_acme.tier")

    status, body = lookup(profile_event("Phone", PHONE))

    assert status == 200
    assert body["attributes"] == {"_acme": {"tier": "gold"}}


def test_the_merge_policy_is_passed_to_aep(lookup, admin, emulator):
    policy = emulator.config.merge_policy_id

    status, body = lookup(profile_event("Phone", PHONE, query={"mergePolicyId": policy}))

    assert status == 200
    assert body["attributes"]["person"]["name"]["firstName"] == "caller 1"


# -- input refused before AEP --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "value"),
    [
        ("Phone", "../../etc/passwd"),
        ("Phone", "%00"),
        ("Phone", "+14155550100?x=1"),
        ("Phone", '"+14155550100"'),
        ("Phone", "+1415555\x000100"),
        ("Phone", "+14155550100\n"),
        ("Email", "ada@example.com?x=1"),
        ("Email", '"ada"@example.com'),
        ("Email", "../ada@example.com"),
        ("Email", "ada@example.com\x00"),
        ("Email", "ada%00@example.com"),
        ("ECID", "../12345"),
        ("ECID", "12345?x=1"),
        ("ECID", "1' OR '1'='1"),
        ("ECID", "12345\x1b[2J"),
        ("ECID", "%2e%2e%2f"),
        ("Phone", "1" * 10_000),
        ("ECID", "7" * 10_000),
    ],
)
def test_hostile_ids_are_a_400_before_any_aep_call(lookup, admin, namespace, value):
    before = len(aep_lookups(admin))

    status, body = lookup(profile_event(namespace, value))

    assert status == 400
    assert body["error"]["status"] == 400
    assert value not in body["error"]["message"]
    assert len(aep_lookups(admin)) == before


def test_a_raw_dot_dot_segment_is_a_400_not_another_route(lookup):
    event = rest_event("GET", "/profiles/Phone/../../tenants/x", resource="/profiles/{namespace}/{id}")

    status, body = lookup(event)

    assert status == 400
    assert body["error"]["code"] == "invalid-path"


def test_a_namespace_not_on_the_allow_list_is_a_400(lookup, admin):
    status, body = lookup(profile_event("CRMID", "crm-1"))

    assert status == 400
    assert body["error"]["code"] == "invalid-identity"
    assert "not on the allowed list" in body["error"]["message"]
    assert aep_lookups(admin) == []


def test_the_allow_list_is_the_deployment_s(make):
    lookup = make(LOOKUP_ALLOWED_NAMESPACES="Phone,CRMID")

    assert lookup(profile_event("CRMID", "crm-1"))[0] == 404
    assert lookup(profile_event("Email", "ada@example.com"))[0] == 400


@pytest.mark.parametrize(
    "query",
    [{"x": "1"}, {"fields": "person", "debug": "true"}, {"FIELDS": "person"}, {"limit": "5"}],
)
def test_unknown_query_parameters_are_a_400(lookup, admin, query):
    status, body = lookup(profile_event("Phone", PHONE, query=query))

    assert status == 400
    assert body["error"]["code"] == "unknown-parameter"
    assert aep_lookups(admin) == []


@pytest.mark.parametrize("fields", ["person name", "person,../x", "a" * 70, "person.", ",".join(["a"] * 51)])
def test_bad_fields_are_a_400(lookup, fields):
    status, body = lookup(profile_event("Phone", PHONE, query={"fields": fields}))

    assert status == 400
    assert body["error"]["code"] == "invalid-fields"


def test_a_bad_merge_policy_id_is_a_400(lookup):
    status, _ = lookup(profile_event("Phone", PHONE, query={"mergePolicyId": "x&entityId=other"}))

    assert status == 400


# -- who may read -------------------------------------------------------------------------------------


def test_a_caller_that_is_not_a_principal_is_refused(lookup, admin):
    event = profile_event("Phone", PHONE, principal="arn:aws:sts::123456789012:assumed-role/other/s")

    status, body = lookup(event)

    assert status == 403
    assert body["error"]["code"] == "forbidden"
    assert aep_lookups(admin) == []


def test_an_anonymous_request_is_refused(lookup):
    assert lookup(profile_event("Phone", PHONE, principal=None))[0] == 403


def test_a_single_brand_deployment_may_admit_any_iam_caller(make):
    lookup = make(LOOKUP_DEFAULT_TENANT_PRINCIPALS="*")

    event = profile_event("Phone", PHONE, principal="arn:aws:sts::123456789012:assumed-role/anyone/s")

    assert lookup(event)[0] == 200
    assert lookup(profile_event("Phone", PHONE, principal=None))[0] == 403


def test_without_default_principals_nobody_reads_the_default_tenant(make):
    lookup = make(LOOKUP_DEFAULT_TENANT_PRINCIPALS="")

    assert lookup(profile_event("Phone", PHONE))[0] == 403


def test_an_unknown_tenant_is_refused_like_a_forbidden_one(lookup):
    status, body = lookup(profile_event("Phone", PHONE, tenant="brand-z"))

    assert status == 403
    assert body["error"]["code"] == "forbidden"
    assert IVR_ROLE not in body["error"]["message"]


# -- many identities ----------------------------------------------------------------------------------


def test_several_identities_are_answered_in_request_order(lookup):
    body = {
        "identities": [
            {"namespace": "Phone", "id": "(415) 555-0101"},
            {"namespace": "Phone", "id": UNKNOWN},
            {"namespace": "phone", "id": "415.555.0100"},
            {"namespace": "Phone", "id": OTHER},
        ],
        "fields": ["person.name.firstName"],
    }

    status, answer = lookup(lookup_event(body))

    assert status == 200
    results = answer["results"]
    assert [(r["id"], r["status"]) for r in results] == [
        (OTHER, "found"),
        (UNKNOWN, "not_found"),
        (PHONE, "found"),
        (OTHER, "found"),
    ]
    assert results[0]["profile"]["attributes"] == {"person": {"name": {"firstName": "caller 2"}}}
    assert results[2]["profile"]["attributes"] == {"person": {"name": {"firstName": "caller 1"}}}
    assert results[1]["profile"] is None


def test_more_than_fifty_identities_are_split_into_several_aep_calls(lookup, admin, ingested):
    phones = [f"+1415555{n:04d}" for n in range(200, 320)]
    assert ingest_by_batch(ingested, [caller_profile(p, f"caller {i}") for i, p in enumerate(phones[::2])])
    before = len(aep_lookups(admin))

    status, answer = lookup(lookup_event({"identities": [{"namespace": "Phone", "id": p} for p in phones]}))

    assert status == 200
    calls = aep_lookups(admin)[before:]
    assert [c["method"] for c in calls] == ["POST", "POST", "POST"]  # 50 + 50 + 20
    assert [r["id"] for r in answer["results"]] == phones
    assert [r["status"] for r in answer["results"]] == ["found", "not_found"] * 60
    labels = [r["profile"]["attributes"]["person"]["name"]["firstName"] for r in answer["results"][::2]]
    assert labels == [f"caller {i}" for i in range(60)]


def test_a_graph_of_more_than_fifty_identities_fails_that_identity_only(lookup, ingested):
    crowded = caller_profile("+14155550150", "crowded")
    crowded["identityMap"]["ECID"] = [{"id": f"{n:038d}"} for n in range(51)]
    assert ingest_by_batch(ingested, [crowded]) == "success"

    single_status, single = lookup(profile_event("Phone", "+14155550150"))
    pair = [{"namespace": "Phone", "id": PHONE}, {"namespace": "Phone", "id": "+14155550150"}]
    status, answer = lookup(lookup_event({"identities": pair}))

    assert single_status == 422
    assert single["error"]["code"] == "identity-graph-too-large"
    assert status == 200
    assert [r["status"] for r in answer["results"]] == ["found", "error"]
    assert answer["results"][1]["error"]["code"] == "identity-graph-too-large"


def test_a_hostile_identity_answers_its_own_error_and_is_never_sent_to_aep(lookup, admin):
    body = {"identities": [{"namespace": "Phone", "id": PHONE}, {"namespace": "Phone", "id": "../x"}]}

    status, answer = lookup(lookup_event(body))

    assert status == 200
    assert [r["status"] for r in answer["results"]] == ["found", "error"]
    assert answer["results"][1]["error"]["message"].startswith("identities[1].id:")
    assert len(aep_lookups(admin)) == 1  # the valid identity's call only


@pytest.mark.parametrize(
    "body",
    [
        {"identities": []},
        {"identities": [{"namespace": "Phone"}]},
        {"identities": [{"namespace": "Phone", "id": PHONE, "extra": 1}]},
        {"identities": [{"namespace": "Phone", "id": PHONE}], "unknown": True},
        "not json",
        {"identities": [{"namespace": "Phone", "id": PHONE}] * 201},
    ],
)
def test_a_malformed_lookup_body_is_a_400(lookup, body):
    assert lookup(lookup_event(body))[0] == 400


def lookup_body(phone: str) -> str:
    return json.dumps({"identities": [{"namespace": "Phone", "id": phone}]})


@pytest.mark.parametrize(
    "content_type",
    [None, "application/x-www-form-urlencoded", "text/plain", "application/jsonx", "multipart/form-data"],
)
def test_a_body_not_declared_json_is_a_415_that_quotes_nothing_of_it(lookup, admin, content_type):
    headers = {} if content_type is None else {"content-type": content_type}
    event = rest_event(
        "POST", "/profiles/lookup", resource="/profiles/lookup", headers=headers, body=lookup_body(PHONE)
    )

    status, body = lookup(event)

    assert (status, body["error"]["code"]) == (415, "unsupported-media-type")
    assert PHONE[1:] not in json.dumps(body)
    assert aep_lookups(admin) == []


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_a_json_body_may_carry_parameters_and_any_case(lookup, content_type):
    event = rest_event(
        "POST",
        "/profiles/lookup",
        resource="/profiles/lookup",
        headers={"Content-Type": content_type},
        body=lookup_body(PHONE),
    )

    assert lookup(event)[0] == 200


def test_a_key_a_caller_wrote_is_never_quoted_in_a_400(lookup):
    status, body = lookup(lookup_event({"identities": [], f"call {PHONE}": 1}))

    assert status == 400
    assert "(a key): Extra inputs are not permitted" in body["error"]["message"]
    assert PHONE[1:] not in json.dumps(body)


# -- events -------------------------------------------------------------------------------------------


def test_recent_events_come_newest_first_within_the_limit(lookup):
    status, body = lookup(profile_event("Phone", "(415) 555-0100", events=True, query={"limit": "3"}))

    assert status == 200
    ids = [e["id"] for e in body["events"]]
    assert ids == [f"call-{PHONE}-4", f"call-{PHONE}-3", f"call-{PHONE}-2"]
    assert "identityMap" not in body["events"][0]["attributes"]
    assert body["events"][0]["timestamp"].endswith("Z")


def test_events_are_filtered_by_the_time_window(lookup):
    _, every = lookup(profile_event("Phone", PHONE, events=True, query={"limit": "10"}))
    stamps = [e["timestamp"] for e in every["events"]]  # newest first

    status, body = lookup(
        profile_event(
            "Phone", PHONE, events=True, query={"since": stamps[3], "until": stamps[1], "limit": "10"}
        )
    )

    assert status == 200
    assert [e["timestamp"] for e in body["events"]] == stamps[2:4]


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "101"}, {"since": "yesterday"}, {"fields": "person"}]
)
def test_bad_event_parameters_are_a_400(lookup, query):
    assert lookup(profile_event("Phone", PHONE, events=True, query=query))[0] == 400


# -- AEP's failures -----------------------------------------------------------------------------------


def test_throttling_beyond_our_retries_is_a_429_with_retry_after(lookup, admin):
    admin.faults({"path": "^/data/core/ups", "status": 429, "retry_after_ms": 2500})

    response = lookup.raw(profile_event("Phone", PHONE))

    assert response["statusCode"] == 429
    assert response["multiValueHeaders"]["Retry-After"] == ["3"]
    assert len(aep_lookups(admin)) == 3  # every attempt of the retry policy


def test_an_aep_failure_is_a_502(lookup, admin):
    admin.faults({"path": "^/data/core/ups", "status": 500})

    status, body = lookup(profile_event("Phone", PHONE))

    assert status == 502
    assert body["error"]["code"] == "aep-failure"


def test_a_slow_aep_is_a_504_at_the_deadline(ingested, admin):
    lookup = LookupFunction(lookup_runtime_for(ingested, SystemClock(), {"LOOKUP_DEADLINE_SECONDS": "0.3"}))
    admin.faults({"path": "^/data/core/ups", "kind": "latency", "latency_ms": 2000})

    status, body = lookup(profile_event("Phone", PHONE))

    assert status == 504
    assert body["error"]["code"] == "deadline"


def test_the_deadline_bounds_the_retries_too(ingested, admin):
    lookup = LookupFunction(lookup_runtime_for(ingested, SystemClock(), {"LOOKUP_DEADLINE_SECONDS": "0.4"}))
    admin.faults({"path": "^/data/core/ups", "status": 503, "latency_ms": 150})

    status, _ = lookup(profile_event("Phone", PHONE))

    assert status in (502, 504)
    assert len(aep_lookups(admin)) <= 3


def test_a_failing_chunk_answers_an_error_per_identity(lookup, admin):
    admin.faults({"path": "^/data/core/ups", "status": 500})
    body = {"identities": [{"namespace": "Phone", "id": PHONE}, {"namespace": "Phone", "id": OTHER}]}

    status, answer = lookup(lookup_event(body))

    assert status == 200
    assert [r["status"] for r in answer["results"]] == ["error", "error"]
    assert {r["error"]["status"] for r in answer["results"]} == {502}


# -- the cache ----------------------------------------------------------------------------------------


def test_a_second_lookup_is_a_cache_hit_without_an_aep_call(lookup, admin):
    lookup(profile_event("Phone", PHONE))
    calls = len(aep_lookups(admin))

    status, body = lookup(profile_event("Phone", "(415) 555-0100"))

    assert status == 200
    assert body["cached"] is True
    assert len(aep_lookups(admin)) == calls


def test_a_cached_profile_expires_after_its_ttl(lookup, admin, clock):
    lookup(profile_event("Phone", PHONE))
    calls = len(aep_lookups(admin))

    clock.advance(59.0)
    assert lookup(profile_event("Phone", PHONE))[1]["cached"] is True
    clock.advance(1.0)
    status, body = lookup(profile_event("Phone", PHONE))

    assert status == 200
    assert body["cached"] is False
    assert len(aep_lookups(admin)) == calls + 1


def test_no_cache_bypasses_the_cache_and_refreshes_it(lookup, admin):
    lookup(profile_event("Phone", PHONE))
    calls = len(aep_lookups(admin))

    status, body = lookup(profile_event("Phone", PHONE, headers={"Cache-Control": "no-cache"}))

    assert status == 200
    assert body["cached"] is False
    assert len(aep_lookups(admin)) == calls + 1


def test_a_404_is_cached_briefly(lookup, admin, clock):
    lookup(profile_event("Phone", UNKNOWN))
    calls = len(aep_lookups(admin))

    assert lookup(profile_event("Phone", UNKNOWN))[0] == 404
    assert len(aep_lookups(admin)) == calls
    clock.advance(5.0)
    assert lookup(profile_event("Phone", UNKNOWN))[0] == 404
    assert len(aep_lookups(admin)) == calls + 1


def test_different_fields_are_cached_apart(lookup):
    lookup(profile_event("Phone", PHONE, query={"fields": "_acme.tier"}))

    status, body = lookup(profile_event("Phone", PHONE, query={"fields": "person.name.firstName"}))

    assert status == 200
    assert body["cached"] is False
    assert body["attributes"] == {"person": {"name": {"firstName": "caller 1"}}}


def test_a_multi_lookup_answers_cached_identities_from_the_cache(lookup, admin):
    lookup(profile_event("Phone", PHONE))
    before = len(aep_lookups(admin))

    pair = [{"namespace": "Phone", "id": PHONE}, {"namespace": "Phone", "id": OTHER}]
    _, answer = lookup(lookup_event({"identities": pair}))

    assert [r["profile"]["cached"] for r in answer["results"]] == [True, False]
    assert len(aep_lookups(admin)) == before + 1


def test_the_cache_can_be_switched_off(make, admin):
    lookup = make(LOOKUP_CACHE_SIZE="0")
    lookup(profile_event("Phone", PHONE))

    assert lookup(profile_event("Phone", PHONE))[1]["cached"] is False
    assert len(aep_lookups(admin)) == 2


def test_an_encoded_id_in_the_path_is_decoded_once(lookup):
    event = profile_event("Phone", PHONE)
    event["path"] = f"/profiles/Phone/{quote('(415) 555-0100', safe='')}"

    assert lookup(event)[0] == 200


def test_a_cold_container_with_ims_slow_answers_at_its_deadline_and_the_next_lookup_uses_the_token(
    ingested, emulator, admin
):
    # A new container: its own client, nothing in memory, an empty token secret; IMS takes 1.5 s.
    import boto3

    boto3.client("secretsmanager").put_secret_value(SecretId="aep/token", SecretString="{}")
    cold = emulator_client(emulator, SystemClock(), RetryPolicy(max_attempts=1))
    lookup = LookupFunction(lookup_runtime_for(cold, SystemClock(), {"LOOKUP_DEADLINE_SECONDS": "0.3"}))
    admin.faults({"path": "^/ims/token", "kind": "latency", "latency_ms": 1500})
    tokens_before = len(emulator.state.tokens)

    status, body = lookup(profile_event("Phone", PHONE))

    assert (status, body["error"]["code"]) == (504, "deadline")  # answered before IMS did
    assert len(emulator.state.tokens) == tokens_before
    for _ in range(300):  # the fetch goes on in the background and fills the cache
        if cold.tokens.ready():
            break
        threading.Event().wait(0.01)
    admin.faults()  # nothing slow any more: the next lookup must not need IMS
    assert lookup(profile_event("Phone", PHONE))[0] == 200
    assert len(emulator.state.tokens) == tokens_before + 1


def test_a_token_rejected_mid_lookup_with_ims_slow_answers_at_the_deadline_and_the_refresh_serves_the_next(
    ingested, emulator, admin
):
    # A warm container holds a token; Platform rejects it once (401) and IMS then takes 1.5 s to refresh.
    warm = emulator_client(emulator, SystemClock(), RetryPolicy(max_attempts=2, base=0.01, max_wait=0.05))
    lookup = LookupFunction(lookup_runtime_for(warm, SystemClock(), {"LOOKUP_DEADLINE_SECONDS": "0.3"}))
    assert lookup(profile_event("Phone", PHONE))[0] == 200
    tokens_before = len(emulator.state.tokens)
    admin.faults(
        {"path": "^/data/core/ups", "status": 401, "first": 1},
        {"path": "^/ims/token", "kind": "latency", "latency_ms": 1500},
    )

    status, body = lookup(profile_event("Phone", PHONE, headers={"Cache-Control": "no-cache"}))

    assert (status, body["error"]["code"]) == (504, "deadline")  # answered before IMS did
    assert len(emulator.state.tokens) == tokens_before
    for _ in range(300):  # the refresh goes on in the background and fills the token cache
        if len(emulator.state.tokens) > tokens_before and warm.tokens.ready():
            break
        threading.Event().wait(0.01)
    admin.faults()
    assert lookup(profile_event("Phone", PHONE, headers={"Cache-Control": "no-cache"}))[0] == 200
    assert len(emulator.state.tokens) == tokens_before + 1  # the refreshed token, not another
