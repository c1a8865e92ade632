"""Each API call's request (method, path, headers, body) and the parsing of its documented response."""

from __future__ import annotations

import json

import pytest

from aep import AepValidationError, BytesSource
from aep.models import BatchState
from tests.conftest import CLIENT_ID, ORG_ID, make_client, token_reply
from tests.support.recorder import Reply

BATCH = "01EQ1C48TR4GD4FE7NH2522TCQ"
DATASET = "5da9452f7de80400007jc52a"


@pytest.fixture
def client(recorder, secrets, clock):
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply("tok")))
    return make_client(recorder.url, secrets, clock, sandbox_name="dev")


def platform_headers_ok(call) -> None:
    assert call.headers["authorization"] == "Bearer tok"
    assert call.headers["x-api-key"] == CLIENT_ID
    assert call.headers["x-gw-ims-org-id"] == ORG_ID
    assert call.headers["x-sandbox-name"] == "dev"


@pytest.mark.parametrize(
    ("fmt", "multi", "expected"),
    [
        ("json", False, {"format": "json", "isMultiLineJson": False}),
        ("json", True, {"format": "json", "isMultiLineJson": True}),
        ("parquet", False, {"format": "parquet"}),
        ("csv", False, {"format": "csv"}),
    ],
)
def test_create_batch(client, recorder, fmt, multi, expected):
    recorder.on(
        "POST",
        "/data/foundation/import/batches",
        Reply(
            201, {"id": BATCH, "status": "loading", "relatedObjects": [{"type": "dataSet", "id": DATASET}]}
        ),
    )

    batch = client.batches.create(
        DATASET, fmt, multi_line_json=multi, partial_ingestion_percent=5, external_id="e1"
    )

    (call,) = recorder.calls("POST", "/batches")
    platform_headers_ok(call)
    assert call.headers["content-type"] == "application/json"
    assert call.json() == {
        "datasetId": DATASET,
        "inputFormat": expected,
        "enableErrorDiagnostics": True,
        "partialIngestionPercent": 5,
        "externalId": "e1",
    }
    assert batch.id == BATCH
    assert batch.state is BatchState.LOADING
    assert batch.dataset_id == DATASET


def test_put_file_streams_octet_stream(client, recorder):
    recorder.on("PUT", r"/data/foundation/import/batches/.*", Reply(200))

    client.batches.upload(BATCH, DATASET, "calls/part=1/day 1.json", BytesSource(b'{"a":1}\n'))

    (call,) = recorder.calls("PUT")
    platform_headers_ok(call)
    assert (
        call.path
        == f"/data/foundation/import/batches/{BATCH}/datasets/{DATASET}/files/calls/part=1/day%201.json"
    )
    assert call.headers["content-type"] == "application/octet-stream"
    assert call.headers["content-length"] == "8"
    assert call.body == b'{"a":1}\n'


def test_empty_file_is_refused_before_sending(client, recorder):
    with pytest.raises(AepValidationError):
        client.batches.upload(BATCH, DATASET, "empty.json", BytesSource(b""))

    assert recorder.calls("PUT") == []


@pytest.mark.parametrize("action", ["COMPLETE", "ABORT"])
def test_batch_signals(client, recorder, action):
    recorder.on("POST", f"/data/foundation/import/batches/{BATCH}", Reply(200))

    getattr(client.batches, action.lower())(BATCH)

    (call,) = recorder.calls("POST", f"/batches/{BATCH}")
    platform_headers_ok(call)
    assert call.param("action") == action
    assert call.body == b""


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("success", "success"),
        ("active", "success"),
        ("failure", "failed"),
        ("failed", "failed"),
        ("staging", "processing"),
        ("loading", "loading"),
    ],
)
def test_catalog_batch_status(client, recorder, raw, state):
    recorder.on(
        "GET",
        f"/data/foundation/catalog/batches/{BATCH}",
        Reply(
            200,
            {
                BATCH: {
                    "status": raw,
                    "relatedObjects": [{"type": "dataSet", "id": DATASET}],
                    "metrics": {"inputRecordCount": 519, "outputRecordCount": 514, "failedRecordCount": 5},
                    "errors": [
                        {
                            "code": "INGEST-1555-400",
                            "description": "A required field is missing",
                            "recordCount": 3,
                        }
                    ],
                }
            },
        ),
    )

    batch = client.catalog.batch(BATCH)

    platform_headers_ok(recorder.calls("GET")[0])
    assert batch.state.value == state
    assert batch.metrics is not None
    assert batch.metrics.failed_record_count == 5
    assert batch.errors[0].code == "INGEST-1555-400"
    assert batch.errors[0].record_count == 3


