"""The emulator checks records against the schema it holds, as AEP does, per channel (Adobe's "Data
quality" page): streaming checks types, required fields, enums, ranges, lengths, patterns and formats (a
failure lands in the dataset's failed batch with the path and reason); batch checks the same but neither
patterns nor formats (a failure is a row error). Each rule is tried on a schema from the sandbox file and on
one made through the Schema Registry, Catalog and Flow Service APIs."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from aep_emulator import Emulator, load_config, running
from aep_emulator.config import SandboxConfig
from tests.integration.conftest import CALL_EVENTS, EVENTS_INLET, call_event, envelope, ndjson

PHONE = "+14155550166"
REGISTRY = "/data/foundation/schemaregistry"
FLOW = "/data/foundation/flowservice"
FULL = "application/vnd.adobe.xed-full+json;version=1"
EVENT = "https://ns.adobe.com/xdm/context/experienceevent"
IDENTITY_MAP = "https://ns.adobe.com/xdm/context/identitymap"
HTTP_API = {"id": "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb", "version": "1.0"}
DATA_LAKE = {"id": "c604ff05-7f1a-43c0-8e18-33bf874cb11c", "version": "1.0"}
FLOW_SPEC = {"id": "d8a6f005-7eaf-4153-983e-e8574508b877", "version": "1.0"}
_ids = itertools.count(1)

# The call fields, with the constraints XDM lets a field group declare (the same in both schemas).
CALL = {
    "direction": {"type": "string", "enum": ["inbound", "outbound"]},
    "durationSeconds": {"type": "integer", "minimum": 0},
    "queue": {"type": "string", "maxLength": 8},
    "agentId": {"type": "string", "pattern": "^A[0-9]+$"},
    "callbackEmail": {"type": "string", "format": "email"},
    "intent": {"type": "string"},
}


def sandbox_file() -> SandboxConfig:
    """The default sandbox file with the call events' fields written with their constraints."""
    raw = json.loads(load_config().model_dump_json(by_alias=True, exclude_none=True))
    for dataset in raw["datasets"]:
        if dataset["id"] == CALL_EVENTS:
            dataset["fields"].update({f"_acme.call.{name}": spec for name, spec in CALL.items()})
    return SandboxConfig.model_validate(raw)


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with running(sandbox_file()) as emulator:
        yield emulator


def post(emu: Emulator, auth: dict[str, str], path: str, body: Any) -> requests.Response:
    headers = {**auth, "Content-Type": "application/json"}
    return requests.post(emu.url + path, headers=headers, json=body, timeout=5)


def created(answer: requests.Response) -> str:
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def made_by_setup(emu: Emulator, auth: dict[str, str]) -> dict[str, str]:
    """A field group with the call fields, an ExperienceEvent schema, its dataset and a live inlet."""
    n = next(_ids)
    call = {"type": "object", "properties": CALL, "required": ["direction"]}
    group = post(
        emu,
        auth,
        f"{REGISTRY}/tenant/fieldgroups",
        {
            "title": f"Rules Call {n}",
            "description": "call fields",
            "type": "object",
            "meta:intendedToExtend": [EVENT],
            "definitions": {
                "call": {"properties": {"_acme": {"type": "object", "properties": {"call": call}}}}
            },
        },
    )
    assert group.status_code == 201, group.text
    schema = post(
        emu,
        auth,
        f"{REGISTRY}/tenant/schemas",
        {
            "title": f"Rules Events {n}",
            "description": "call events",
            "type": "object",
            "allOf": [{"$ref": EVENT}, {"$ref": IDENTITY_MAP}, {"$ref": group.json()["$id"]}],
        },
    ).json()
    dataset = post(
        emu,
        auth,
        "/data/foundation/catalog/dataSets",
        {"name": f"Rules Events {n}", "schemaRef": {"id": schema["$id"], "contentType": FULL}},
    )
    assert dataset.status_code == 201, dataset.text
    dataset_id = dataset.json()[0].removeprefix("@/dataSets/")
    name = f"Rules stream {n}"
    params = {"dataType": "xdm", "authenticationRequired": False, "name": name}
    base = created(
        post(
            emu,
            auth,
            f"{FLOW}/connections",
            {"name": name, "connectionSpec": HTTP_API, "auth": {"specName": "Streaming", "params": params}},
        )
    )
    source = created(
        post(
            emu,
            auth,
            f"{FLOW}/sourceConnections",
            {"name": "s", "baseConnectionId": base, "connectionSpec": HTTP_API},
        )
    )
    target = {
        "name": "t",
        "data": {"schema": {"id": schema["$id"], "version": FULL}},
        "params": {"dataSetId": dataset_id},
        "connectionSpec": DATA_LAKE,
    }
    target_id = created(post(emu, auth, f"{FLOW}/targetConnections", target))
    flow = {
        "name": "f",
        "flowSpec": FLOW_SPEC,
        "sourceConnectionIds": [source],
        "targetConnectionIds": [target_id],
    }
    created(post(emu, auth, f"{FLOW}/flows", flow))
    inlet = requests.get(f"{emu.url}{FLOW}/connections/{base}", headers=auth, timeout=5).json()
    return {
        "schema": schema["$id"],
        "dataset": dataset_id,
        "inlet": inlet["items"][0]["auth"]["params"]["inletId"],
    }


