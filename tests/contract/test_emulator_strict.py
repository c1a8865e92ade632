"""Strict where AEP is: JSON without NaN, Infinity or duplicate keys; x-sandbox-name on every streaming
call; the small-file PUT's 200; a profile looked up by its XID alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from aep_emulator import Emulator, running
from tests.contract import models as m
from tests.integration.conftest import CALL_EVENTS, CALLERS_INLET, EVENTS_INLET, call_event, envelope, ndjson

PHONE = "+14155550144"
JSON = {"Content-Type": "application/json"}
STREAM = {**JSON, "x-sandbox-name": "prod"}


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with running() as emulator:
        yield emulator


def prefix(emu: Emulator, inlet: str = EVENTS_INLET) -> str:
    return f"inletId: [{inlet}] imsOrgId: [{emu.config.org_id}]"


def streamed(emu: Emulator) -> int:
    return int(requests.get(f"{emu.url}/_admin/streamed", timeout=5).json()["accepted"].get(CALL_EVENTS, 0))


def message_text(emu: Emulator, n: int, value: str) -> str:
    """One message as JSON text, with ``value`` (raw JSON text) as its satisfaction score."""
    message = envelope(emu, CALL_EVENTS, call_event(PHONE, n, _acme={"call": {"direction": "inbound"}}))
    text = json.dumps(message)
    return text.replace('"direction": "inbound"', f'"direction": "inbound", "satisfaction": {value}')


# -- Item 19: strict JSON ------------------------------------------------------------------------------------
def test_streaming_batch_refuses_each_message_with_a_non_json_constant_or_duplicate_key(emu):
    duplicate = message_text(emu, 5, "1").replace('"eventType":', '"eventType": "x", "eventType":')
    texts = [
        message_text(emu, 1, "4.5"),
        message_text(emu, 2, "NaN"),
        message_text(emu, 3, "Infinity"),
        message_text(emu, 4, "-Infinity"),
        duplicate,
        message_text(emu, 6, "3"),
    ]
    before = streamed(emu)

    answer = requests.post(
        f"{emu.url}/collection/batch/{EVENTS_INLET}",
        data='{"messages": [' + ", ".join(texts) + "]}",
        headers=STREAM,
        timeout=5,
    )

    assert answer.status_code == 207
    responses = m.StreamBatch.model_validate(answer.json()).model_dump(exclude_none=True)["responses"]
    bad = f"{prefix(emu)} Message is not valid JSON:"
    assert [set(r) for r in responses] == [{"xactionId"}] + [{"statusCode", "message"}] * 4 + [{"xactionId"}]
    assert [(r.get("statusCode"), r.get("message")) for r in responses[1:5]] == [
        (400, f"{bad} NaN is not allowed"),
        (400, f"{bad} Infinity is not allowed"),
        (400, f"{bad} -Infinity is not allowed"),
        (400, f"{bad} duplicate key 'eventType'"),
    ]
    assert streamed(emu) == before + 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"messages": [], "messages": []}', "duplicate key 'messages'"),
        ('{"messages": [], "extra": NaN}', "NaN is not allowed"),
        ('{"messages": Infinity}', "Infinity is not allowed"),
    ],
)
def test_streaming_batch_whole_body_with_invalid_json_is_400(emu, body, reason):
    answer = requests.post(f"{emu.url}/collection/batch/{EVENTS_INLET}", data=body, headers=STREAM, timeout=5)

    assert answer.status_code == 400
    assert answer.json() == {
        "type": "http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet",
        "status": 400,
        "title": "Invalid XDM Message Format",
        "report": {"message": f"{prefix(emu)} The request body is not valid JSON: {reason}"},
    }


@pytest.mark.parametrize(
    ("value", "reason"),
    [("NaN", "NaN is not allowed"), ("-Infinity", "-Infinity is not allowed")],
)
def test_streaming_single_message_with_a_non_json_constant_is_400(emu, value, reason):
    before = streamed(emu)

    answer = requests.post(
        f"{emu.url}/collection/{EVENTS_INLET}", data=message_text(emu, 7, value), headers=STREAM, timeout=5
    )

    assert answer.status_code == 400
    assert answer.json()["report"] == {"message": f"{prefix(emu)} Message is not valid JSON: {reason}"}
    assert streamed(emu) == before


@pytest.mark.parametrize(
    "body",
    [
        f'{{"datasetId": "{CALL_EVENTS}", "datasetId": "x", "inputFormat": {{"format": "json"}}}}',
        f'{{"datasetId": "{CALL_EVENTS}", "inputFormat": {{"format": "json"}}, "tags": {{"n": NaN}}}}',
    ],
)
def test_batch_creation_refuses_invalid_json(emu, auth, body):
    answer = requests.post(
        f"{emu.url}/data/foundation/import/batches", data=body, headers={**auth, **JSON}, timeout=5
    )

    assert answer.status_code == 400
    assert answer.json()["detail"] == "The request body is not valid JSON."


def test_profile_post_refuses_duplicate_keys(emu, auth):
    body = '{"schema": {"name": "_xdm.context.profile"}, "identities": [], "identities": []}'

    answer = requests.post(
        f"{emu.url}/data/core/ups/access/entities", data=body, headers={**auth, **JSON}, timeout=5
    )

    assert answer.status_code == 400
    assert answer.json() == {"message": "The request body is not valid JSON", "statusCode": "400"}


def test_admin_fault_spec_refuses_duplicate_keys(emu):
    answer = requests.post(
        f"{emu.url}/_admin/faults",
        data='{"rules": [], "rules": [{"path": "^/ims"}]}',
        headers=JSON,
        timeout=5,
    )

    assert answer.status_code == 400
    assert answer.json() == {"message": "bad fault spec: duplicate key 'rules'"}
    assert requests.get(f"{emu.url}/_admin/faults", timeout=5).json() == []


def _upload_and_complete(emu, auth, data: bytes, **format_extra: Any) -> dict[str, Any]:
    created = requests.post(
        f"{emu.url}/data/foundation/import/batches",
        headers=auth,
        json={
            "datasetId": CALL_EVENTS,
            "inputFormat": {"format": "json", **format_extra},
            "enableErrorDiagnostics": True,
        },
        timeout=5,
    ).json()["id"]
    base = f"{emu.url}/data/foundation/import/batches/{created}"
    put = requests.put(
        f"{base}/datasets/{CALL_EVENTS}/files/f.json",
        data=data,
        headers={**auth, "Content-Type": "application/octet-stream"},
        timeout=5,
    )
    put.raise_for_status()  # the status itself is pinned by the item 20 test
    assert requests.post(f"{base}?action=COMPLETE", headers=auth, timeout=5).status_code == 200
    url = f"{emu.url}/data/foundation/catalog/batches/{created}"
    requests.get(url, headers=auth, timeout=5)  # the first poll answers "staging"
    entry = dict(requests.get(url, headers=auth, timeout=5).json()[created])
    meta = f"{emu.url}/data/foundation/export/batches/{created}/meta"
    rows = requests.get(meta, headers=auth, params={"path": "row_errors/parsing_errors_0.json"}, timeout=5)
    entry["parsing"] = [json.loads(line) for line in rows.text.splitlines()] if rows.ok else []
    return entry


def test_batch_files_refuse_non_json_constants_and_duplicate_keys_row_by_row(emu, auth):
    good = json.dumps(call_event(PHONE, 8))
    nan = good.replace('"intent": "billing"', '"intent": "billing", "satisfaction": NaN')
    duplicate = good.replace('"intent": "billing"', '"intent": "billing", "intent": "sales"')

    entry = _upload_and_complete(emu, auth, f"{good}\n{nan}\n{duplicate}\n".encode())

    assert entry["status"] == "failed"
    assert (entry["metrics"]["inputRecordCount"], entry["metrics"]["failedRecordCount"]) == (3, 2)
    assert [row["_corrupt_record"] for row in entry["parsing"]] == [nan, duplicate]
    assert {row["_errors"][0]["code"] for row in entry["parsing"]} == {"1401"}


def test_a_multi_line_json_file_with_infinity_is_one_corrupt_file(emu, auth):
    text = json.dumps([call_event(PHONE, 9)]).replace('"intent": "billing"', '"satisfaction": Infinity')

    entry = _upload_and_complete(emu, auth, text.encode(), isMultiLineJson=True)

    assert entry["status"] == "failed"
    assert entry["metrics"]["failedRecordCount"] == 1
    assert [row["_corrupt_record"] for row in entry["parsing"]] == [text]


def test_a_unicode_line_separator_inside_a_string_does_not_split_an_ndjson_record(emu, auth):
    record = call_event(PHONE, 10)
    record["_acme"]["call"]["intent"] = "billing\u2028and more"

    entry = _upload_and_complete(emu, auth, (json.dumps(record, ensure_ascii=False) + "\n").encode())

    assert (entry["status"], entry["metrics"]["outputRecordCount"]) == ("success", 1)


# -- Item 6 (emulator side): x-sandbox-name on every streaming call --------------------------------------
MISSING_HEADER = {"error_code": "400003", "message": "Missing header"}


@pytest.mark.parametrize("path", [f"/collection/batch/{EVENTS_INLET}", f"/collection/{EVENTS_INLET}"])
def test_streaming_without_x_sandbox_name_is_400(emu, path):
    message = envelope(emu, CALL_EVENTS, call_event(PHONE, 11))
    body = {"messages": [message]} if "/batch/" in path else message
    before = streamed(emu)

    answer = requests.post(f"{emu.url}{path}", json=body, timeout=5)

    assert (answer.status_code, answer.json()) == (400, MISSING_HEADER)
    assert m.GatewayError.model_validate(answer.json()).error_code == "400003"
    assert streamed(emu) == before


def test_authenticated_inlet_without_x_sandbox_name_is_400(emu, auth):
    headers = {"Authorization": auth["Authorization"]}

    answer = requests.post(
        f"{emu.url}/collection/batch/{CALLERS_INLET}", json={"messages": []}, headers=headers, timeout=5
    )
    with_sandbox = requests.post(
        f"{emu.url}/collection/batch/{CALLERS_INLET}",
        json={"messages": []},
        headers={**headers, "x-sandbox-name": "prod"},
        timeout=5,
    )

    assert (answer.status_code, answer.json()) == (400, MISSING_HEADER)
    assert with_sandbox.status_code == 207


def test_an_empty_x_sandbox_name_is_missing(emu):
    answer = requests.post(
        f"{emu.url}/collection/batch/{EVENTS_INLET}",
        json={"messages": []},
        headers={"x-sandbox-name": ""},
        timeout=5,
    )

    assert (answer.status_code, answer.json()) == (400, MISSING_HEADER)


# -- Item 20: small-file PUT answers 200; profile lookup by XID -------------------------------------------
def test_small_file_put_answers_200_for_a_new_and_a_replaced_file(emu, auth):
    created = requests.post(
        f"{emu.url}/data/foundation/import/batches",
        headers=auth,
        json={"datasetId": CALL_EVENTS, "inputFormat": {"format": "json"}},
        timeout=5,
    ).json()["id"]
    url = f"{emu.url}/data/foundation/import/batches/{created}/datasets/{CALL_EVENTS}/files/a.json"
    octet = {**auth, "Content-Type": "application/octet-stream"}

    first = requests.put(url, data=ndjson([call_event(PHONE, 12)]), headers=octet, timeout=5)
    again = requests.put(url, data=ndjson([call_event(PHONE, 13)]), headers=octet, timeout=5)

    assert [(a.status_code, a.content) for a in (first, again)] == [(200, b""), (200, b"")]


@pytest.fixture(scope="module")
def xid(emu: Emulator, auth: dict[str, str]) -> str:
    requests.post(
        f"{emu.url}/collection/{EVENTS_INLET}",
        json=envelope(emu, CALL_EVENTS, call_event(PHONE, 14)),
        headers=STREAM,
        timeout=5,
    ).raise_for_status()
    found = requests.get(
        f"{emu.url}/data/core/ups/access/entities",
        headers=auth,
        params={"schema.name": "_xdm.context.profile", "entityId": PHONE, "entityIdNS": "Phone"},
        timeout=5,
    )
    [key] = found.json()
    return str(key)


def test_profile_get_by_xid_without_a_namespace(emu, auth, xid):
    url = f"{emu.url}/data/core/ups/access/entities"

    answer = requests.get(
        url, headers=auth, params={"schema.name": "_xdm.context.profile", "entityId": xid}, timeout=5
    )

    assert answer.status_code == 200
    [(key, entry)] = answer.json().items()
    assert key == xid
    assert m.ProfileEntity.model_validate(entry).entityId == xid
    assert entry["entity"]["identityMap"] == {"Phone": [{"id": PHONE}]}


def test_profile_post_by_xid_without_a_namespace(emu, auth, xid):
    answer = requests.post(
        f"{emu.url}/data/core/ups/access/entities",
        headers=auth,
        json={"schema": {"name": "_xdm.context.profile"}, "identities": [{"entityId": xid}]},
        timeout=5,
    )

    assert answer.status_code == 200
    assert list(answer.json()) == [xid]
    assert answer.json()[xid]["entity"]["identityMap"] == {"Phone": [{"id": PHONE}]}


def test_an_unknown_xid_is_404_and_a_non_xid_without_namespace_is_400(emu, auth, xid):
    url = f"{emu.url}/data/core/ups/access/entities"
    params = {"schema.name": "_xdm.context.profile"}

    unknown = requests.get(url, headers=auth, params={**params, "entityId": "A" * 30}, timeout=5)
    phone = requests.get(url, headers=auth, params={**params, "entityId": PHONE}, timeout=5)

    assert (unknown.status_code, unknown.json()) == (
        404,
        {"message": "XDM objects not found", "statusCode": "404"},
    )
    assert (phone.status_code, phone.json()) == (
        400,
        {"message": "entityIdNS is required unless entityId is an XID", "statusCode": "400"},
    )


def test_experience_events_by_xid_without_a_namespace(emu, auth, xid):
    params = {
        "schema.name": "_xdm.context.experienceevent",
        "relatedSchema.name": "_xdm.context.profile",
        "relatedEntityId": xid,
    }
    url = f"{emu.url}/data/core/ups/access/entities"

    answer = requests.get(url, headers=auth, params=params, timeout=5)
    phone = requests.get(url, headers=auth, params={**params, "relatedEntityId": PHONE}, timeout=5)

    assert answer.status_code == 200
    children = answer.json()["children"]
    assert f"call-{PHONE}-14" in [child["entityId"] for child in children]
    assert {child["relatedEntityId"] for child in children} == {xid}
    assert (phone.status_code, phone.json()) == (
        400,
        {"message": "relatedEntityIdNS is required unless relatedEntityId is an XID", "statusCode": "400"},
    )