def test_wait_for_batch_polls_to_a_final_state(client, recorder, clock):
    recorder.on(
        "GET",
        f"/data/foundation/catalog/batches/{BATCH}",
        Reply(200, {BATCH: {"status": "loaded"}}),
        Reply(200, {BATCH: {"status": "staging"}}),
        Reply(200, {BATCH: {"status": "active"}}),
    )

    batch = client.catalog.wait_for_batch(BATCH, timeout=60, poll_interval=5)

    assert batch.state is BatchState.SUCCESS
    assert clock.sleeps == [5, 5]


def test_dataset_lookup(client, recorder):
    ref = {
        "id": "https://ns.adobe.com/acme/schemas/abc",
        "contentType": "application/vnd.adobe.xed-full+json;version=1",
    }
    recorder.on(
        "GET",
        f"/data/foundation/catalog/dataSets/{DATASET}",
        Reply(
            200, {DATASET: {"name": "Calls", "schemaRef": ref, "tags": {"unifiedProfile": ["enabled:true"]}}}
        ),
    )

    dataset = client.catalog.dataset(DATASET)

    assert dataset.schema_ref is not None
    assert dataset.schema_ref.id == ref["id"]
    assert dataset.profile_enabled


def test_row_errors_from_data_access(client, recorder):
    base = f"/data/foundation/export/batches/{BATCH}/meta"

    def meta(call):
        if call.param("path") == "row_errors":
            return Reply(
                200, {"_page": {"count": 1}, "data": [{"name": "parsing_errors_0.json", "length": "99"}]}
            )
        assert call.param("path") == "row_errors/parsing_errors_0.json"
        line = {
            "_corrupt_record": "{bad",
            "_errors": [{"code": "1401", "message": "Row is corrupted"}],
            "_filename": "f.json",
        }
        return Reply(200, json.dumps(line) + "\n" + json.dumps(line) + "\n")

    recorder.on("GET", base, meta)

    rows = client.catalog.row_errors(BATCH)

    assert len(rows) == 2
    assert rows[0].corrupt_record == "{bad"
    assert rows[0].errors[0]["code"] == "1401"


def test_streaming_batch_request_and_results_in_order(client, recorder):
    recorder.on(
        "POST",
        "/collection/batch/inlet1",
        Reply(
            207,
            {
                "inletId": "inlet1",
                "batchId": "1565638336649:1750:244",
                "receivedTimeMs": 1,
                "responses": [
                    {"xactionId": "1565638336649:1750:244:0"},
                    {"statusCode": 400, "message": "Message has unknown xdm format"},
                    {"statusCode": 503, "message": "unavailable"},
                ],
            },
        ),
    )
    messages = [{"header": {"n": i}, "body": {"xdmEntity": {"i": i}}} for i in range(3)]

    results = client.streaming.send_many("inlet1", messages, flow_id="flow-1")

    (call,) = recorder.calls("POST", "/collection/batch/inlet1")
    assert call.headers["content-type"] == "application/json"
    assert call.headers["x-adobe-flow-id"] == "flow-1"
    assert "authorization" not in call.headers  # unauthenticated inlet
    assert call.json() == {"messages": messages}
    assert [(r.index, r.ok, r.status, r.retryable) for r in results] == [
        (0, True, None, False),
        (1, False, 400, False),
        (2, False, 503, True),
    ]
    assert results[0].xaction_id == "1565638336649:1750:244:0"
    assert results[1].reason == "Message has unknown xdm format"