@pytest.fixture(scope="module", params=["sandbox file", "setup"])
def target(request: pytest.FixtureRequest, emu: Emulator, auth: dict[str, str]) -> dict[str, str]:
    """Where the records go: the sandbox file's call events, or a dataset made through the APIs."""
    if request.param == "sandbox file":
        dataset = emu.config.dataset(CALL_EVENTS)
        assert dataset is not None
        return {"schema": dataset.schema_ref, "dataset": CALL_EVENTS, "inlet": EVENTS_INLET}
    return made_by_setup(emu, auth)


def record(n: int, change: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    made = call_event(PHONE, n)
    made["_acme"]["call"].update(queue="billing", agentId="A17", callbackEmail="caller@example.com")
    if change is not None:
        change(made)
    return made


def setter(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda r: r["_acme"]["call"].__setitem__(key, value)


# name -> (how the record breaks, the streaming keyword, the batch keyword (None: batch accepts it), path)
CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str, str | None, str]] = {
    "enum": (setter("direction", "sideways"), "enum", "enum", "_acme.call.direction"),
    "minimum": (setter("durationSeconds", -1), "minimum", "minimum", "_acme.call.durationSeconds"),
    "maxLength": (setter("queue", "x" * 9), "maxLength", "maxLength", "_acme.call.queue"),
    "type": (setter("durationSeconds", "sixty"), "type", "type", "_acme.call.durationSeconds"),
    "integer, not 1.0": (setter("durationSeconds", 60.0), "type", "type", "_acme.call.durationSeconds"),
    "required": (
        lambda r: r["_acme"]["call"].pop("direction"),
        "required",
        "required",
        "_acme.call.direction",
    ),
    "unknown field": (
        setter("nickname", "x"),
        "additionalProperties",
        "additionalProperties",
        "_acme.call.nickname",
    ),
    "pattern": (setter("agentId", "B17"), "pattern", None, "_acme.call.agentId"),
    "email": (setter("callbackEmail", "caller-at-example"), "format", None, "_acme.call.callbackEmail"),
    "email domain": (setter("callbackEmail", "caller@example"), "format", None, "_acme.call.callbackEmail"),
    "date-time": (
        lambda r: r.__setitem__("timestamp", "2026-02-30T10:00:00Z"),
        "format",
        "format",
        "timestamp",
    ),
}


def broken() -> dict[str, dict[str, Any]]:
    """One record per case (keyed by its ``_id``), numbered apart from the valid ones."""
    return {name: record(100 + i, change) for i, (name, (change, *_)) in enumerate(CASES.items())}


def message(target: dict[str, str], entity: dict[str, Any], emu: Emulator) -> dict[str, Any]:
    if target["dataset"] == CALL_EVENTS:
        return envelope(emu, CALL_EVENTS, entity)
    ref = {"id": target["schema"], "contentType": FULL}
    return {"header": {"schemaRef": ref, "datasetId": target["dataset"]}, "body": {"xdmEntity": entity}}


def failed_lines(emu: Emulator, auth: dict[str, str], dataset: str, after: int) -> list[dict[str, Any]]:
    listed = requests.get(
        f"{emu.url}/data/foundation/catalog/batches",
        headers=auth,
        params={"dataSet": dataset, "status": "failed", "createdAfter": str(after)},
        timeout=5,
    ).json()
    lines: list[dict[str, Any]] = []
    for batch_id in listed:
        base = f"{emu.url}/data/foundation/export/batches/{batch_id}/failed"
        files = requests.get(base, headers=auth, timeout=5).json()["data"]
        for entry in files[1:]:  # after _SUCCESS
            text = requests.get(base, headers=auth, params={"path": entry["name"]}, timeout=5).text
            lines += [json.loads(line) for line in text.splitlines()]
    return lines


def test_streamed_records_breaking_a_rule_land_in_the_failed_batch_with_path_and_reason(emu, auth, target):
    # Given valid records and one record breaking each rule, streamed in one request
    known = requests.get(
        f"{emu.url}/data/foundation/catalog/batches",
        headers=auth,
        params={"dataSet": target["dataset"]},
        timeout=5,
    ).json()
    start = max((b["created"] for b in known.values()), default=0)
    bad = broken()
    good = [record(1), record(2)]
    messages = [message(target, r, emu) for r in [good[0], *bad.values(), good[1]]]

    # When they are sent to the dataset's inlet
    answer = requests.post(
        f"{emu.url}/collection/batch/{target['inlet']}",
        json={"messages": messages},
        headers={"x-sandbox-name": "prod"},
        timeout=5,
    )

    # Then all are acknowledged, and each broken one is in the failed batch with its keyword, path and reason
    assert answer.status_code == 207
    assert all("xactionId" in r for r in answer.json()["responses"])
    lines = failed_lines(emu, auth, target["dataset"], start)
    refused = {line["body"]["xdmEntity"]["_id"]: line["_errors"]["_streamingValidation"] for line in lines}
    assert set(refused) == {r["_id"] for r in bad.values()}
    for name, entity in bad.items():
        _, keyword, _, path = CASES[name]
        first = refused[entity["_id"]][0]
        assert (name, first["keyword"]) == (name, keyword)
        assert first["pointerToViolation"] == "#/" + path.replace(".", "/")
        assert path in first["message"]


