"""The emulator's Flow Service for HTTP API streaming against flow-service.yaml and the HTTP API tutorial:
connection specs, base connection (its inlet id and URL), source and target connections, dataflows, the
lists and their filters, the documented error codes, and the inlet a dataflow makes live."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote

import pytest
import requests

from aep_emulator import running
from tests.integration.conftest import CALL_EVENTS

FLOW = "/data/foundation/flowservice"
REGISTRY = "/data/foundation/schemaregistry"
HTTP_API = {"id": "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb", "version": "1.0"}
DATA_LAKE = {"id": "c604ff05-7f1a-43c0-8e18-33bf874cb11c", "version": "1.0"}
FLOW_SPEC = {"id": "d8a6f005-7eaf-4153-983e-e8574508b877", "version": "1.0"}
EVENT = "https://ns.adobe.com/xdm/context/experienceevent"
IDENTITY_MAP = "https://ns.adobe.com/xdm/context/identitymap"
FULL = "application/vnd.adobe.xed-full+json;version=1"
_n = itertools.count(1)


@pytest.fixture(scope="module")
def emu():
    with running() as emulator:
        yield emulator


def post(emu, auth, path: str, body: Any) -> requests.Response:
    return requests.post(
        emu.url + path, headers={**auth, "Content-Type": "application/json"}, json=body, timeout=5
    )


def get(emu, auth, path: str, **params: Any) -> requests.Response:
    return requests.get(emu.url + path, headers=auth, params=params, timeout=5)


def created_id(answer: requests.Response) -> str:
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"id", "etag"}
    return str(body["id"])


def event_dataset(emu, auth) -> tuple[str, str]:
    """An ExperienceEvent schema (tenant ``call.queue``, identityMap) in the union, and its dataset."""
    n = next(_n)
    group = post(
        emu,
        auth,
        f"{REGISTRY}/tenant/fieldgroups",
        {
            "title": f"Flow Fields {n}",
            "type": "object",
            "meta:intendedToExtend": [EVENT],
            "definitions": {
                "f": {
                    "properties": {
                        "_acme": {
                            "type": "object",
                            "properties": {"queue": {"type": "string"}},
                            "required": ["queue"],
                        }
                    },
                    "required": ["_acme"],
                }
            },
        },
    ).json()
    schema = post(
        emu,
        auth,
        f"{REGISTRY}/tenant/schemas",
        {
            "title": f"Flow Events {n}",
            "description": "d",
            "type": "object",
            "allOf": [{"$ref": EVENT}, {"$ref": IDENTITY_MAP}, {"$ref": group["$id"]}],
            "meta:immutableTags": ["union"],
        },
    ).json()
    dataset = post(
        emu,
        auth,
        "/data/foundation/catalog/dataSets",
        {
            "name": f"Flow Events {n}",
            "schemaRef": {"id": schema["$id"], "contentType": FULL},
            "tags": {"unifiedProfile": ["enabled:true"], "unifiedIdentity": ["enabled:true"]},
        },
    )
    assert dataset.status_code == 201
    return str(schema["$id"]), dataset.json()[0].removeprefix("@/dataSets/")


def base_connection(emu, auth, authenticated: bool) -> str:
    name = f"Partner stream {next(_n)}"
    params = {"dataType": "xdm", "authenticationRequired": authenticated, "name": name}
    body = {
        "name": name,
        "description": "d",
        "connectionSpec": HTTP_API,
        "auth": {"specName": "Streaming Connection", "params": params},
    }
    return created_id(post(emu, auth, f"{FLOW}/connections", body))


def dataflow(emu, auth, authenticated: bool) -> dict[str, Any]:
    schema_id, dataset_id = event_dataset(emu, auth)
    base = base_connection(emu, auth, authenticated)
    source = created_id(
        post(
            emu,
            auth,
            f"{FLOW}/sourceConnections",
            {"name": "src", "baseConnectionId": base, "connectionSpec": HTTP_API},
        )
    )
    target = created_id(
        post(
            emu,
            auth,
            f"{FLOW}/targetConnections",
            {
                "name": "tgt",
                "data": {
                    "schema": {"id": schema_id, "version": "application/vnd.adobe.xed-full+json;version=1.0"}
                },
                "params": {"dataSetId": dataset_id},
                "connectionSpec": DATA_LAKE,
            },
        )
    )
    flow = created_id(
        post(
            emu,
            auth,
            f"{FLOW}/flows",
            {
                "name": "flow",
                "flowSpec": FLOW_SPEC,
                "sourceConnectionIds": [source],
                "targetConnectionIds": [target],
            },
        )
    )
    return {
        "schema": schema_id,
        "dataset": dataset_id,
        "base": base,
        "source": source,
        "target": target,
        "flow": flow,
    }


def message(made: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    ref = {"id": made["schema"], "contentType": FULL}
    return {
        "header": {"schemaRef": ref, "datasetId": made["dataset"], "flowId": made["flow"]},
        "body": {"xdmMeta": {"schemaRef": ref}, "xdmEntity": record},
    }


def event(n: int, **acme: Any) -> dict[str, Any]:
    return {
        "_id": f"flow-{n}",
        "timestamp": "2024-01-01T00:00:00Z",
        "identityMap": {"Phone": [{"id": f"+1415555{n:04d}", "primary": True}]},
        "_acme": acme,
    }


def test_connection_specs_are_found_by_id_and_name(emu, auth):
    one = get(emu, auth, f"{FLOW}/connectionSpecs/{HTTP_API['id']}")
    named = get(emu, auth, f"{FLOW}/connectionSpecs", property="name==HTTP API")
    flow_spec = get(emu, auth, f"{FLOW}/flowSpecs/{FLOW_SPEC['id']}")
    missing = get(emu, auth, f"{FLOW}/connectionSpecs/nope")

    assert one.status_code == 200
    assert [s["id"] for s in one.json()["items"]] == [HTTP_API["id"]]
    assert [s["id"] for s in named.json()["items"]] == [HTTP_API["id"]]
    assert flow_spec.json()["items"][0]["id"] == FLOW_SPEC["id"]
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("1101-404")


def test_the_base_connection_carries_its_inlet(emu, auth):
    base = base_connection(emu, auth, authenticated=True)

    answer = get(emu, auth, f"{FLOW}/connections/{base}")

    assert answer.status_code == 200
    [item] = answer.json()["items"]
    params = item["auth"]["params"]
    assert (item["id"], item["state"], item["connectionSpec"]["id"]) == (base, "enabled", HTTP_API["id"])
    assert len(params["inletId"]) == 64
    assert params["inletUrl"] == f"{emu.url}/collection/{params['inletId']}"
    assert (params["authenticationRequired"], params["dataType"]) == (True, "xdm")
    assert params["sourceId"] == item["name"]
    assert {"etag", "createdAt", "sandboxName", "imsOrgId"} <= set(item)


def test_a_dataflow_makes_the_inlet_live_and_records_land_in_the_dataset(emu, auth):
    made = dataflow(emu, auth, authenticated=False)
    inlet = get(emu, auth, f"{FLOW}/connections/{made['base']}").json()["items"][0]["auth"]["params"][
        "inletUrl"
    ]
    sandbox = {"x-sandbox-name": "prod"}

    good = requests.post(inlet, json=message(made, event(1, queue="billing")), headers=sandbox, timeout=5)
    missing = requests.post(
        f"{inlet}?syncValidation=true", json=message(made, event(2)), headers=sandbox, timeout=5
    )
    wrong = requests.post(
        f"{inlet}?syncValidation=true", json=message(made, event(3, queue=7)), headers=sandbox, timeout=5
    )
    other_sandbox = requests.post(
        inlet, json=message(made, event(4, queue="x")), headers={"x-sandbox-name": "dev"}, timeout=5
    )
    flow = get(emu, auth, f"{FLOW}/flows/{made['flow']}").json()["items"][0]

    assert good.status_code == 200
    assert missing.status_code == 400
    assert "_acme.queue" in str(missing.json())
    assert wrong.status_code == 400
    assert other_sandbox.status_code == 403
    streamed = requests.get(f"{emu.url}/_admin/streamed", timeout=5).json()
    assert streamed["accepted"].get(made["dataset"]) == 1
    assert (flow["sourceConnectionIds"], flow["targetConnectionIds"]) == ([made["source"]], [made["target"]])
    assert flow["state"] == "enabled"


def test_an_authenticated_inlet_needs_a_token(emu, auth):
    made = dataflow(emu, auth, authenticated=True)
    inlet = get(emu, auth, f"{FLOW}/connections/{made['base']}").json()["items"][0]["auth"]["params"][
        "inletUrl"
    ]
    body = message(made, event(5, queue="sales"))

    anonymous = requests.post(inlet, json=body, headers={"x-sandbox-name": "prod"}, timeout=5)
    signed = requests.post(
        inlet,
        json=body,
        headers={"x-sandbox-name": "prod", "Authorization": auth["Authorization"]},
        timeout=5,
    )

    assert anonymous.status_code == 401
    assert signed.status_code == 200


def test_lists_filter_like_the_sort_and_filter_guide(emu, auth):
    made = dataflow(emu, auth, authenticated=False)

    sources = get(emu, auth, f"{FLOW}/sourceConnections", property=f"baseConnectionId=={made['base']}")
    targets = get(emu, auth, f"{FLOW}/targetConnections", property=f"params.dataSetId=={made['dataset']}")
    flows = get(
        emu,
        auth,
        f"{FLOW}/flows",
        property=[f"sourceConnectionIds[]=={made['source']}", f"flowSpec.id=={FLOW_SPEC['id']}"],
    )
    connections = get(emu, auth, f"{FLOW}/connections", property=f"connectionSpec.id=={HTTP_API['id']}")
    counted = get(emu, auth, f"{FLOW}/flows", count="true")
    both = get(emu, auth, f"{FLOW}/flows", count="true", limit=1)

    assert [i["id"] for i in sources.json()["items"]] == [made["source"]]
    assert [i["id"] for i in targets.json()["items"]] == [made["target"]]
    assert [i["id"] for i in flows.json()["items"]] == [made["flow"]]
    assert made["base"] in [i["id"] for i in connections.json()["items"]]
    assert counted.json()["count"] >= 1
    assert both.status_code == 400
    assert both.json()["type"].endswith("1401-400")


def test_documented_refusals(emu, auth):
    schema_id, dataset_id = event_dataset(emu, auth)
    made = dataflow(emu, auth, authenticated=False)
    mismatch = post(
        emu,
        auth,
        f"{FLOW}/targetConnections",
        {
            "name": "t",
            "data": {"schema": {"id": schema_id}},
            "params": {"dataSetId": CALL_EVENTS},
            "connectionSpec": DATA_LAKE,
        },
    )
    with_state = post(
        emu,
        auth,
        f"{FLOW}/flows",
        {
            "name": "f",
            "flowSpec": FLOW_SPEC,
            "sourceConnectionIds": [made["source"]],
            "targetConnectionIds": [made["target"]],
            "state": "enabled",
        },
    )
    second = post(
        emu,
        auth,
        f"{FLOW}/flows",
        {
            "name": "f",
            "flowSpec": FLOW_SPEC,
            "sourceConnectionIds": [made["source"]],
            "targetConnectionIds": [made["target"]],
        },
    )
    unknown_base = post(
        emu,
        auth,
        f"{FLOW}/sourceConnections",
        {"name": "s", "baseConnectionId": "nope", "connectionSpec": HTTP_API},
    )
    missing = get(emu, auth, f"{FLOW}/flows/{quote('no-such-flow')}")

    assert mismatch.status_code == 400
    assert mismatch.json()["type"].endswith("1425-400")
    assert with_state.status_code == 400
    assert with_state.json()["type"].endswith("1410-400")
    assert second.status_code == 400
    assert unknown_base.status_code == 400
    assert missing.status_code == 404
    assert dataset_id != CALL_EVENTS


def test_reset_forgets_setup_and_its_inlets(auth):
    with running() as emulator:
        client = emulator.config.clients[0]
        token = requests.post(
            f"{emulator.url}/ims/token/v3",
            data={
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "scope": "openid",
            },
            timeout=5,
        ).json()["access_token"]
        own = {**auth, "Authorization": f"Bearer {token}"}
        made = dataflow(emulator, own, authenticated=False)
        inlet = get(emulator, own, f"{FLOW}/connections/{made['base']}").json()["items"][0]["auth"]["params"][
            "inletUrl"
        ]

        requests.post(f"{emulator.url}/_admin/reset", timeout=5)
        after = requests.post(
            inlet, json=message(made, event(9, queue="x")), headers={"x-sandbox-name": "prod"}, timeout=5
        )
        schema = requests.get(
            f"{emulator.url}{REGISTRY}/tenant/schemas/{quote(made['schema'], safe='')}",
            headers={**own, "Accept": FULL.replace(";", "; ")},
            timeout=5,
        )
        file_schema = requests.get(
            f"{emulator.url}{REGISTRY}/tenant/schemas/_acme.schemas.ivr-call-event",
            headers={**own, "Accept": FULL.replace(";", "; ")},
            timeout=5,
        )

    assert after.status_code == 404
    assert schema.status_code == 404
    assert file_schema.status_code == 200
