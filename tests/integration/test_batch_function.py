"""The batch function invoked as Lambda would: S3 notifications in SQS events, moto for S3/DynamoDB/SQS,
the emulator over HTTP for AEP."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import boto3
import pytest

from aep import AepClient, RetryPolicy, SystemClock
from batch_ingest import service
from tests.integration.conftest import CALL_EVENTS, CALLERS, call_event, caller, emulator_client
from tests.support.batch import (
    BUCKET,
    IDEMPOTENCY,
    LEDGER,
    create_resources,
    ledger_items,
    put,
    read_json,
    read_lines,
    s3_record,
    sqs_of,
)
from tests.support.fakes import FakeLambdaContext
from tests.support.lambdas import load_app

pytestmark = pytest.mark.integration
PHONE = "+14155550100"
ROUTES = [
    {"prefix": "calls/", "dataset_id": CALL_EVENTS},
    {"prefix": "callers/", "dataset_id": CALLERS, "record_class": "profile"},
    {
        "prefix": "calls-csv/",
        "dataset_id": CALL_EVENTS,
        "mapping": {
            "columns": {
                "direction": "_acme.call.direction",
                "duration": {"path": "_acme.call.durationSeconds", "type": "integer"},
            },
            "identities": [{"column": "phone", "namespace": "Phone", "primary": True}],
            "id_column": "call_id",
            "timestamp": {"column": "ended_at"},
        },
    },
]


class Countdown(FakeLambdaContext):
    """A context whose remaining time drops under any margin after ``calls`` questions."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 600_000 if self.calls >= 0 else 1_000


def real_client(emulator, attempts: int = 4) -> AepClient:
    return emulator_client(
        emulator, SystemClock(), RetryPolicy(max_attempts=attempts, base=0.01, max_wait=0.05)
    )


@pytest.fixture
def queue_url(aws) -> str:
    return create_resources()


@pytest.fixture
def invoke(emulator, queue_url, tmp_path):
    app = load_app("batch_ingest")
    state: dict[str, Any] = {"attempts": 4}

    def run(event: dict[str, Any], context: Any = None, **env: str) -> dict[str, Any]:
        environ = {
            "BATCH_ROUTES": json.dumps(ROUTES),
            "BATCH_LEDGER_TABLE": LEDGER,
            "BATCH_IDEMPOTENCY_TABLE": IDEMPOTENCY,
            "BATCH_QUEUE_URL": queue_url,
            "BATCH_SPOOL_DIR": str(tmp_path),
            **env,
        }
        if state.get("env") != environ:
            state["env"] = environ
            state["runtime"] = service.build_runtime(environ, real_client(emulator, state["attempts"]))
        service.set_runtime(state["runtime"])
        return dict(app.lambda_handler(event, context or FakeLambdaContext(remaining_ms=600_000)))

    run.state = state  # type: ignore[attr-defined]
    yield run
    service.set_runtime(None)


