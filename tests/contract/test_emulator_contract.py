"""The emulator's answers checked against the documented contracts (status codes, required fields, shapes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from aep_emulator import running
from tests.contract import models as m
from tests.integration.conftest import CALL_EVENTS, CALLERS_INLET, EVENTS_INLET, call_event, envelope, ndjson

PHONE = "+14155550111"
SANDBOX = {"x-sandbox-name": "prod"}  # every streaming call carries it (streaming-ingestion.yaml)


@pytest.fixture(scope="module")
def emu():
    with running() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def headers(emu):
    client = emu.config.clients[0]
    form = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "scope": "openid,AdobeID",
    }
    answer = requests.post(f"{emu.url}/ims/token/v3", data=form, timeout=5)
    token = m.ImsToken.model_validate(answer.json())
    return {
        "Authorization": f"Bearer {token.access_token}",
        "x-api-key": client.client_id,
        "x-gw-ims-org-id": emu.config.org_id,
        "x-sandbox-name": "prod",
    }


def create_batch(emu, headers, **extra) -> dict[str, Any]:
    body = {"datasetId": CALL_EVENTS, "inputFormat": {"format": "json"}, **extra}
    answer = requests.post(f"{emu.url}/data/foundation/import/batches", headers=headers, json=body, timeout=5)
    assert answer.status_code == 201
    return dict(answer.json())


def test_ims_token_and_error_shapes(emu, headers):
    bad = requests.post(
        f"{emu.url}/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": "nobody",
            "client_secret": "x",
            "scope": "openid",
        },
        timeout=5,
    )
    assert bad.status_code == 400
    assert m.ImsError.model_validate(bad.json()).error == "invalid_client"


@pytest.mark.parametrize(
    ("drop", "change", "status", "code"),
    [
        ("Authorization", None, 403, "403010"),
        (None, ("Authorization", "Bearer nope"), 401, "401013"),
        ("x-api-key", None, 403, "403000"),
        (None, ("x-api-key", "other"), 403, "403003"),
        ("x-gw-ims-org-id", None, 400, "400003"),
    ],
)
def test_gateway_errors(emu, headers, drop, change, status, code):
    sent = {k: v for k, v in headers.items() if k != drop}
    if change:
        sent[change[0]] = change[1]

    answer = requests.get(f"{emu.url}/data/core/idnamespace/identities", headers=sent, timeout=5)

    assert answer.status_code == status
    assert m.GatewayError.model_validate(answer.json()).error_code == code


def test_batch_lifecycle_contract(emu, headers):
    created = requests.post(
        f"{emu.url}/data/foundation/import/batches",
        headers=headers,
        timeout=5,
        json={"datasetId": CALL_EVENTS, "inputFormat": {"format": "json"}, "enableErrorDiagnostics": True},
    )
    assert created.status_code == 201
    batch = m.BatchCreated.model_validate(created.json())
    file_url = f"{emu.url}/data/foundation/import/batches/{batch.id}/datasets/{CALL_EVENTS}/files/a.json"

    wrong_type = requests.put(
        file_url, headers={**headers, "Content-Type": "application/json"}, data=b"{}", timeout=5
    )
    put = requests.put(
        file_url,
        headers={**headers, "Content-Type": "application/octet-stream"},
        data=ndjson([call_event(PHONE, 1)]),
        timeout=5,
    )
    done = requests.post(
        f"{emu.url}/data/foundation/import/batches/{batch.id}?action=COMPLETE", headers=headers, timeout=5
    )
    again = requests.post(
        f"{emu.url}/data/foundation/import/batches/{batch.id}?action=COMPLETE", headers=headers, timeout=5
    )

    assert wrong_type.status_code == 415
    assert put.status_code == 200
    assert (done.status_code, again.status_code) == (200, 200)
    statuses = []
    for _ in range(3):
        answer = requests.get(
            f"{emu.url}/data/foundation/catalog/batches/{batch.id}", headers=headers, timeout=5
        )
        assert answer.status_code == 200
        assert list(answer.json()) == [batch.id]
        statuses.append(m.CatalogBatch.model_validate({"id": batch.id, **answer.json()[batch.id]}).status)
    assert statuses == ["staging", "success", "success"]
    missing = requests.get(f"{emu.url}/data/foundation/catalog/batches/nope", headers=headers, timeout=5)
    assert missing.status_code == 404
    m.Problem.model_validate(missing.json())


def test_large_file_overlap_or_gap_is_400_at_completion(emu, headers):
    created = create_batch(emu, headers)
    url = f"{emu.url}/data/foundation/import/batches/{created['id']}/datasets/{CALL_EVENTS}/files/big.json"
    octet = {**headers, "Content-Type": "application/octet-stream"}
    assert requests.post(f"{url}?action=INITIALIZE", headers=headers, timeout=5).status_code == 201
    requests.patch(url, headers={**octet, "Content-Range": "bytes 0-9/30"}, data=b"a" * 10, timeout=5)
    requests.patch(url, headers={**octet, "Content-Range": "bytes 20-29/30"}, data=b"c" * 10, timeout=5)

    head = requests.head(url, headers=headers, timeout=5)
    gap = requests.post(f"{url}?action=COMPLETE", headers=headers, timeout=5)

    assert head.headers["Range"] == "bytes=0-9"
    assert gap.status_code == 400
    assert "missing" in m.Problem.model_validate(gap.json()).model_dump()["detail"]


def test_url_over_2000_chars_is_414(emu, headers):
    answer = requests.get(
        f"{emu.url}/data/foundation/catalog/batches/{'x' * 2100}", headers=headers, timeout=5
    )

    assert answer.status_code == 414


def test_dataset_lookup_contract(emu, headers):
    answer = requests.get(
        f"{emu.url}/data/foundation/catalog/dataSets/{CALL_EVENTS}", headers=headers, timeout=5
    )

    dataset = m.CatalogDataset.model_validate(answer.json()[CALL_EVENTS])
    assert dataset.schemaRef.id.startswith("https://ns.adobe.com/acme/schemas/")


def test_streaming_contracts(emu, headers):
    good = envelope(emu, CALL_EVENTS, call_event(PHONE, 2))
    multi = requests.post(
        f"{emu.url}/collection/batch/{EVENTS_INLET}",
        json={"messages": [good, {"x": 1}]},
        headers=SANDBOX,
        timeout=5,
    )
    single = requests.post(f"{emu.url}/collection/{EVENTS_INLET}", json=good, headers=SANDBOX, timeout=5)
    too_big = requests.post(
        f"{emu.url}/collection/batch/{EVENTS_INLET}",
        timeout=5,
        data=json.dumps({"messages": [{"pad": "x" * 1_000_001}]}),
        headers={"Content-Type": "application/json", **SANDBOX},
    )
    no_auth = requests.post(
        f"{emu.url}/collection/batch/{CALLERS_INLET}", json={"messages": []}, headers=SANDBOX, timeout=5
    )
    bad_auth = requests.post(
        f"{emu.url}/collection/batch/{CALLERS_INLET}",
        json={"messages": []},
        timeout=5,
        headers={"Authorization": "Bearer expired", **SANDBOX},
    )

    assert multi.status_code == 207
    body = m.StreamBatch.model_validate(multi.json())
    assert body.responses[0].xactionId == f"{body.batchId}:0"
    assert (body.responses[1].statusCode, body.responses[1].xactionId) == (400, None)
    assert single.status_code == 200
    assert m.StreamSingle.model_validate(single.json()).syncValidation == {"skipped": True}
    assert too_big.status_code == 413
    assert (no_auth.status_code, no_auth.json()["status"]) == (401, "401")
    assert bad_auth.status_code == 403


def test_profile_contracts(emu, headers):
    requests.post(
        f"{emu.url}/collection/{EVENTS_INLET}",
        json=envelope(emu, CALL_EVENTS, call_event(PHONE, 3)),
        headers=SANDBOX,
        timeout=5,
    )
    url = f"{emu.url}/data/core/ups/access/entities"
    params = {"schema.name": "_xdm.context.profile", "entityId": PHONE, "entityIdNS": "Phone"}

    found = requests.get(url, headers=headers, params=params, timeout=5)
    unknown = requests.get(url, headers=headers, params={**params, "entityId": "+10000000000"}, timeout=5)
    events = requests.get(
        url,
        headers=headers,
        timeout=5,
        params={
            "schema.name": "_xdm.context.experienceevent",
            "relatedSchema.name": "_xdm.context.profile",
            "relatedEntityId": PHONE,
            "relatedEntityIdNS": "Phone",
        },
    )
    many = requests.post(
        url,
        headers=headers,
        timeout=5,
        json={
            "schema": {"name": "_xdm.context.profile"},
            "identities": [{"entityId": PHONE, "entityIdNS": {"code": "Phone"}}],
        },
    )

    assert found.status_code == 200
    [(xid, entity)] = found.json().items()
    assert m.ProfileEntity.model_validate(entity).entityId == xid
    assert unknown.status_code == 404
    assert m.ProfileError.model_validate(unknown.json()).statusCode == "404"
    page = m.EventsPage.model_validate(events.json())
    assert f"call-{PHONE}-3" in [child["entityId"] for child in page.children]
    assert [c["timestamp"] for c in page.children] == sorted(c["timestamp"] for c in page.children)
    assert list(many.json()) == [xid]


def test_namespaces_and_row_error_listing_contracts(emu, headers):
    namespaces = requests.get(
        f"{emu.url}/data/core/idnamespace/identities", headers=headers, timeout=5
    ).json()
    created = create_batch(emu, headers)
    listing = requests.get(
        f"{emu.url}/data/foundation/export/batches/{created['id']}/meta",
        headers=headers,
        params={"path": "row_errors"},
        timeout=5,
    )

    assert {m.Namespace.model_validate(n).code for n in namespaces} >= {"ECID", "Email", "Phone"}
    assert m.RowErrorListing.model_validate(listing.json()).data == []


def test_abort_and_batch_limits(emu, headers):
    created = create_batch(emu, headers)
    base = f"{emu.url}/data/foundation/import/batches/{created['id']}"

    aborted = requests.post(f"{base}?action=ABORT", headers=headers, timeout=5)
    status = requests.get(
        f"{emu.url}/data/foundation/catalog/batches/{created['id']}", headers=headers, timeout=5
    )
    late_put = requests.put(
        f"{base}/datasets/{CALL_EVENTS}/files/x.json",
        data=b"{}",
        timeout=5,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )

    assert aborted.status_code == 200
    assert (
        m.CatalogBatch.model_validate({"id": created["id"], **status.json()[created["id"]]}).status
        == "aborted"
    )
    assert late_put.status_code == 400


def test_sync_validation_failure_shape(emu, headers):
    bad = call_event(PHONE, 4)
    bad["_acme"]["call"]["durationSeconds"] = "long"

    answer = requests.post(
        f"{emu.url}/collection/{EVENTS_INLET}?syncValidation=true",
        json=envelope(emu, CALL_EVENTS, bad),
        headers=SANDBOX,
        timeout=5,
    )

    assert answer.status_code == 400
    body = m.Problem.model_validate(answer.json()).model_dump()
    violations = body["report"]["cause"]["_streamingValidation"][0]
    assert violations["message"] == "1 schema violations found"
    assert (
        violations["causingExceptions"][0]["message"]
        == "Field _acme.call.durationSeconds must be of type integer."
    )


def test_profile_422_shape_over_fifty_linked_identities(emu, headers):
    record = call_event("+14155550122", 5)
    record["identityMap"]["ECID"] = [{"id": f"ecid-{n}"} for n in range(51)]
    requests.post(
        f"{emu.url}/collection/{EVENTS_INLET}",
        json=envelope(emu, CALL_EVENTS, record),
        headers=SANDBOX,
        timeout=5,
    ).raise_for_status()

    answer = requests.get(
        f"{emu.url}/data/core/ups/access/entities",
        headers=headers,
        timeout=5,
        params={"schema.name": "_xdm.context.profile", "entityId": "+14155550122", "entityIdNS": "Phone"},
    )

    assert answer.status_code == 422
    error = m.ProfileError.model_validate(answer.json())
    assert error.statusCode == "422"
    assert "Too many related identities" in answer.json()["cause"]


def test_row_error_file_shape(emu, headers):
    created = create_batch(emu, headers, enableErrorDiagnostics=True)
    base = f"{emu.url}/data/foundation/import/batches/{created['id']}"
    requests.put(
        f"{base}/datasets/{CALL_EVENTS}/files/bad.json",
        data=b"{broken\n",
        timeout=5,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    requests.post(f"{base}?action=COMPLETE", headers=headers, timeout=5)
    meta = f"{emu.url}/data/foundation/export/batches/{created['id']}/meta"

    listing = m.RowErrorListing.model_validate(
        requests.get(meta, headers=headers, params={"path": "row_errors"}, timeout=5).json()
    )
    name = listing.data[0]["name"]
    lines = requests.get(
        meta, headers=headers, params={"path": f"row_errors/{name}"}, timeout=5
    ).text.splitlines()

    assert name == "parsing_errors_0.json"
    row = json.loads(lines[0])
    assert set(row) == {"_corrupt_record", "_errors", "_filename"}
    assert row["_errors"][0]["code"] == "1401"


def test_faults_can_come_from_the_sandbox_file():
    from aep_emulator import load_config

    config = load_config().model_copy(
        update={"faults": {"rules": [{"path": "^/ims", "status": 503, "first": 1}]}}
    )
    with running(config) as emulator:
        form = {
            "grant_type": "client_credentials",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "scope": "openid",
        }
        first = requests.post(f"{emulator.url}/ims/token/v3", data=form, timeout=5)
        second = requests.post(f"{emulator.url}/ims/token/v3", data=form, timeout=5)

    assert (first.status_code, second.status_code) == (503, 200)


def test_the_emulator_never_imports_the_client():
    import re
    from pathlib import Path

    import aep_emulator

    package = Path(aep_emulator.__file__).parent
    offenders = [
        str(path.name)
        for path in package.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+aep(\.|\s|$)", path.read_text(), re.MULTILINE)
    ]

    assert offenders == []
