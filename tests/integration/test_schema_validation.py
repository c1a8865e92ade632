"""Schema validation before send, on the emulator over HTTP: a dataset made by ``aep.setup`` (formats,
enums, bounds) for streaming, the sandbox file's call events for batch. A record with a wrong type, an
unknown field, a missing required field, a bad format or a value off its enum is refused with the path and
the reason and never reaches AEP; valid records do; the schema is fetched once per container; a schema that
cannot be fetched sends the records back, unless AEP_SCHEMA_VALIDATION=best_effort."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from aep import RetryPolicy, SystemClock
from aep.setup import apply, parse
from aep.setup.__main__ import setup_api
from batch_ingest import service as batch_service
from stream_ingest import service as stream_service
from tests.integration.conftest import CALL_EVENTS, call_event, emulator_client
from tests.integration.test_setup_converge import env_of
from tests.support.batch import IDEMPOTENCY, LEDGER, create_resources, ledger_items, put, read_lines, sqs_of
from tests.support.events import sqs_event
from tests.support.fakes import FakeLambdaContext
from tests.support.lambdas import load_app

pytestmark = pytest.mark.integration
PHONE = "+14155550100"
FAST = RetryPolicy(max_attempts=2, base=0.01, max_wait=0.02, jitter=lambda c: c)
SETUP = {
    "fieldGroups": [
        {
            "title": "Validation Call",
            "description": "call fields",
            "extends": ["experienceevent"],
            "fields": {
                "call": {
                    "type": "object",
                    "properties": {
                        "direction": {"type": "string", "enum": ["inbound", "outbound"]},
                        "durationSeconds": {"type": "integer", "minimum": 0},
                        "queue": {"type": "string", "maxLength": 8},
                    },
                },
                "contact": {
                    "type": "object",
                    "properties": {
                        "email": {"type": "string", "format": "email"},
                        "since": {"type": "string", "format": "date-time"},
                    },
                },
            },
        }
    ],
    "schemas": [
        {
            "title": "Validation Events",
            "description": "events",
            "class": "experienceevent",
            "fieldGroups": ["Validation Call", "https://ns.adobe.com/xdm/context/identitymap"],
        }
    ],
    "datasets": [{"name": "Validation Events", "schema": "Validation Events"}],
    "streaming": [{"name": "Validation Inlet", "dataset": "Validation Events", "authenticated": False}],
}


def event(n: int, **tenant: Any) -> dict[str, Any]:
    return {
        "_id": f"v-{n}",
        "timestamp": "2026-01-02T03:04:05Z",
        "identityMap": {"Phone": [{"id": PHONE, "primary": True}]},
        "_acme": {"call": {"direction": "inbound", "durationSeconds": 30 + n}, **tenant},
    }


@pytest.fixture
def inlet(emulator) -> dict[str, str]:
    report = apply(setup_api(env_of(emulator), FAST), parse(SETUP))
    return dict(report.outputs["streaming"]["Validation Inlet"])


@pytest.fixture
def stream(emulator, aws, inlet):
    dlq = str(boto3.client("sqs").create_queue(QueueName="stream-dlq")["QueueUrl"])
    app = load_app("stream_ingest")

    def runtime(**env: str) -> Any:
        environ = {
            "STREAM_INLET_ID": inlet["inletId"],
            "STREAM_DATASET_ID": inlet["datasetId"],
            "STREAM_FLOW_ID": inlet["flowId"],
            "STREAM_DLQ_URL": dlq,
            **env,
        }
        client = emulator_client(emulator, SystemClock(), FAST)
        return stream_service.build_runtime(environ, client, lambda: boto3.client("sqs"))

    def run(bodies: list[str], rt: Any) -> dict[str, Any]:
        stream_service.set_runtime(rt)
        return dict(app.lambda_handler(sqs_event(bodies), FakeLambdaContext(remaining_ms=60_000)))

    run.runtime = runtime  # type: ignore[attr-defined]
    run.dlq = dlq  # type: ignore[attr-defined]
    yield run
    stream_service.set_runtime(None)


def letters(url: str) -> dict[str, dict[str, str]]:
    sqs = boto3.client("sqs")
    found: dict[str, dict[str, str]] = {}
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for message in messages:
            attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
            found[json.loads(message["Body"])["_id"]] = attrs
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def schema_gets(admin) -> list[dict[str, Any]]:
    return [
        e for e in admin.requests() if e["method"] == "GET" and "/schemaregistry/tenant/schemas/" in e["path"]
    ]


def test_streamed_records_that_break_the_schema_are_dead_lettered_with_path_and_reason(
    stream, emulator, admin, inlet
) -> None:
    # Given the setup-made dataset and a batch of valid and broken records
    bad = {
        "v-10": event(10, call={"direction": "inbound", "durationSeconds": "long"}),
        "v-11": event(11, nickname="x"),
        "v-12": event(12, call={"direction": "sideways"}),
        "v-13": event(13, contact={"email": "not-an-address"}),
        "v-14": event(14, contact={"since": "2026-02-30T10:00:00Z"}),
        "v-15": event(15, call={"direction": "inbound", "queue": "x" * 9}),
        "v-16": event(16, call={"direction": "inbound", "durationSeconds": -1}),
    }
    good = [
        event(n, contact={"email": "caller@example.com", "since": "2026-01-01T00:00:00+01:00"})
        for n in range(3)
    ]
    rt = stream.runtime()
    # When the function handles them, then a second batch in the same container
    answer = stream([json.dumps(r) for r in [*good, *bad.values()]], rt)
    again = stream([json.dumps(event(3))], rt)
    # Then nothing is retried; the broken records are in the DLQ with the field and the reason
    assert answer == again == {"batchItemFailures": []}
    found = letters(stream.dlq)
    expected = {
        "v-10": ("_acme.call.durationSeconds", "must be an integer"),
        "v-11": ("_acme.nickname", "is not a field of the schema"),
        "v-12": ("_acme.call.direction", "must be one of inbound, outbound"),
        "v-13": ("_acme.contact.email", "must be an e-mail address"),
        "v-14": ("_acme.contact.since", "must be an RFC 3339 date-time"),
        "v-15": ("_acme.call.queue", "must be at most 8 characters long"),
        "v-16": ("_acme.call.durationSeconds", "must be at least 0"),
    }
    assert set(found) == set(expected)
    for record_id, (field, reason) in expected.items():
        assert found[record_id]["aep.error.field"] == field
        assert found[record_id]["aep.error.reason"].startswith(f"{field}: {reason}")
        assert found[record_id]["aep.error.stage"] == "connector"
    # and AEP received the four valid records only, and found nothing wrong with them
    assert admin.streamed()["accepted"] == {inlet["datasetId"]: 4}
    assert admin.streamed()["failed"] == []
    # and the schema was fetched once for both batches, in the resolved form
    gets = schema_gets(admin)
    assert len(gets) == 1


def test_a_schema_that_cannot_be_fetched_sends_the_records_back_unsent(stream, admin, inlet) -> None:
    # Given a Schema Registry answering 503
    admin.faults({"path": "^/data/foundation/schemaregistry", "status": 503})
    # When a batch arrives
    answer = stream([json.dumps(event(1)), json.dumps(event(2))], stream.runtime())
    # Then both records go back to the queue, none is sent or dead-lettered
    assert len(answer["batchItemFailures"]) == 2
    assert admin.streamed()["accepted"] == {}
    assert letters(stream.dlq) == {}


def test_best_effort_sends_unchecked_when_the_schema_cannot_be_fetched(stream, admin, inlet) -> None:
    admin.faults({"path": "^/data/foundation/schemaregistry", "status": 503})
    answer = stream([json.dumps(event(1))], stream.runtime(AEP_SCHEMA_VALIDATION="best_effort"))
    assert answer == {"batchItemFailures": []}
    assert admin.streamed()["accepted"] == {inlet["datasetId"]: 1}


def test_off_sends_without_fetching_the_schema(stream, admin, inlet) -> None:
    answer = stream([json.dumps(event(1))], stream.runtime(AEP_SCHEMA_VALIDATION="off"))
    assert answer == {"batchItemFailures": []}
    assert schema_gets(admin) == []


def test_batch_rows_that_break_the_schema_are_in_the_files_refusals_and_never_uploaded(
    emulator, admin, aws, tmp_path
) -> None:
    # Given the sandbox file's call events (direction required under _acme.call and inbound or outbound,
    # durationSeconds at least 0, satisfaction a number: the constraints setup/callcenter.yaml declares)
    queue_url = create_resources()
    environ = {
        "BATCH_ROUTES": json.dumps([{"prefix": "calls/", "dataset_id": CALL_EVENTS}]),
        "BATCH_LEDGER_TABLE": LEDGER,
        "BATCH_IDEMPOTENCY_TABLE": IDEMPOTENCY,
        "BATCH_QUEUE_URL": queue_url,
        "BATCH_SPOOL_DIR": str(tmp_path),
    }
    batch_service.set_runtime(
        batch_service.build_runtime(environ, emulator_client(emulator, SystemClock(), FAST))
    )
    good = [call_event(PHONE, n) for n in range(2)]
    wrong_type = call_event(PHONE, 2)
    wrong_type["_acme"]["call"]["satisfaction"] = "high"
    unknown = call_event(PHONE, 3, nickname="x")
    missing = call_event(PHONE, 4)
    del missing["_acme"]["call"]["direction"]
    off_enum = call_event(PHONE, 5)
    off_enum["_acme"]["call"]["direction"] = "in"
    negative = call_event(PHONE, 6)
    negative["_acme"]["call"]["durationSeconds"] = -1
    rows = [*good, wrong_type, unknown, missing, off_enum, negative]
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    try:
        # When the file is dropped
        answer = load_app("batch_ingest").lambda_handler(
            sqs_of(put("calls/a.ndjson", body)), FakeLambdaContext(remaining_ms=600_000)
        )
    finally:
        batch_service.set_runtime(None)
    # Then the five broken rows are the file's refusals, each with its line, field and reason
    assert answer == {"batchItemFailures": []}
    (item,) = [i for pk, i in ledger_items().items() if pk.startswith("file#")]
    assert (item["records_read"], item["records_sent"], item["records_refused"]) == (7, 2, 5)
    refusals = [(r["line"], r["field"], r["reason"]) for r in read_lines(item["refusals_key"])]
    assert refusals == [
        (3, "_acme.call.satisfaction", "_acme.call.satisfaction: must be a number"),
        (4, "nickname", "nickname: is not a field of the schema"),
        (5, "_acme.call.direction", "_acme.call.direction: is required"),
        (6, "_acme.call.direction", "_acme.call.direction: must be one of inbound, outbound"),
        (7, "_acme.call.durationSeconds", "_acme.call.durationSeconds: must be at least 0"),
    ]
    # and AEP's batch holds the two valid rows only
    (listed,) = admin.batches()
    stored = emulator_client(emulator, SystemClock(), FAST).catalog.wait_for_batch(
        listed["id"], timeout=60, poll_interval=0.01
    )
    assert stored.status == "success"
    assert stored.metrics is not None
    assert stored.metrics.input_record_count == 2


def with_intent(setup: dict[str, Any]) -> dict[str, Any]:
    """The setup file with ``_acme.call.intent`` added to the field group (an additive change)."""
    extended: dict[str, Any] = json.loads(json.dumps(setup))
    extended["fieldGroups"][0]["fields"]["call"]["properties"]["intent"] = {"type": "string"}
    return extended


def test_a_field_added_in_aep_while_the_function_holds_the_old_schema_is_not_refused(
    stream, emulator, admin, inlet
) -> None:
    # Given a container that fetched the schema (the recheck bound set to 0 s: "older than the bound")
    rt = stream.runtime(AEP_SCHEMA_RECHECK_SECONDS="0")
    assert stream([json.dumps(event(1))], rt) == {"batchItemFailures": []}
    assert len(schema_gets(admin)) == 1
    # When setup adds _acme.call.intent in AEP, and records with it arrive (TTL 900 s: not yet expired)
    apply(setup_api(env_of(emulator), FAST), parse(with_intent(SETUP)))
    answer = stream(
        [
            json.dumps(event(2, call={"direction": "inbound", "intent": "refund"})),
            json.dumps(event(3, nickname="x")),
        ],
        rt,
    )
    # Then the record with the new field is sent (the schema was fetched again) and AEP accepts it;
    # a key AEP's schema does not have either is still refused, with its path
    assert answer == {"batchItemFailures": []}
    assert admin.streamed()["accepted"] == {inlet["datasetId"]: 2}
    assert admin.streamed()["failed"] == []
    found = letters(stream.dlq)
    assert set(found) == {"v-3"}
    assert found["v-3"]["aep.error.field"] == "_acme.nickname"
    assert len(schema_gets(admin)) >= 2


def test_an_unknown_field_goes_back_to_the_queue_when_the_schema_cannot_be_fetched_again(
    stream, emulator, admin, inlet
) -> None:
    # Given a container holding the schema, then a field added in AEP and a Schema Registry answering 503
    rt = stream.runtime(AEP_SCHEMA_RECHECK_SECONDS="0")
    assert stream([json.dumps(event(1))], rt) == {"batchItemFailures": []}
    apply(setup_api(env_of(emulator), FAST), parse(with_intent(SETUP)))
    admin.faults({"path": "^/data/foundation/schemaregistry", "status": 503})
    # When a record with the new field arrives with a valid one
    answer = stream(
        [json.dumps(event(2, call={"direction": "inbound", "intent": "refund"})), json.dumps(event(3))], rt
    )
    # Then the record with the new field goes back to the queue (not the DLQ), the valid one is sent
    assert answer == {"batchItemFailures": [{"itemIdentifier": str(uuid.UUID(int=1))}]}
    assert letters(stream.dlq) == {}
    assert admin.streamed()["accepted"] == {inlet["datasetId"]: 2}
    # When the registry is back, the retried record is sent
    admin.faults()
    again = stream([json.dumps(event(2, call={"direction": "inbound", "intent": "refund"}))], rt)
    assert again == {"batchItemFailures": []}
    assert admin.streamed()["accepted"] == {inlet["datasetId"]: 3}


def batch_runtime(emulator, tmp_path, dataset_id: str, **env: str) -> Any:
    queue_url = create_resources()
    environ = {
        "BATCH_ROUTES": json.dumps([{"prefix": "calls/", "dataset_id": dataset_id}]),
        "BATCH_LEDGER_TABLE": LEDGER,
        "BATCH_IDEMPOTENCY_TABLE": IDEMPOTENCY,
        "BATCH_QUEUE_URL": queue_url,
        "BATCH_SPOOL_DIR": str(tmp_path),
        **env,
    }
    return batch_service.build_runtime(environ, emulator_client(emulator, SystemClock(), FAST))


def test_a_file_with_a_field_added_in_aep_is_retried_not_refused_when_the_schema_cannot_be_rechecked(
    emulator, admin, aws, inlet, tmp_path
) -> None:
    # Given a batch container that read a first file against the schema before the field was added
    rt = batch_runtime(emulator, tmp_path, inlet["datasetId"], AEP_SCHEMA_RECHECK_SECONDS="0")
    batch_service.set_runtime(rt)
    handler = load_app("batch_ingest").lambda_handler
    try:
        first = handler(sqs_of(put("calls/a.ndjson", (json.dumps(event(1)) + "\n").encode())), context())
        assert first == {"batchItemFailures": []}
        apply(setup_api(env_of(emulator), FAST), parse(with_intent(SETUP)))
        admin.faults({"path": "^/data/foundation/schemaregistry", "status": 503})
        # When a file with the new field arrives while the registry answers 503
        row = event(2, call={"direction": "inbound", "intent": "refund"})
        body = (json.dumps(event(3)) + "\n" + json.dumps(row) + "\n").encode()
        message = sqs_of(put("calls/b.ndjson", body))
        retried = handler(message, context())
        # Then the file is retried (its message back to the queue), none of its rows refused
        assert len(retried["batchItemFailures"]) == 1
        assert [i.get("records_refused", 0) for i in file_items("calls/b.ndjson")] in ([], [0])
        # When the registry is back and the message comes again, Then both rows are uploaded, none refused
        admin.faults()
        again = handler(message, context())
        assert again == {"batchItemFailures": []}
    finally:
        batch_service.set_runtime(None)
    (item,) = file_items("calls/b.ndjson")
    assert (item["records_read"], item["records_sent"], item["records_refused"]) == (2, 2, 0)


def file_items(key: str) -> list[dict[str, Any]]:
    return [i for pk, i in ledger_items().items() if pk.startswith("file#") and i.get("key") == key]


def context() -> FakeLambdaContext:
    return FakeLambdaContext(remaining_ms=600_000)