def ndjson(records: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def batches(client: AepClient, admin) -> list[dict[str, Any]]:
    found = []
    for listed in admin.batches():
        metrics = None
        if listed["status"] in {"success", "failed"}:
            metrics = client.catalog.wait_for_batch(listed["id"], timeout=60, poll_interval=0.01).metrics
        found.append({"id": listed["id"], "status": listed["status"], "metrics": metrics})
    return found


def file_items() -> list[dict[str, Any]]:
    return [item for pk, item in ledger_items().items() if pk.startswith("file#")]


def test_ndjson_records_are_validated_and_land_in_one_completed_batch(invoke, emulator, admin, client):
    good = [call_event(PHONE, n) for n in range(3)]
    bad_identity = call_event(PHONE, 3)
    del bad_identity["identityMap"]
    body = ndjson([*good, bad_identity]) + b'{"not json\n' + ndjson([call_event(PHONE, 5)])

    answer = invoke(sqs_of(put("calls/day 1/events.ndjson", body)))

    assert answer == {"batchItemFailures": []}
    (batch,) = batches(client, admin)
    assert batch["status"] == "success"
    assert batch["metrics"].output_record_count == 4
    (item,) = file_items()
    assert (item["state"], item["batch_id"], item["key"]) == (
        "uploaded",
        batch["id"],
        "calls/day 1/events.ndjson",
    )
    assert (item["records_read"], item["records_sent"], item["records_refused"]) == (6, 4, 2)
    ledger_batch = ledger_items()[f"batch#{batch['id']}"]
    assert (ledger_batch["state"], ledger_batch["pending"]) == ("completed", "1")
    assert ledger_batch["files"] == [item["pk"]]
    refusals = read_lines(item["refusals_key"])
    assert [(r["index"], r["line"]) for r in refusals] == [(3, 4), (4, 5)]
    assert all(r["reason"] for r in refusals)


def test_gzip_json_array_and_csv_with_a_mapping_each_reach_aep(invoke, emulator, admin, client):
    array = json.dumps([caller(PHONE, "caller 1"), caller("+14155550101", "caller 2")]).encode()
    csv_text = (
        "\ufeffcall_id;phone;direction;duration;ended_at\r\n"
        "c-1;(415) 555-0100;inbound;61;2024-05-01T10:00:00Z\r\n"
        'c-2;+1 415 555 0101;"out\nbound";x;2024-05-01T11:00:00Z\r\n'
        "=c-3;+1 415 555 0102;inbound;62;2024-05-01T12:00:00Z\r\n"
    )

    answer = invoke(
        sqs_of(
            put("callers/all.json.gz", gzip.compress(array)),
            put("calls-csv/today.csv", csv_text.encode()),
        )
    )

    assert answer == {"batchItemFailures": []}
    found = {b["id"]: b for b in batches(client, admin)}
    items = {item["key"]: item for item in file_items()}
    callers, calls = items["callers/all.json.gz"], items["calls-csv/today.csv"]
    assert callers["batch_id"] != calls["batch_id"]  # two datasets, two batches
    assert found[callers["batch_id"]]["metrics"].output_record_count == 2
    assert found[calls["batch_id"]]["metrics"].output_record_count == 2
    (refusal,) = read_lines(calls["refusals_key"])  # the quoted newline keeps row 2 on lines 3-4
    assert (refusal["index"], refusal["line"], refusal["field"]) == (1, 3, "duration")


def test_many_small_files_share_one_batch_each_traced_to_it(invoke, emulator, admin, client):
    records = [put(f"calls/many/{n}.ndjson", ndjson([call_event(PHONE, n)])) for n in range(5)]
    empty = put("calls/many/empty.ndjson", b"")

    answer = invoke(sqs_of(*records, empty))

    assert answer == {"batchItemFailures": []}
    (batch,) = batches(client, admin)
    assert (batch["status"], batch["metrics"].output_record_count) == ("success", 5)
    items = {item["key"]: item for item in file_items()}
    assert {items[f"calls/many/{n}.ndjson"]["batch_id"] for n in range(5)} == {batch["id"]}
    assert sorted(ledger_items()[f"batch#{batch['id']}"]["files"]) == sorted(
        items[f"calls/many/{n}.ndjson"]["pk"] for n in range(5)
    )
    report = read_json("_reports/calls/many/empty.ndjson.report.json")
    assert (report["status"], report["batchId"], report["file"]["key"]) == (
        "refused",
        None,
        "calls/many/empty.ndjson",
    )
    assert report["reason"]
    assert items["calls/many/empty.ndjson"]["state"] == "refused"


def test_duplicate_notifications_give_one_batch(invoke, emulator, admin, client):
    record = put("calls/dup.ndjson", ndjson([call_event(PHONE, 1)]))

    first = invoke(sqs_of(record, record))
    again = invoke(sqs_of(record))

    assert first == again == {"batchItemFailures": []}
    assert len(admin.batches()) == 1
    # after the idempotency record is gone, the ledger still knows the version
    boto3.resource("dynamodb").Table(IDEMPOTENCY).delete_item(Key={"id": _only_idempotency_key()})
    assert invoke(sqs_of(record)) == {"batchItemFailures": []}
    assert len(admin.batches()) == 1
    # a new version of the same key is a new file
    assert invoke(sqs_of(put("calls/dup.ndjson", ndjson([call_event(PHONE, 2)])))) == {
        "batchItemFailures": []
    }
    assert len(admin.batches()) == 2


def _only_idempotency_key() -> str:
    (item,) = boto3.resource("dynamodb").Table(IDEMPOTENCY).scan()["Items"]
    return str(item["id"])


def test_refused_keys_are_reported_and_our_reports_ignored(invoke, emulator, admin):
    body = ndjson([call_event(PHONE, 1)])
    boto3.client("s3").put_object(Bucket=BUCKET, Key="calls/../x.ndjson", Body=body)
    dots = s3_record("calls/../x.ndjson", len(body), "e", None)
    unrouted = put("elsewhere/x.ndjson", body)
    ours = put("_reports/calls/x.ndjson.report.json", b"{}")
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET})

    answer = invoke(sqs_of(dots, unrouted, ours, test_event))

    assert answer == {"batchItemFailures": []}
    assert admin.batches() == []
    keys = [
        o["Key"]
        for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="_reports/_refused-keys/")[
            "Contents"
        ]
    ]
    reasons = sorted(read_json(key)["reason"] for key in keys)
    assert reasons == ["no route matches the key", "the key holds a '.' or '..' segment"]
    assert ledger_items() == {}


