"""Two orgs in one emulator, apart as AEP keeps them: tokens, datasets, batches, profiles, inlets, faults.

Org A is the default sandbox file's org, org B the brand-b file's: the same schemas, their own ids.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from aep import RetryPolicy
from aep_emulator import EmulatorConfig, load_config, load_orgs, running
from aep_emulator.__main__ import main
from aep_emulator.config import DEFAULT_CONFIG, ConfigError
from tests.contract import models as m
from tests.integration.conftest import (
    BRAND_B_CALL_EVENTS,
    BRAND_B_CALLERS,
    BRAND_B_CALLERS_INLET,
    BRAND_B_CONFIG,
    BRAND_B_EVENTS_INLET,
    CALL_EVENTS,
    CALLERS,
    EVENTS_INLET,
    Admin,
    OrgAccess,
    TwoOrgs,
    call_event,
    caller,
    emulator_client,
    envelope,
    ndjson,
    serve_two_orgs,
)
from tests.support.fakes import FakeClock

PHONE = "+14155550177"
STREAM = {"x-sandbox-name": "prod"}
ROOT = Path(__file__).resolve().parents[2]
WRONG_ORG = {"error_code": "403025", "message": "Profile is not valid"}


@pytest.fixture
def orgs() -> Iterator[TwoOrgs]:
    with serve_two_orgs() as served:
        yield served


def get(orgs: TwoOrgs, route: str, headers: dict[str, str], **params: str) -> requests.Response:
    return requests.get(f"{orgs.url}{route}", headers=headers, params=params, timeout=5)


def stream(
    orgs: TwoOrgs, inlet: str, *messages: dict[str, Any], headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.post(
        f"{orgs.url}/collection/batch/{inlet}",
        json={"messages": list(messages)},
        headers=headers or STREAM,
        timeout=5,
    )


def a_event(orgs: TwoOrgs, n: int, phone: str = PHONE) -> dict[str, Any]:
    return envelope(orgs.emulator, CALL_EVENTS, call_event(phone, n), org=orgs.a.config)


def b_event(orgs: TwoOrgs, n: int, phone: str = PHONE) -> dict[str, Any]:
    return envelope(orgs.emulator, BRAND_B_CALL_EVENTS, call_event(phone, n), org=orgs.b.config)


def profile(orgs: TwoOrgs, headers: dict[str, str], phone: str = PHONE) -> requests.Response:
    return get(
        orgs,
        "/data/core/ups/access/entities",
        headers,
        **{"schema.name": "_xdm.context.profile", "entityId": phone, "entityIdNS": "Phone"},
    )


# -- tokens belong to their client's org -----------------------------------------------------------------
def test_a_token_of_org_a_with_org_b_header_is_refused_with_403025(orgs):
    a_token, b_token = orgs.a.token(), orgs.b.token()
    namespaces = "/data/core/idnamespace/identities"

    a_as_b = get(orgs, namespaces, {**orgs.a.headers(token=a_token), "x-gw-ims-org-id": orgs.b.org_id})
    b_as_a = get(orgs, namespaces, {**orgs.b.headers(token=b_token), "x-gw-ims-org-id": orgs.a.org_id})
    a_as_none = get(
        orgs, namespaces, {**orgs.a.headers(token=a_token), "x-gw-ims-org-id": "NOBODY000000@AdobeOrg"}
    )
    a_own = get(orgs, namespaces, orgs.a.headers(token=a_token))
    b_own = get(orgs, namespaces, orgs.b.headers(token=b_token))

    for refused in (a_as_b, b_as_a, a_as_none):
        assert (refused.status_code, refused.json()) == (403, WRONG_ORG)
        assert m.GatewayError.model_validate(refused.json()).error_code == "403025"
    assert (a_own.status_code, b_own.status_code) == (200, 200)


def test_org_b_with_org_a_key_and_header_but_its_own_token_is_refused(orgs):
    """The API key must be the token's client: B's token cannot pass as A's by borrowing A's key."""
    headers = {**orgs.a.headers(), "Authorization": f"Bearer {orgs.b.token()}"}

    answer = get(orgs, "/data/core/idnamespace/identities", headers)

    assert (answer.status_code, answer.json()["error_code"]) == (403, "403003")


def test_a_sandbox_only_the_other_org_has_is_refused(orgs):
    """A has prod and dev, B has prod and uat."""
    b_dev = get(orgs, "/data/core/idnamespace/identities", orgs.b.headers("dev"))
    b_uat = get(orgs, "/data/core/idnamespace/identities", orgs.b.headers("uat"))
    a_uat = get(orgs, "/data/core/idnamespace/identities", orgs.a.headers("uat"))
    a_dev = get(orgs, "/data/core/idnamespace/identities", orgs.a.headers("dev"))

    assert (b_dev.status_code, b_dev.json()["type"]) == (403, "http://ns.adobe.com/aep/errors/SANDBOX-403")
    assert a_uat.status_code == 403
    assert (b_uat.status_code, a_dev.status_code) == (200, 200)


# -- data stays in its org (and sandbox) -----------------------------------------------------------------
def test_org_a_dataset_is_invisible_to_org_b(orgs):
    a, b = orgs.a.headers(), orgs.b.headers()
    path = "/data/foundation/catalog/dataSets/"

    a_reads_a = get(orgs, path + CALL_EVENTS, a)
    b_reads_a = get(orgs, path + CALL_EVENTS, b)
    a_reads_b = get(orgs, path + BRAND_B_CALL_EVENTS, a)
    b_reads_b = get(orgs, path + BRAND_B_CALL_EVENTS, b)
    b_batch_on_a = requests.post(
        f"{orgs.url}/data/foundation/import/batches",
        headers=b,
        json={"datasetId": CALLERS, "inputFormat": {"format": "json"}},
        timeout=5,
    )

    assert (a_reads_a.status_code, b_reads_b.status_code) == (200, 200)
    assert a_reads_a.json()[CALL_EVENTS]["imsOrg"] == orgs.a.org_id
    assert b_reads_b.json()[BRAND_B_CALL_EVENTS]["imsOrg"] == orgs.b.org_id
    for hidden in (b_reads_a, a_reads_b):
        assert (hidden.status_code, hidden.json()["detail"]) == (404, "The dataset was not found")
    assert b_batch_on_a.status_code == 400
    assert b_batch_on_a.json()["detail"] == f"Dataset {CALLERS} not found."


def test_org_a_batch_is_invisible_and_untouchable_for_org_b(orgs):
    a, b = orgs.a.headers(), orgs.b.headers()
    base = f"{orgs.url}/data/foundation/import/batches"
    batch = requests.post(
        base, headers=a, json={"datasetId": CALLERS, "inputFormat": {"format": "json"}}, timeout=5
    ).json()["id"]
    file_url = f"{base}/{batch}/datasets/{CALLERS}/files/a.json"
    octet = {"Content-Type": "application/octet-stream"}

    b_put = requests.put(file_url, data=ndjson([caller(PHONE, "first")]), headers={**b, **octet}, timeout=5)
    b_complete = requests.post(f"{base}/{batch}?action=COMPLETE", headers=b, timeout=5)
    b_catalog = get(orgs, f"/data/foundation/catalog/batches/{batch}", b)
    b_listing = get(orgs, "/data/foundation/catalog/batches", b)
    b_meta = get(orgs, f"/data/foundation/export/batches/{batch}/meta", b, path="input_files")
    a_put = requests.put(file_url, data=ndjson([caller(PHONE, "first")]), headers={**a, **octet}, timeout=5)
    a_complete = requests.post(f"{base}/{batch}?action=COMPLETE", headers=a, timeout=5)
    a_listing = get(orgs, "/data/foundation/catalog/batches", a)

    assert [r.status_code for r in (b_put, b_complete, b_catalog, b_meta)] == [404, 404, 404, 404]
    assert b_listing.json() == {}
    assert (a_put.status_code, a_complete.status_code) == (200, 200)
    assert list(a_listing.json()) == [batch]
    assert a_listing.json()[batch]["imsOrg"] == orgs.a.org_id
    assert profile(orgs, a).status_code == 200
    assert profile(orgs, b).status_code == 404


def test_profiles_and_identities_stay_in_their_org_and_sandbox(orgs):
    a, b = orgs.a.headers(), orgs.b.headers()
    assert stream(orgs, EVENTS_INLET, a_event(orgs, 1)).json()["responses"][0].get("xactionId")

    a_found = profile(orgs, a)
    b_found = profile(orgs, b)
    a_dev = profile(orgs, orgs.a.headers("dev"))
    [xid] = a_found.json()
    b_by_xid = get(
        orgs, "/data/core/ups/access/entities", b, **{"schema.name": "_xdm.context.profile", "entityId": xid}
    )
    b_events = get(
        orgs,
        "/data/core/ups/access/entities",
        b,
        **{
            "schema.name": "_xdm.context.experienceevent",
            "relatedSchema.name": "_xdm.context.profile",
            "relatedEntityId": PHONE,
            "relatedEntityIdNS": "Phone",
        },
    )
    b_many = requests.post(
        f"{orgs.url}/data/core/ups/access/entities",
        headers=b,
        json={
            "schema": {"name": "_xdm.context.profile"},
            "identities": [{"entityId": PHONE, "entityIdNS": {"code": "Phone"}}],
        },
        timeout=5,
    )

    assert a_found.status_code == 200
    assert a_found.json()[xid]["entity"]["identityMap"] == {"Phone": [{"id": PHONE}]}
    assert (b_found.status_code, b_found.json()["statusCode"]) == (404, "404")
    assert a_dev.status_code == 404  # the same org's other sandbox holds nothing
    assert b_by_xid.status_code == 404
    assert (b_events.status_code, b_events.json()["children"]) == (200, [])
    assert b_many.json() == {
        PHONE: {"entityId": PHONE, "sources": [""], "entity": {}, "lastModifiedAt": "1970-01-01T00:00:00Z"}
    }


def test_the_same_identity_in_two_orgs_is_two_profiles(orgs):
    stream(orgs, EVENTS_INLET, a_event(orgs, 1)).raise_for_status()
    stream(orgs, BRAND_B_EVENTS_INLET, b_event(orgs, 2), b_event(orgs, 3)).raise_for_status()

    a_events = get(
        orgs,
        "/data/core/ups/access/entities",
        orgs.a.headers(),
        **{
            "schema.name": "_xdm.context.experienceevent",
            "relatedEntityId": PHONE,
            "relatedEntityIdNS": "Phone",
        },
    ).json()["children"]
    b_events = get(
        orgs,
        "/data/core/ups/access/entities",
        orgs.b.headers(),
        **{
            "schema.name": "_xdm.context.experienceevent",
            "relatedEntityId": PHONE,
            "relatedEntityIdNS": "Phone",
        },
    ).json()["children"]

    assert [e["entityId"] for e in a_events] == [f"call-{PHONE}-1"]
    assert [e["entityId"] for e in b_events] == [f"call-{PHONE}-2", f"call-{PHONE}-3"]


def test_two_clients_of_two_orgs_each_find_only_their_own_callers(orgs, aws):
    policy = RetryPolicy(max_attempts=2, base=0.01, max_wait=0.05, jitter=lambda c: c)
    a_client = emulator_client(orgs.emulator, FakeClock(), policy, orgs.a.config, "aep/token-a")
    b_client = emulator_client(orgs.emulator, FakeClock(), policy, orgs.b.config, "aep/token-b")
    a_message = envelope(orgs.emulator, CALL_EVENTS, call_event(PHONE, 1), org=orgs.a.config)
    b_message = envelope(orgs.emulator, BRAND_B_CALL_EVENTS, call_event("+14155550179", 1), org=orgs.b.config)

    a_sent = a_client.streaming.send_many(EVENTS_INLET, [a_message])
    b_sent = b_client.streaming.send_many(BRAND_B_EVENTS_INLET, [b_message])
    b_into_a = b_client.streaming.send_many(EVENTS_INLET, [b_message])

    assert [r.ok for r in a_sent + b_sent] == [True, True]
    assert [(r.ok, r.status) for r in b_into_a] == [(False, 400)]  # B's message names B, not the inlet's org
    assert "wrong ims org" in (b_into_a[0].reason or "")
    assert a_client.profiles.get(PHONE, "Phone") is not None
    assert b_client.profiles.get(PHONE, "Phone") is None
    assert b_client.profiles.get("+14155550179", "Phone") is not None
    assert a_client.profiles.get("+14155550179", "Phone") is None


# -- streaming: an inlet belongs to one org --------------------------------------------------------------
@pytest.mark.parametrize("target", ["a", "b"])
def test_a_message_naming_the_other_org_is_refused_and_its_neighbour_accepted(orgs, target):
    inlet, own, other, dataset = (
        (EVENTS_INLET, orgs.a, orgs.b, CALL_EVENTS)
        if target == "a"
        else (BRAND_B_EVENTS_INLET, orgs.b, orgs.a, BRAND_B_CALL_EVENTS)
    )
    good = envelope(orgs.emulator, dataset, call_event(PHONE, 1), org=own.config)
    crossing = envelope(orgs.emulator, dataset, call_event(PHONE, 2), org=own.config)
    crossing["header"]["imsOrgId"] = other.org_id
    admin = Admin(orgs.url)

    answer = stream(orgs, inlet, good, crossing)

    assert answer.status_code == 207
    body = m.StreamBatch.model_validate(answer.json())
    assert body.responses[0].xactionId == f"{body.batchId}:0"
    assert (body.responses[1].statusCode, body.responses[1].message) == (
        400,
        f"inletId: [{inlet}] imsOrgId: [{own.org_id}] Message has an absent or wrong ims org in the header",
    )
    assert admin.streamed(org=own.org_id)["accepted"] == {dataset: 1}
    assert admin.streamed(org=other.org_id)["accepted"] == {}


def test_a_single_message_naming_the_other_org_is_400(orgs):
    crossing = a_event(orgs, 1)
    crossing["header"]["imsOrgId"] = orgs.b.org_id

    answer = requests.post(f"{orgs.url}/collection/{EVENTS_INLET}", json=crossing, headers=STREAM, timeout=5)

    assert answer.status_code == 400
    assert answer.json()["report"]["message"].endswith("Message has an absent or wrong ims org in the header")
    assert Admin(orgs.url).streamed()["accepted"] == {}


def test_an_authenticated_inlet_takes_only_a_token_of_its_org_with_no_other_org_named(orgs):
    message = envelope(orgs.emulator, BRAND_B_CALLERS, caller(PHONE, "second"), org=orgs.b.config)
    b_token, a_token = orgs.b.token(), orgs.a.token()

    def send(headers: dict[str, str]) -> requests.Response:
        return stream(orgs, BRAND_B_CALLERS_INLET, message, headers={**STREAM, **headers})

    a_token_sent = send({"Authorization": f"Bearer {a_token}"})
    b_token_as_a = send({"Authorization": f"Bearer {b_token}", "x-gw-ims-org-id": orgs.a.org_id})
    b_token_as_b = send({"Authorization": f"Bearer {b_token}", "x-gw-ims-org-id": orgs.b.org_id})
    b_token_alone = send({"Authorization": f"Bearer {b_token}"})

    for refused in (a_token_sent, b_token_as_a):
        assert refused.status_code == 403
        assert refused.json() == {
            "type": "https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization",
            "status": "403",
            "title": "Authorization",
            "report": {"message": "Provided authorization token is invalid or expired"},
        }
    assert (b_token_as_b.status_code, b_token_alone.status_code) == (207, 207)
    assert Admin(orgs.url).streamed(org=orgs.b.org_id)["accepted"] == {BRAND_B_CALLERS: 2}


def test_an_authenticated_inlet_still_checks_each_message_org(orgs):
    good = envelope(orgs.emulator, BRAND_B_CALLERS, caller(PHONE, "second"), org=orgs.b.config)
    crossing = envelope(orgs.emulator, BRAND_B_CALLERS, caller("+14155550178", "first"), org=orgs.b.config)
    crossing["header"]["imsOrgId"] = orgs.a.org_id
    headers = {**STREAM, "Authorization": f"Bearer {orgs.b.token()}"}

    answer = stream(orgs, BRAND_B_CALLERS_INLET, good, crossing, headers=headers)

    responses = answer.json()["responses"]
    assert "xactionId" in responses[0]
    assert responses[1]["statusCode"] == 400
    assert "wrong ims org" in responses[1]["message"]


def test_streaming_into_a_sandbox_the_inlet_org_lacks_is_refused(orgs):
    answer = stream(orgs, BRAND_B_EVENTS_INLET, b_event(orgs, 1), headers={"x-sandbox-name": "dev"})
    uat = stream(orgs, BRAND_B_EVENTS_INLET, b_event(orgs, 2), headers={"x-sandbox-name": "uat"})
    admin = Admin(orgs.url)

    assert (answer.status_code, answer.json()["type"]) == (403, "http://ns.adobe.com/aep/errors/SANDBOX-403")
    assert uat.status_code == 207
    assert admin.streamed(org=orgs.b.org_id, sandbox="uat")["accepted"] == {BRAND_B_CALL_EVENTS: 1}
    assert admin.streamed(org=orgs.b.org_id, sandbox="prod")["accepted"] == {}


# -- faults per org --------------------------------------------------------------------------------------
def test_faults_on_org_a_leave_org_b_flowing(orgs):
    admin = Admin(orgs.url)
    admin.faults({"path": "^/collection", "status": 503, "retry_after": 2}, org=orgs.a.org_id)

    a_answers = [stream(orgs, EVENTS_INLET, a_event(orgs, n)) for n in range(3)]
    b_answers = [stream(orgs, BRAND_B_EVENTS_INLET, b_event(orgs, n)) for n in range(3)]
    a_platform = profile(orgs, orgs.a.headers())

    assert [(r.status_code, r.headers.get("Retry-After")) for r in a_answers] == [(503, "2")] * 3
    assert [r.status_code for r in b_answers] == [207] * 3
    assert a_platform.status_code == 404  # org A's other paths are not hit; nothing was stored
    assert admin.streamed(org=orgs.a.org_id)["accepted"] == {}
    assert admin.streamed(org=orgs.b.org_id)["accepted"] == {BRAND_B_CALL_EVENTS: 3}
    listed = requests.get(f"{orgs.url}/_admin/faults", timeout=5).json()
    assert listed == [
        {"path": "^/collection", "kind": "status", "status": 503, "hits": 3, "seen": 3, "org": orgs.a.org_id}
    ]
    assert requests.get(f"{orgs.url}/_admin/faults", params={"org": orgs.b.org_id}, timeout=5).json() == []
    logged = admin.requests(org=orgs.a.org_id)
    assert [(e["status"], e.get("fault")) for e in logged if e["path"].startswith("/collection")] == [
        (503, "status")
    ] * 3


def test_org_faults_are_seeded_and_apart_from_the_faults_on_every_request(orgs):
    admin = Admin(orgs.url)
    admin.faults({"path": "^/collection", "status": 429, "rate": 0.5}, seed=11, org=orgs.b.org_id)
    admin.faults({"path": "^/collection", "status": 503, "first": 1}, org=orgs.b.org_id)  # replaces B's
    admin.faults({"path": "^/collection", "status": 429, "rate": 0.5}, seed=11, org=orgs.b.org_id)

    statuses = [stream(orgs, BRAND_B_EVENTS_INLET, b_event(orgs, n)).status_code for n in range(12)]
    a_statuses = [stream(orgs, EVENTS_INLET, a_event(orgs, n)).status_code for n in range(3)]

    draws = random.Random(11)
    assert statuses == [429 if draws.random() < 0.5 else 207 for _ in range(12)]
    assert a_statuses == [207] * 3


def test_setting_the_faults_on_every_request_replaces_every_org_rule(orgs):
    admin = Admin(orgs.url)
    admin.faults({"path": "^/collection", "status": 503}, org=orgs.a.org_id)

    admin.faults({"path": "^/ims", "status": 503, "first": 1})

    assert stream(orgs, EVENTS_INLET, a_event(orgs, 1)).status_code == 207
    assert requests.get(f"{orgs.url}/_admin/faults", timeout=5).json() == [
        {"path": "^/ims", "kind": "status", "status": 503, "hits": 0, "seen": 0}
    ]
    cleared = requests.delete(f"{orgs.url}/_admin/faults", timeout=5)
    assert cleared.json() == {"rules": []}
    assert requests.get(f"{orgs.url}/_admin/faults", timeout=5).json() == []


def test_an_ims_fault_for_one_org_hits_only_its_client(orgs):
    Admin(orgs.url).faults({"path": "^/ims", "status": 503}, org=orgs.b.org_id)

    form = {"grant_type": "client_credentials", "scope": "openid"}
    b_answer = requests.post(
        f"{orgs.url}/ims/token/v3",
        data={**form, "client_id": orgs.b.client_id, "client_secret": orgs.b.client_secret},
        timeout=5,
    )

    assert b_answer.status_code == 503
    assert orgs.a.token().startswith("emu-")


def test_faults_per_org_from_the_orgs_form_of_a_sandbox_file(tmp_path):
    a = json.loads(load_config().model_dump_json(by_alias=True, exclude_none=True))
    b = json.loads(load_config(BRAND_B_CONFIG).model_dump_json(by_alias=True, exclude_none=True))
    a["faults"] = {"rules": [{"path": "^/collection", "status": 503}]}
    path = tmp_path / "orgs.json"
    path.write_text(json.dumps({"orgs": [a, b], "faults": {"rules": [{"path": "^/nowhere", "status": 500}]}}))

    with running(load_orgs(path)) as emu:
        served = TwoOrgs(emu, *(OrgAccess(emu.url, org) for org in emu.orgs))
        a_status = stream(served, EVENTS_INLET, a_event(served, 1)).status_code
        b_status = stream(served, BRAND_B_EVENTS_INLET, b_event(served, 1)).status_code
        listed = requests.get(f"{emu.url}/_admin/faults", timeout=5).json()

    assert (a_status, b_status) == (503, 207)
    assert [(r["path"], r.get("org")) for r in listed] == [
        ("^/nowhere", None),
        ("^/collection", a["org_id"]),
    ]


# -- admin endpoints: one org, or all ---------------------------------------------------------------------
def test_admin_endpoints_take_an_org_and_default_to_every_org(orgs):
    admin = Admin(orgs.url)
    stream(orgs, EVENTS_INLET, a_event(orgs, 1)).raise_for_status()
    stream(orgs, BRAND_B_EVENTS_INLET, b_event(orgs, 1), b_event(orgs, 1)).raise_for_status()
    b = orgs.b.headers()
    batch = requests.post(
        f"{orgs.url}/data/foundation/import/batches",
        headers=b,
        json={"datasetId": BRAND_B_CALLERS, "inputFormat": {"format": "json"}},
        timeout=5,
    ).json()["id"]

    assert admin.streamed() == {
        "accepted": {CALL_EVENTS: 1, BRAND_B_CALL_EVENTS: 2},
        "failed": [],
        "duplicates": 1,
    }
    assert admin.streamed(org=orgs.a.org_id)["duplicates"] == 0
    assert admin.streamed(org=orgs.b.org_id)["duplicates"] == 1
    assert [(x["id"], x["org"], x["sandbox"]) for x in admin.batches()] == [(batch, orgs.b.org_id, "prod")]
    assert admin.batches(org=orgs.a.org_id) == []
    [a_profile] = admin.profiles(org=orgs.a.org_id)
    [b_profile] = admin.profiles(org=orgs.b.org_id)
    assert (a_profile["identities"], a_profile["events"]) == ([{"namespace": "Phone", "id": PHONE}], 1)
    assert (b_profile["org"], b_profile["events"]) == (orgs.b.org_id, 1)  # the same event id, once
    assert len(admin.profiles()) == 2
    assert admin.counters(org=orgs.a.org_id)["profile_store"]["events"] == 1
    assert admin.counters()["profile_store"]["profiles"] == 2
    assert admin.counters(org=orgs.b.org_id)["tokens_issued"] == 1
    b_paths = {e["path"] for e in admin.requests(org=orgs.b.org_id)}
    assert b_paths == {
        "/ims/token/v3",
        f"/collection/batch/{BRAND_B_EVENTS_INLET}",
        "/data/foundation/import/batches",
    }
    assert {e.get("org") for e in admin.requests()} == {orgs.a.org_id, orgs.b.org_id}
    unknown = requests.get(f"{orgs.url}/_admin/streamed", params={"org": "nobody"}, timeout=5)
    assert (unknown.status_code, unknown.json()) == (404, {"message": "unknown org 'nobody'"})
    assert [o["org_id"] for o in requests.get(f"{orgs.url}/_admin/orgs", timeout=5).json()] == [
        orgs.a.org_id,
        orgs.b.org_id,
    ]


def test_revoking_and_resetting_one_org_leave_the_other(orgs):
    admin = Admin(orgs.url)
    a, b = orgs.a.headers(), orgs.b.headers()
    stream(orgs, EVENTS_INLET, a_event(orgs, 1)).raise_for_status()
    stream(orgs, BRAND_B_EVENTS_INLET, b_event(orgs, 1)).raise_for_status()

    revoked = admin.revoke_all(org=orgs.a.org_id)
    a_after = profile(orgs, a)
    b_after = profile(orgs, b)
    requests.post(f"{orgs.url}/_admin/reset", params={"org": orgs.b.org_id}, timeout=5).raise_for_status()
    b_reset = profile(orgs, b)
    a_kept = profile(orgs, orgs.a.headers())

    assert revoked == 1
    assert (a_after.status_code, a_after.json()["error_code"]) == (401, "401013")
    assert b_after.status_code == 200
    assert b_reset.status_code == 404  # B's data is gone (its token still works)
    assert a_kept.status_code == 200  # A's is still there
    assert admin.streamed() == {"accepted": {CALL_EVENTS: 1}, "failed": [], "duplicates": 0}
    # B's log and counters start again from the reset; A's are kept
    assert [e["path"] for e in admin.requests(org=orgs.b.org_id)] == ["/data/core/ups/access/entities"]
    assert admin.counters(org=orgs.b.org_id)["requests"] == 1
    assert admin.counters()["requests"] == admin.counters(org=orgs.a.org_id)["requests"] + 1


def test_resetting_one_org_removes_its_batch_files_and_keeps_the_other_org_files(orgs):
    stored = {}
    for access, dataset in ((orgs.a, CALLERS), (orgs.b, BRAND_B_CALLERS)):
        headers = access.headers()
        base = f"{orgs.url}/data/foundation/import/batches"
        batch = requests.post(
            base, headers=headers, json={"datasetId": dataset, "inputFormat": {"format": "json"}}, timeout=5
        ).json()["id"]
        requests.put(
            f"{base}/{batch}/datasets/{dataset}/files/a.json",
            data=ndjson([caller(PHONE, "first")]),
            headers={**headers, "Content-Type": "application/octet-stream"},
            timeout=5,
        ).raise_for_status()
        stored[access.org_id] = orgs.emulator.space(access.org_id, "prod").batches[batch].files["a.json"].path

    requests.post(f"{orgs.url}/_admin/reset", params={"org": orgs.a.org_id}, timeout=5).raise_for_status()

    assert (stored[orgs.a.org_id].exists(), stored[orgs.b.org_id].exists()) == (False, True)
    assert [b["org"] for b in Admin(orgs.url).batches()] == [orgs.b.org_id]


# -- configuration: several files, the orgs form, clear errors ---------------------------------------------
def org_data(path: Path | None = None, **changes: Any) -> dict[str, Any]:
    data = json.loads(load_config(path).model_dump_json(by_alias=True, exclude_none=True))
    data.update(changes)
    return dict(data)


def test_the_orgs_form_and_two_files_serve_the_same_orgs(tmp_path):
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"orgs": [org_data(), org_data(BRAND_B_CONFIG)]}))

    from_one_file = load_orgs(both)
    from_two_files = load_orgs(DEFAULT_CONFIG, BRAND_B_CONFIG)

    assert from_one_file == from_two_files
    assert [o.org_id for o in from_one_file.orgs] == [
        "EMULATOR0000000000000000@AdobeOrg",
        "EMULATORB000000000000000@AdobeOrg",
    ]


def test_a_single_org_file_still_loads_as_one_org():
    config = load_orgs()

    assert config == EmulatorConfig(orgs=[load_config()])


@pytest.mark.parametrize(
    ("b_changes", "reason"),
    [
        ({"org_id": "EMULATOR0000000000000000@AdobeOrg"}, "org id EMULATOR0000000000000000@AdobeOrg"),
        ({"clients": [{"client_id": "emulator-client", "client_secret": "x"}]}, "client id emulator-client"),
        (
            {
                "inlets": [
                    {
                        "id": EVENTS_INLET,
                        "dataset_id": BRAND_B_CALL_EVENTS,
                        "flow_id": "d8a6f005-0000-4000-8000-0000000bc411",
                    }
                ]
            },
            f"inlet id {EVENTS_INLET}",
        ),
    ],
)
def test_an_id_defined_in_two_orgs_is_a_clear_config_error(tmp_path, b_changes, reason):
    b_file = tmp_path / "b.json"
    b_file.write_text(json.dumps(org_data(BRAND_B_CONFIG, **b_changes)))
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"orgs": [org_data(), org_data(BRAND_B_CONFIG, **b_changes)]}))
    default = DEFAULT_CONFIG

    with pytest.raises(ConfigError) as across_files:
        load_orgs(default, b_file)
    with pytest.raises(ConfigError) as in_one_file:
        load_orgs(both)

    assert str(across_files.value) == f"{reason} is defined in both {default} and {b_file}"
    assert str(in_one_file.value) == (
        f"sandbox file {both} is invalid: Value error, {reason} is defined in both orgs[0] and orgs[1]"
    )


def test_a_client_id_twice_in_one_org_and_two_global_fault_specs_are_config_errors(tmp_path):
    twice = tmp_path / "twice.json"
    client = {"client_id": "c", "client_secret": "s"}
    twice.write_text(json.dumps(org_data(clients=[client, client])))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({"orgs": [org_data()], "faults": {"rules": []}}))
    second.write_text(json.dumps({"orgs": [org_data(BRAND_B_CONFIG)], "faults": {"rules": []}}))

    with pytest.raises(ConfigError) as repeated:
        load_orgs(twice)
    with pytest.raises(ConfigError) as global_twice:
        load_orgs(first, second)
    with pytest.raises(ConfigError) as orgs_form:
        load_config(first)

    assert str(repeated.value) == f"client id c is defined twice in {twice}"
    assert str(global_twice.value) == f"faults on every request are set in both {first} and {second}"
    assert str(orgs_form.value) == f"sandbox file {first} holds several orgs: read it with load_orgs"


def test_the_cli_refuses_a_duplicate_org_with_one_line_and_exit_2(tmp_path, capsys):
    b_file = tmp_path / "b.json"
    b_file.write_text(json.dumps(org_data(BRAND_B_CONFIG, org_id="EMULATOR0000000000000000@AdobeOrg")))
    default = DEFAULT_CONFIG

    code = main(["--port", "0", "--config", str(default), "--config", str(b_file)])

    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err == (
        f"aep_emulator: org id EMULATOR0000000000000000@AdobeOrg is defined in both {default} and {b_file}\n"
    )


def test_the_cli_serves_the_orgs_of_several_files():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "local")}
    default = DEFAULT_CONFIG
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "aep_emulator", "--port", "0", "--config", str(default), str(BRAND_B_CONFIG)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        form = {"grant_type": "client_credentials", "scope": "openid"}
        tokens = [
            requests.post(
                f"{url}/ims/token/v3",
                data={
                    **form,
                    "client_id": org.clients[0].client_id,
                    "client_secret": org.clients[0].client_secret,
                },
                timeout=5,
            ).status_code
            for org in (load_config(default), load_config(BRAND_B_CONFIG))
        ]
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert line.endswith(
        f"sandbox files {default}, {BRAND_B_CONFIG}; "
        "orgs EMULATOR0000000000000000@AdobeOrg, EMULATORB000000000000000@AdobeOrg\n"
    )
    assert tokens == [200, 200]