def test_batch_rows_breaking_a_rule_are_row_errors_but_formats_and_patterns_pass(emu, auth, target):
    # Given a file with valid records and one breaking each rule
    bad = broken()
    rows = [record(1), *bad.values(), record(2)]
    body = {
        "datasetId": target["dataset"],
        "inputFormat": {"format": "json"},
        "enableErrorDiagnostics": True,
        "partialIngestionPercent": 100,
    }
    made = requests.post(f"{emu.url}/data/foundation/import/batches", headers=auth, json=body, timeout=5)
    assert made.status_code == 201, made.text
    batch_id = made.json()["id"]
    base = f"{emu.url}/data/foundation/import/batches/{batch_id}"

    # When it is uploaded and the batch completed
    put = requests.put(
        f"{base}/datasets/{target['dataset']}/files/calls.json",
        data=ndjson(rows),
        headers={**auth, "Content-Type": "application/octet-stream"},
        timeout=5,
    )
    assert put.status_code == 200
    assert requests.post(f"{base}?action=COMPLETE", headers=auth, timeout=5).status_code == 200

    # Then the rows breaking a batch rule are row errors naming the path; patterns and formats pass
    meta = f"{emu.url}/data/foundation/export/batches/{batch_id}/meta"
    errors = requests.get(
        meta, headers=auth, params={"path": "row_errors/conversion_errors_0.json"}, timeout=5
    )
    assert errors.status_code == 200, errors.text
    refused = {
        json.loads(row["_corrupt_record"])["_id"]: row["_errors"]
        for row in map(json.loads, errors.text.splitlines())
    }
    expected = {entity["_id"]: name for name, entity in bad.items() if CASES[name][2] is not None}
    assert set(refused) == set(expected)
    for record_id, name in expected.items():
        assert CASES[name][3] in refused[record_id][0]["message"], name
    url = f"{emu.url}/data/foundation/catalog/batches/{batch_id}"
    batch = requests.get(url, headers=auth, timeout=5).json()
    if batch[batch_id]["status"] == "staging":  # the sandbox file's batch_status_polls
        batch = requests.get(url, headers=auth, timeout=5).json()
    assert batch[batch_id]["status"] == "success"
    assert batch[batch_id]["metrics"]["outputRecordCount"] == len(rows) - len(expected)


def test_a_patched_field_group_changes_the_rules_at_once(emu, auth):
    # Given a setup-made dataset whose direction enum is widened by a JSON Patch of its field group
    made = made_by_setup(emu, auth)
    schema = requests.get(
        f"{emu.url}{REGISTRY}/tenant/schemas/{quote(made['schema'], safe='')}",
        headers={**auth, "Accept": "application/vnd.adobe.xed+json;version=1"},
        timeout=5,
    ).json()
    group_id = schema["allOf"][2]["$ref"]
    patch = [
        {
            "op": "replace",
            "path": "/definitions/call/properties/_acme/properties/call/properties/direction/enum",
            "value": ["inbound", "outbound", "transfer"],
        }
    ]
    patched = requests.patch(
        f"{emu.url}{REGISTRY}/tenant/fieldgroups/{quote(group_id, safe='')}",
        headers={**auth, "Content-Type": "application/json"},
        json=patch,
        timeout=5,
    )
    assert patched.status_code == 200, patched.text

    # When a record with the new value and one with a value still outside are sent with syncValidation
    def sync(direction: str) -> requests.Response:
        entity = record(300 + len(direction), setter("direction", direction))
        return requests.post(
            f"{emu.url}/collection/{made['inlet']}?syncValidation=true",
            json=message(made, entity, emu),
            headers={"x-sandbox-name": "prod"},
            timeout=5,
        )

    accepted, refused = sync("transfer"), sync("sideways")

    # Then the first passes and the second is refused with the enum's keyword and the path
    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 400
    [cause] = refused.json()["report"]["cause"]["_streamingValidation"][0]["causingExceptions"]
    assert cause["keyword"] == "enum"
    assert cause["message"] == "Field _acme.call.direction must be one of inbound, outbound, transfer."


def test_a_sandbox_file_field_constraint_is_served_by_the_registry(emu, auth):
    # Given the sandbox file's call events, whose direction is written with its enum
    dataset = emu.config.dataset(CALL_EVENTS)
    assert dataset is not None

    # When its schema is read as validators read it
    answer = requests.get(
        f"{emu.url}{REGISTRY}/tenant/schemas/{quote(dataset.schema_ref, safe='')}",
        headers={**auth, "Accept": FULL},
        timeout=5,
    )

    # Then the constraints are there, as setup would have made them
    call = answer.json()["properties"]["_acme"]["properties"]["call"]["properties"]
    assert {name: call[name] for name in CALL} == CALL
