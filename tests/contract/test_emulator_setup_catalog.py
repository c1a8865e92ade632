"""The emulator's Catalog datasets against catalog.yaml and the dataset guides: create (201, an array
of ``@/dataSets/{id}`` and Location), list with filters, look up, PATCH tags, the Profile rules, and a
new dataset's records checked against its schema."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote

import pytest
import requests

from aep_emulator import running
from tests.contract import models as cm
from tests.integration.conftest import CALL_EVENTS, ndjson

CATALOG = "/data/foundation/catalog/dataSets"
REGISTRY = "/data/foundation/schemaregistry"
PROFILE = "https://ns.adobe.com/xdm/context/profile"
CONTENT_TYPE = "application/vnd.adobe.xed+json;version=1"
ENABLED = {"unifiedProfile": ["enabled:true"], "unifiedIdentity": ["enabled:true"]}
_n = itertools.count(1)


@pytest.fixture(scope="module")
def emu():
    with running() as emulator:
        yield emulator


def post(emu, auth, path: str, body: Any, content_type: str = "application/json") -> requests.Response:
    headers = {**auth, "Content-Type": content_type}
    return requests.post(emu.url + path, headers=headers, json=body, timeout=5)


def profile_schema(emu, auth, union: bool) -> str:
    """A Profile schema with a tenant ``phone`` field (and the union tag when asked)."""
    n = next(_n)
    group = post(
        emu,
        auth,
        f"{REGISTRY}/tenant/fieldgroups",
        {
            "title": f"Catalog Fields {n}",
            "type": "object",
            "meta:intendedToExtend": [PROFILE],
            "definitions": {
                "f": {
                    "properties": {"_acme": {"type": "object", "properties": {"phone": {"type": "string"}}}}
                }
            },
            "allOf": [{"$ref": "#/definitions/f"}],
        },
    ).json()
    schema = post(
        emu,
        auth,
        f"{REGISTRY}/tenant/schemas",
        {
            "title": f"Catalog Schema {n}",
            "description": "d",
            "type": "object",
            "allOf": [{"$ref": PROFILE}, {"$ref": group["$id"]}],
        },
    ).json()
    if union:
        patched = requests.patch(
            f"{emu.url}{REGISTRY}/tenant/schemas/{quote(schema['$id'], safe='')}",
            headers={**auth, "Content-Type": "application/json"},
            json=[{"op": "add", "path": "/meta:immutableTags", "value": ["union"]}],
            timeout=5,
        )
        assert patched.status_code == 200
    return str(schema["$id"])


def create(
    emu, auth, name: str, schema_id: str, tags: dict[str, list[str]] | None = None
) -> requests.Response:
    body: dict[str, Any] = {"name": name, "schemaRef": {"id": schema_id, "contentType": CONTENT_TYPE}}
    if tags is not None:
        body["tags"] = tags
    return post(emu, auth, CATALOG, body)


def test_create_returns_the_documented_array_and_location_then_lookup(emu, auth):
    schema_id = profile_schema(emu, auth, union=True)

    created = create(emu, auth, "Partner Profiles", schema_id, ENABLED)

    assert created.status_code == 201
    [ref] = created.json()
    assert ref.startswith("@/dataSets/")
    dataset_id = ref.removeprefix("@/dataSets/")
    assert created.headers["Location"].endswith(f"{CATALOG}/{dataset_id}")
    answer = requests.get(f"{emu.url}{CATALOG}/{dataset_id}", headers=auth, timeout=5)
    assert answer.status_code == 200
    dataset = cm.CatalogDataset.model_validate(answer.json()[dataset_id])
    assert (dataset.name, dataset.schemaRef.id, dataset.tags) == ("Partner Profiles", schema_id, ENABLED)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"schemaRef": {"id": "https://ns.adobe.com/acme/schemas/none", "contentType": CONTENT_TYPE}},
            "not found",
        ),
        ({"schemaRef": {"id": "x", "contentType": "application/json"}}, "contentType"),
        ({"name": ""}, "name"),
        ({"tags": {"unifiedProfile": "enabled:true"}}, "tags"),
    ],
)
def test_create_refuses_a_bad_dataset(emu, auth, change, reason):
    schema_id = profile_schema(emu, auth, union=True)
    body = {"name": "Bad", "schemaRef": {"id": schema_id, "contentType": CONTENT_TYPE}, **change}

    answer = post(emu, auth, CATALOG, body)

    assert answer.status_code == 400
    assert reason in cm.Problem.model_validate(answer.json()).model_dump()["detail"]


def test_profile_tags_need_a_schema_in_the_union(emu, auth):
    schema_id = profile_schema(emu, auth, union=False)

    refused = create(
        emu, auth, "Not Yet", schema_id, {"unifiedProfile": ["enabled: true"]}
    )  # the spec's spacing
    plain = create(emu, auth, "Plain", schema_id)

    assert refused.status_code == 400
    assert plain.status_code == 201


def test_patch_tags_with_json_patch_enables_profile(emu, auth):
    schema_id = profile_schema(emu, auth, union=True)
    dataset_id = create(emu, auth, "Later Enabled", schema_id).json()[0].removeprefix("@/dataSets/")
    ops = [
        {"op": "add", "path": "/tags/unifiedProfile", "value": ["enabled:true"]},
        {"op": "add", "path": "/tags/unifiedIdentity", "value": ["enabled:true"]},
    ]
    url = f"{emu.url}{CATALOG}/{dataset_id}"

    patched = requests.patch(
        url, headers={**auth, "Content-Type": "application/json-patch+json"}, json=ops, timeout=5
    )
    schema_change = requests.patch(
        url, headers={**auth, "Content-Type": "application/json"}, json={"schemaRef": {"id": "x"}}, timeout=5
    )
    missing = requests.patch(
        f"{emu.url}{CATALOG}/nope", headers={**auth, "Content-Type": "application/json"}, json={}, timeout=5
    )

    assert patched.status_code == 200
    assert patched.json() == [f"@/dataSets/{dataset_id}"]
    assert requests.get(url, headers=auth, timeout=5).json()[dataset_id]["tags"] == ENABLED
    assert schema_change.status_code == 400
    assert missing.status_code == 404


def test_list_filters_by_name_property_and_pages(emu, auth):
    schema_id = profile_schema(emu, auth, union=False)
    prefix = f"Listed {next(_n)}"
    made = [
        create(emu, auth, f"{prefix} {c}", schema_id).json()[0].removeprefix("@/dataSets/") for c in "abc"
    ]

    def listing(**params: Any) -> dict[str, Any]:
        answer = requests.get(f"{emu.url}{CATALOG}", headers=auth, params=params, timeout=5)
        assert answer.status_code == 200
        return dict(answer.json())

    wildcard = listing(name=f"{prefix}*", properties="name,schemaRef", limit=100)
    exact = listing(property=f"name=={prefix} b")
    first, second = listing(name=f"{prefix}*", limit=2), listing(name=f"{prefix}*", limit=2, start=2)
    nothing = listing(name="no such dataset")
    file_dataset = listing(name="IVR call events")

    assert sorted(wildcard) == sorted(made)
    assert all(set(entry) == {"name", "schemaRef"} for entry in wildcard.values())
    assert list(exact) == [made[1]]
    assert sorted([*first, *second]) == sorted(made)
    assert len(first) == 2
    assert nothing == {}
    assert list(file_dataset) == [CALL_EVENTS]


def test_a_new_dataset_checks_records_against_its_schema(emu, auth):
    schema_id = profile_schema(emu, auth, union=True)
    dataset_id = create(emu, auth, "Checked", schema_id, ENABLED).json()[0].removeprefix("@/dataSets/")
    identity = {"Phone": [{"id": "+14155550123", "primary": True}]}
    rows = [
        {"_id": "p-1", "identityMap": identity, "_acme": {"phone": "+14155550123"}},
        {"_id": "p-2", "identityMap": identity, "_acme": {"phone": 5}},
        {"_id": "p-3", "identityMap": identity, "_acme": {"unknown": "x"}},
    ]
    base = f"{emu.url}/data/foundation/import/batches"
    batch = post(
        emu,
        auth,
        "/data/foundation/import/batches",
        {"datasetId": dataset_id, "inputFormat": {"format": "json"}},
    )
    assert batch.status_code == 201
    batch_id = batch.json()["id"]
    put = requests.put(
        f"{base}/{batch_id}/datasets/{dataset_id}/files/rows.json",
        headers={**auth, "Content-Type": "application/octet-stream"},
        data=ndjson(rows),
        timeout=5,
    )
    done = requests.post(f"{base}/{batch_id}?action=COMPLETE", headers=auth, timeout=5)
    assert (put.status_code, done.status_code) == (200, 200)

    for _ in range(3):
        view = requests.get(f"{emu.url}/data/foundation/catalog/batches/{batch_id}", headers=auth, timeout=5)
        found = view.json()[batch_id]
    assert found["metrics"]["inputRecordCount"] == 3
    assert found["metrics"]["failedRecordCount"] == 2
    assert found["status"] == "failed"


def test_a_field_required_inside_an_optional_object_is_required_only_with_it(emu, auth):
    n = next(_n)
    address = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        "required": ["city"],
    }
    group = post(
        emu,
        auth,
        f"{REGISTRY}/tenant/fieldgroups",
        {
            "title": f"Nested Fields {n}",
            "type": "object",
            "meta:intendedToExtend": [PROFILE],
            "definitions": {
                "f": {"properties": {"_acme": {"type": "object", "properties": {"address": address}}}}
            },
        },
    ).json()
    schema = post(
        emu,
        auth,
        f"{REGISTRY}/tenant/schemas",
        {
            "title": f"Nested {n}",
            "description": "d",
            "type": "object",
            "allOf": [{"$ref": PROFILE}, {"$ref": group["$id"]}],
        },
    ).json()
    dataset_id = create(emu, auth, "Nested", schema["$id"]).json()[0].removeprefix("@/dataSets/")
    rows: list[dict[str, Any]] = [
        {"_id": "n-1"},
        {"_id": "n-2", "_acme": {"address": {"city": "Lyon"}}},
        {"_id": "n-3", "_acme": {"address": {"zip": "69001"}}},
    ]
    base = f"{emu.url}/data/foundation/import/batches"
    batch_id = post(
        emu,
        auth,
        "/data/foundation/import/batches",
        {"datasetId": dataset_id, "inputFormat": {"format": "json"}},
    ).json()["id"]
    requests.put(
        f"{base}/{batch_id}/datasets/{dataset_id}/files/rows.json",
        headers={**auth, "Content-Type": "application/octet-stream"},
        data=ndjson(rows),
        timeout=5,
    )
    requests.post(f"{base}/{batch_id}?action=COMPLETE", headers=auth, timeout=5)

    for _ in range(3):
        found = requests.get(f"{emu.url}/data/foundation/catalog/batches/{batch_id}", headers=auth, timeout=5)
    metrics = found.json()[batch_id]["metrics"]

    assert (metrics["inputRecordCount"], metrics["failedRecordCount"]) == (3, 1)