def test_streaming_authenticated_inlet_sends_platform_headers(client, recorder):
    recorder.on("POST", "/collection/batch/inlet1", Reply(207, {"responses": [{"xactionId": "x:0"}]}))

    client.streaming.send_many("inlet1", [{"header": {}, "body": {}}], authenticated=True)

    platform_headers_ok(recorder.calls("POST", "/collection/batch")[0])


def test_streaming_request_failure_fails_every_message_of_that_request(client, recorder):
    recorder.on(
        "POST", "/collection/batch/inlet1", Reply(400, {"title": "Invalid XDM Message Format", "status": 400})
    )

    results = client.streaming.send_many("inlet1", [{"a": 1}, {"b": 2}])

    assert [(r.ok, r.status, r.retryable) for r in results] == [(False, 400, False), (False, 400, False)]
    assert results[0].reason == "stream messages: Invalid XDM Message Format"


def test_streaming_single_message_with_sync_validation(client, recorder):
    recorder.on(
        "POST",
        "/collection/inlet1",
        Reply(
            200,
            {
                "inletId": "inlet1",
                "xactionId": "1584479347507:2153:240",
                "receivedTimeMs": 1584479347507,
                "syncValidation": {"status": "pass"},
            },
        ),
    )

    answer = client.streaming.send_one(
        "inlet1", {"header": {}, "body": {}}, sync_validation=True, flow_id="f"
    )

    (call,) = recorder.calls("POST", "/collection/inlet1")
    assert call.param("syncValidation") == "true"
    assert call.headers["x-adobe-flow-id"] == "f"
    assert answer.xaction_id == "1584479347507:2153:240"
    assert answer.sync_validation == {"status": "pass"}


PROFILE = {
    "BVrqzwVv7o2p3naHvnsWpqZXv3KJgA": {
        "entityId": "BVrqzwVv7o2p3naHvnsWpqZXv3KJgA",
        "mergePolicy": {"id": "e161dae9"},
        "sources": ["5e30d7986c0cc218a85cee65"],
        "identityGraph": ["BVrqzwVv7o2p3naHvnsWpqZXv3KJgA"],
        "entity": {
            "person": {"name": {"firstName": "Jane"}},
            "identityMap": {"phone": [{"id": "+14155550100"}]},
        },
        "lastModifiedAt": "2020-01-30T01:13:59Z",
    }
}


def test_profile_lookup_by_identity(client, recorder):
    recorder.on("GET", "/data/core/ups/access/entities", Reply(200, PROFILE))

    profile = client.profiles.get(
        "+14155550100", "Phone", fields=["person.name", "identityMap"], merge_policy_id="mp"
    )

    (call,) = recorder.calls("GET", "/access/entities")
    platform_headers_ok(call)
    assert call.param("schema.name") == "_xdm.context.profile"
    assert call.param("entityId") == "+14155550100"
    assert call.param("entityIdNS") == "Phone"
    assert call.param("fields") == "person.name,identityMap"
    assert call.param("mergePolicyId") == "mp"
    assert profile is not None
    assert profile.entity_id == "BVrqzwVv7o2p3naHvnsWpqZXv3KJgA"
    assert profile.entity["person"]["name"]["firstName"] == "Jane"


def test_profile_unknown_identity_is_none(client, recorder):
    recorder.on("GET", "/data/core/ups/access/entities", Reply(404, {"statusCode": "404"}))

    assert client.profiles.get("+14155550199", "Phone") is None


def test_profile_too_many_linked_identities_is_a_validation_error(client, recorder):
    recorder.on(
        "GET",
        "/data/core/ups/access/entities",
        Reply(422, {"message": "UPS-MRG-1000001:Too many related identities", "statusCode": "422"}),
    )

    with pytest.raises(AepValidationError) as caught:
        client.profiles.get("+14155550100", "Phone")

    assert caught.value.status == 422