def test_parquet_passes_through_and_a_chunked_upload_resumes_after_a_fault(invoke, emulator, admin, client):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([call_event(PHONE, n) for n in range(50)])
    sink = io.BytesIO()
    pq.write_table(table, sink)
    data = sink.getvalue()
    invoke.state["attempts"] = 1  # the client gives up at once: the function resumes from AEP's HEAD
    admin.faults({"path": r"/files/", "method": "PATCH", "status": 503, "skip": 1, "first": 1})

    answer = invoke(
        sqs_of(put("calls/export.parquet", data), put("calls/not.parquet", b"PAR1 but not at the end")),
        BATCH_SINGLE_PUT_MAX_BYTES="1000",
        BATCH_CHUNK_BYTES="1024",
    )

    assert answer == {"batchItemFailures": []}
    (batch,) = batches(client, admin)
    assert (batch["status"], batch["metrics"].output_record_count) == ("success", 50)
    methods = [(r["method"], r["path"]) for r in admin.requests() if "/files/" in r["path"]]
    assert [m for m, _ in methods].count("HEAD") == 1
    assert [m for m, _ in methods].count("PATCH") == -(-len(data) // 1024) + 1  # every part, one twice
    assert read_json("_reports/calls/not.parquet.report.json")["status"] == "refused"


def test_a_file_continues_across_invocations_from_its_checkpoint(invoke, emulator, admin, client, queue_url):
    records = [call_event(PHONE, n) for n in range(10)]
    event = sqs_of(put("calls/long.ndjson.gz", gzip.compress(ndjson(records))))
    env = {"BATCH_GROUP_THRESHOLD_BYTES": "0", "BATCH_TIME_MARGIN_SECONDS": "5"}

    steps = 0
    while event["Records"]:
        assert invoke(event, Countdown(calls=4), **env) == {"batchItemFailures": []}
        steps += 1
        event = sqs_of(*[m["Body"] for m in _drain(queue_url)])

    assert steps > 2
    (batch,) = batches(client, admin)
    assert (batch["status"], batch["metrics"].output_record_count) == ("success", 10)
    (item,) = file_items()
    assert (item["state"], item["records_read"], item["records_sent"]) == ("uploaded", 10, 10)
    assert "checkpoint" not in item
    assert len(item["aep_files"]) == steps


def test_a_refused_file_aborts_its_own_batch(invoke, emulator, admin, client, queue_url):
    whole = gzip.compress(ndjson([call_event(PHONE, n) for n in range(200)]))
    event = sqs_of(put("calls/cut.ndjson.gz", whole[: len(whole) - 20]))  # a truncated gzip
    env = {"BATCH_GROUP_THRESHOLD_BYTES": "0", "BATCH_TIME_MARGIN_SECONDS": "5"}

    assert invoke(event, Countdown(calls=3), **env) == {"batchItemFailures": []}
    (continuation,) = _drain(queue_url)
    assert invoke(sqs_of(continuation["Body"]), **env) == {"batchItemFailures": []}

    (listed,) = admin.batches()
    assert listed["status"] in {"aborted", "failed"}
    (item,) = file_items()
    assert item["state"] == "refused"
    assert ledger_items()[f"batch#{listed['id']}"]["aep_status"] == "aborted"
    report = read_json("_reports/calls/cut.ndjson.gz.report.json")
    assert (report["status"], report["records"]["sent"]) == ("refused", 0)


def _drain(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = [
        dict(m) for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    for message in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def test_an_aep_outage_sends_the_file_back_and_its_retry_makes_one_batch(invoke, emulator, admin, client):
    invoke.state["attempts"] = 1
    admin.faults({"path": r"/files/", "method": "PUT", "status": 503, "first": 1})
    record = put("calls/retry.ndjson", ndjson([call_event(PHONE, 1), call_event(PHONE, 2)]))
    event = sqs_of(record, json.dumps({"neither": "S3 nor ours"}))

    first = invoke(event)

    assert {f["itemIdentifier"] for f in first["batchItemFailures"]} == {
        r["messageId"] for r in event["Records"]
    }
    (aborted,) = admin.batches()
    assert aborted["status"] != "success"
    (item,) = file_items()
    assert item["state"] == "reading"

    assert invoke(sqs_of(record)) == {"batchItemFailures": []}

    done = [b for b in batches(client, admin) if b["status"] == "success"]
    assert [b["metrics"].output_record_count for b in done] == [2]
    (item,) = file_items()
    assert (item["state"], item["batch_id"]) == ("uploaded", done[0]["id"])


def test_parquet_is_read_at_the_notified_version_even_when_overwritten_since(invoke, emulator, admin, client):
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([call_event(PHONE, n) for n in range(7)]), sink)
    notified = put("calls/overwritten.parquet", sink.getvalue())
    put("calls/overwritten.parquet", b"a later version, not Parquet at all")  # written before we read

    answer = invoke(sqs_of(notified), BATCH_SINGLE_PUT_MAX_BYTES="1000", BATCH_CHUNK_BYTES="1024")

    assert answer == {"batchItemFailures": []}
    (batch,) = batches(client, admin)
    assert (batch["status"], batch["metrics"].output_record_count) == ("success", 7)