def test_profiles_for_many_identities(client, recorder):
    recorder.on("POST", "/data/core/ups/access/entities", Reply(200, PROFILE))

    profiles = client.profiles.get_many(
        [("+14155550100", "Phone"), ("a@example.com", "Email")], fields=["person"]
    )

    (call,) = recorder.calls("POST", "/access/entities")
    platform_headers_ok(call)
    assert call.json() == {
        "schema": {"name": "_xdm.context.profile"},
        "identities": [
            {"entityId": "+14155550100", "entityIdNS": {"code": "Phone"}},
            {"entityId": "a@example.com", "entityIdNS": {"code": "Email"}},
        ],
        "fields": ["person"],
    }
    assert list(profiles) == ["BVrqzwVv7o2p3naHvnsWpqZXv3KJgA"]


def test_experience_events_follow_next_links(client, recorder):
    def page(call):
        if call.param("start") is None:
            assert call.param("schema.name") == "_xdm.context.experienceevent"
            assert call.param("relatedEntityIdNS") == "Phone"
            assert call.param("orderby") == "-timestamp"
            return Reply(
                200,
                {
                    "_page": {"count": 1, "next": "e2"},
                    "children": [{"entityId": "e1", "timestamp": 2}],
                    "_links": {"next": {"href": "/entities?start=e2&limit=1"}},
                },
            )
        assert call.param("start") == "e2"
        return Reply(
            200,
            {
                "_page": {"count": 1, "next": ""},
                "children": [{"entityId": "e2", "timestamp": 1}],
                "_links": {"next": {"href": ""}},
            },
        )

    recorder.on("GET", "/data/core/ups/access/entities", page)

    events = list(client.profiles.experience_events("+14155550100", "Phone", limit=1))

    assert [e.entity_id for e in events] == ["e1", "e2"]


def test_identity_namespaces(client, recorder):
    recorder.on(
        "GET",
        "/data/core/idnamespace/identities",
        Reply(
            200,
            [
                {"code": "Phone", "id": 7, "status": "ACTIVE", "idType": "Phone", "custom": False},
                {"code": "ECID", "id": 4, "idType": "COOKIE"},
            ],
        ),
    )

    namespaces = client.identities.namespaces()

    platform_headers_ok(recorder.calls("GET", "/idnamespace")[0])
    assert [(n.code, n.id_type) for n in namespaces] == [("Phone", "Phone"), ("ECID", "COOKIE")]


def test_token_is_fetched_once_for_many_calls(client, recorder):
    recorder.on("GET", "/data/core/idnamespace/identities", Reply(200, []))

    for _ in range(5):
        client.identities.namespaces()

    assert len(recorder.calls("POST", "/ims/token/v3")) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("<html>ok</html>", "create batch: the answer is not JSON"),
        ({"status": "loading"}, "create batch: the answer is not a valid Batch"),
    ],
)
def test_an_unreadable_create_answer_is_a_typed_error(client, recorder, answer, message):
    from aep import AepTransportError

    recorder.on("POST", "/data/foundation/import/batches", Reply(201, answer))

    with pytest.raises(AepTransportError) as caught:
        client.batches.create(DATASET, "json")

    assert caught.value.message == message
    assert caught.value.status == 201
    assert caught.value.retryable is False
    assert caught.value.__cause__ is None
    assert len(recorder.calls("POST", "/batches")) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("not json", "batch status: the answer is not JSON"),
        ({BATCH: {"status": {"not": "a string"}}}, "batch status: the answer is not a valid Batch"),
    ],
)
def test_an_unreadable_catalog_answer_is_a_typed_error(client, recorder, answer, message):
    from aep import AepTransportError

    recorder.on("GET", f"/data/foundation/catalog/batches/{BATCH}", Reply(200, answer))

    with pytest.raises(AepTransportError) as caught:
        client.catalog.batch(BATCH)

    assert caught.value.message == message
    assert caught.value.retryable is False
