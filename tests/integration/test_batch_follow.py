"""The batch follow-up invoked as Lambda would: the emulator over HTTP, moto for S3 and DynamoDB.

The ledger items are seeded here exactly as BATCH-DESIGN.md describes them (the batch function writes them).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import boto3
import pytest

from aep import AepClient, BytesSource, RetryPolicy, SystemClock
from aep.tenants import Tenant, TenantRegistry
from aep.tenants.clients import ClientCache
from aep_emulator import Emulator
from batch_follow import service
from demo.resources import create_drop_bucket, create_table, template_resources
from tests.integration.conftest import (
    CALL_EVENTS,
    CALLERS,
    EVENTS_INLET,
    call_event,
    caller,
    emulator_client,
    envelope,
    ndjson,
)
from tests.support.events import load_event
from tests.support.fakes import FakeLambdaContext
from tests.support.lambdas import load_app

pytestmark = pytest.mark.integration
PHONE = "+14155550177"
DROP = "aep-drop"
LEDGER = "batch-ledger"


@pytest.fixture
def ledger_table(aws: None) -> str:
    create_table(LEDGER, "BatchLedgerTable", template_resources())
    return LEDGER


@pytest.fixture
def bucket(aws: None) -> str:
    create_drop_bucket(DROP)
    return DROP


@pytest.fixture
def aep(emulator: Emulator, aws: None) -> AepClient:
    """Real time: the handler's deadline is measured on the clock the client uses."""
    return emulator_client(emulator, SystemClock(), RetryPolicy(max_attempts=3, base=0.01, max_wait=0.05))


@pytest.fixture
def invoke(aep: AepClient, ledger_table: str, bucket: str):
    app = load_app("batch_follow")
    state: dict[str, Any] = {"now": time.time()}

    def run(remaining_ms: int = 60_000, **env: str) -> dict[str, Any]:
        environ = {
            "BATCH_LEDGER_TABLE": ledger_table,
            "BATCH_DROP_BUCKET": bucket,
            "BATCH_FOLLOW_SAFETY_SECONDS": "0.5",
            "STREAM_DATASET_ID": CALL_EVENTS,
            **env,
        }
        default = Tenant(
            tenant_id="default",
            sandbox_name="prod",
            credentials_secret_id="aep/credentials",
            token_secret_id="aep/token",
        )
        rt = service.build_runtime(
            environ,
            clients=ClientCache(aep.settings, default=lambda: aep),
            registry=TenantRegistry(None, default),
            now=lambda: float(state["now"]),
        )
        service.set_runtime(rt)
        context = FakeLambdaContext(function_name="batch-follow", remaining_ms=remaining_ms)
        return dict(app.lambda_handler(load_event("eventbridge-schedule.json"), context))

    run.state = state  # type: ignore[attr-defined]
    yield run
    service.set_runtime(None)


def file_pk(bucket: str, key: str, version: str) -> str:
    return "file#" + hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()


def seed(
    aep: AepClient,
    files: list[dict[str, Any]],
    *,
    dataset: str = CALL_EVENTS,
    partial: int | None = None,
    completed_at: float | None = None,
) -> str:
    """Drop each file in S3, upload its records as one AEP batch, COMPLETE it, and write the ledger items
    batchfn writes: one file item per file, one batch item, pending."""
    s3, table = boto3.client("s3"), boto3.client("dynamodb")
    batch = aep.batches.create(dataset, "json", multi_line_json=False, partial_ingestion_percent=partial)
    pks = []
    for n, spec in enumerate(files):
        body = ndjson(spec["records"])
        put = s3.put_object(Bucket=DROP, Key=spec["key"], Body=body)
        version = put["VersionId"]
        aep_file = f"part-{n}.json"
        aep.batches.upload(batch.id, dataset, aep_file, BytesSource(body))
        pk = file_pk(DROP, spec["key"], version)
        pks.append(pk)
        item: dict[str, Any] = {
            "pk": {"S": pk},
            "bucket": {"S": DROP},
            "key": {"S": spec["key"]},
            "version": {"S": version},
            "size": {"N": str(len(body))},
            "tenant": {"S": "default"},
            "dataset_id": {"S": dataset},
            "route": {"S": "calls/"},
            "format": {"S": "ndjson"},
            "batch_id": {"S": batch.id},
            "state": {"S": "uploaded"},
            "records_read": {"N": str(len(spec["records"]) + spec.get("refused", 0))},
            "records_sent": {"N": str(len(spec["records"]))},
            "records_refused": {"N": str(spec.get("refused", 0))},
            "aep_files": {"L": [{"S": aep_file}]},
            "updated_at": {"N": str(int(time.time()))},
        }
        if spec.get("refused"):
            refusals = f"_reports/{spec['key']}.refusals.jsonl"
            line = {"index": 0, "line": 1, "field": "timestamp", "reason": "timestamp has no offset"}
            s3.put_object(Bucket=DROP, Key=refusals, Body=json.dumps(line).encode() + b"\n")
            item["refusals_key"] = {"S": refusals}
        table.put_item(TableName=LEDGER, Item=item)
    aep.batches.complete(batch.id)
    table.put_item(
        TableName=LEDGER,
        Item={
            "pk": {"S": f"batch#{batch.id}"},
            "tenant": {"S": "default"},
            "dataset_id": {"S": dataset},
            "files": {"L": [{"S": pk} for pk in pks]},
            "state": {"S": "completed"},
            "completed_at": {"N": str(int(completed_at if completed_at is not None else time.time()))},
            "pending": {"S": "1"},
        },
    )
    return batch.id


def report(key: str) -> dict[str, Any]:
    body = boto3.client("s3").get_object(Bucket=DROP, Key=f"_reports/{key}.report.json")["Body"].read()
    return dict(json.loads(body))


def tags(key: str) -> dict[str, str]:
    answer = boto3.client("s3").get_object_tagging(Bucket=DROP, Key=key)
    return {t["Key"]: t["Value"] for t in answer["TagSet"]}


def batch_item(batch_id: str) -> dict[str, Any]:
    item = boto3.client("dynamodb").get_item(TableName=LEDGER, Key={"pk": {"S": f"batch#{batch_id}"}})
    return dict(item["Item"])


def keys(prefix: str = "") -> dict[str, str]:
    """Every object under ``prefix`` with its ETag (what a re-run must leave alone)."""
    listed = boto3.client("s3").list_objects_v2(Bucket=DROP, Prefix=prefix).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in listed}


def test_a_successful_batch_is_reported_tagged_and_final(invoke, aep):
    # Given a completed batch of one good file, pending in the ledger
    records = [call_event(PHONE, n) for n in range(3)]
    batch_id = seed(aep, [{"key": "calls/2026/one.ndjson", "records": records}])

    # When the follow-up runs (the emulator answers "staging" once, then "success")
    first = invoke()
    second = invoke()

    # Then the file's report says success with AEP's counts, the object is tagged, the batch final
    assert (first["followed"], first["succeeded"]) == (1, 0)
    assert (second["followed"], second["succeeded"], second["errors"]) == (1, 1, 0)
    got = report("calls/2026/one.ndjson")
    assert got["status"] == "success"
    assert got["batchId"] == batch_id
    assert got["records"] == {"read": 3, "sent": 3, "refusedHere": 0, "failedInAep": 0}
    assert got["aep"]["status"] == "success"
    assert got["aep"]["metrics"]["outputRecordCount"] == 3
    assert got["aepRowErrors"] is None
    assert got["file"]["bucket"] == DROP
    assert got["reason"] is None
    assert tags("calls/2026/one.ndjson") == {"aep:ingested": "success"}
    item = batch_item(batch_id)
    assert (item["state"]["S"], item["aep_status"]["S"], "pending" in item) == ("final", "success", False)


def test_a_failed_batch_reports_aeps_row_errors(invoke, aep):
    # Given a batch whose only record breaks the schema (no partial ingestion)
    bad = call_event(PHONE, 1, loyaltyTier="gold")
    seed(aep, [{"key": "calls/bad.ndjson", "records": [bad]}])

    # When the follow-up runs until the batch is final
    runs = [invoke(), invoke()]

    # Then the report says failed, with AEP's reason and its row errors written next to it
    assert runs[1]["failed"] == 1
    got = report("calls/bad.ndjson")
    assert got["status"] == "failed"
    assert got["records"]["failedInAep"] == 1
    assert "errors" in got["reason"]
    rows_key = got["aepRowErrors"]
    rows = boto3.client("s3").get_object(Bucket=DROP, Key=rows_key)["Body"].read().decode().splitlines()
    assert len(rows) == 1
    row = json.loads(rows[0])
    assert row["_filename"] == "part-0.json"
    assert "loyaltyTier" in row["_errors"][0]["message"]
    assert tags("calls/bad.ndjson") == {}


def test_a_partial_batch_joins_our_refusals_and_aeps(invoke, aep):
    # Given two files in one batch: one clean, one with a record we refused and one AEP refuses
    good = [call_event(PHONE, n) for n in range(4)]
    mixed = [call_event(PHONE, 10), call_event(PHONE, 11, loyaltyTier="gold")]
    seed(
        aep,
        [
            {"key": "calls/a.ndjson", "records": good},
            {"key": "calls/b.ndjson", "records": mixed, "refused": 1},
        ],
        partial=50,
    )

    # When the follow-up runs until the batch is final
    runs = [invoke(), invoke()]

    # Then each file has its own report; the mixed one is partial with both kinds of refusal
    assert (runs[1]["partial"], runs[1]["failed"]) == (1, 0)
    clean, partial = report("calls/a.ndjson"), report("calls/b.ndjson")
    assert clean["status"] == "success"
    assert clean["records"]["failedInAep"] == 0
    assert partial["status"] == "partial"
    assert partial["records"] == {"read": 3, "sent": 2, "refusedHere": 1, "failedInAep": 1}
    assert partial["refusals"] == "_reports/calls/b.ndjson.refusals.jsonl"
    assert partial["aep"]["metrics"]["failedRecordCount"] == 1
    assert clean["aepRowErrors"] == partial["aepRowErrors"] is not None
    assert tags("calls/a.ndjson") == {"aep:ingested": "success"}
    assert tags("calls/b.ndjson") == {"aep:ingested": "partial"}


def test_success_can_move_the_object_instead(invoke, aep):
    seed(aep, [{"key": "calls/moved.ndjson", "records": [call_event(PHONE, 1)]}])

    invoke(BATCH_ON_SUCCESS="move", BATCH_SUCCESS_PREFIX="_ingested/")
    invoke(BATCH_ON_SUCCESS="move", BATCH_SUCCESS_PREFIX="_ingested/")

    assert "calls/moved.ndjson" not in keys("calls/")
    assert tags("_ingested/calls/moved.ndjson") == {"aep:ingested": "success"}
    assert report("calls/moved.ndjson")["status"] == "success"


def test_a_batch_pending_too_long_is_reported_stuck_once_and_still_followed(invoke, aep, emulator):
    # Given a batch AEP keeps processing, completed three hours ago
    slow = [{"key": "calls/slow.ndjson", "records": [call_event(PHONE, 1)]}]
    batch_id = seed(aep, slow, completed_at=time.time() - 3 * 3600)
    emulator.state.batches[batch_id].polls_left = 100  # Catalog answers "staging" this many more times

    # When the follow-up runs twice
    first, second = invoke(), invoke()

    # Then one stuck report (and one stuck count), and the batch still pending
    assert (first["stuck"], second["stuck"]) == (1, 0)
    got = report("calls/slow.ndjson")
    assert got["status"] == "stuck"
    assert "pending in AEP for 180 minutes" in got["reason"]
    item = batch_item(batch_id)
    assert (item["pending"]["S"], item["state"]["S"]) == ("1", "completed")

    # And when AEP finishes, the stuck report gives way to the final one
    emulator.state.batches[batch_id].polls_left = 0
    assert invoke()["succeeded"] == 1
    assert report("calls/slow.ndjson")["status"] == "success"


def test_a_streamed_record_refused_after_its_207_lands_in_the_rejects(invoke, aep, emulator):
    # Given the stream function's dataset got a record AEP acknowledged, then refused
    refused = call_event(PHONE, 1, loyaltyTier="gold")
    answer = aep.streaming.send_many(
        EVENTS_INLET,
        [envelope(emulator, CALL_EVENTS, refused), envelope(emulator, CALL_EVENTS, call_event(PHONE, 2))],
    )
    assert all(r.ok for r in answer)

    # When the follow-up runs
    result = invoke()

    # Then the record and its reason are in the streaming rejects, counted, and the watermark moved
    assert result["streamRecordsFailedInAep"] == 1
    written = keys(f"_reports/_streaming/default/{CALL_EVENTS}/")
    assert len(written) == 1
    body = boto3.client("s3").get_object(Bucket=DROP, Key=next(iter(written)))["Body"].read()
    lines = [json.loads(x) for x in body.decode().splitlines()]
    assert [x["record"] for x in lines] == [refused]
    assert "loyaltyTier" in lines[0]["reasons"][0]
    mark = boto3.client("dynamodb").get_item(
        TableName=LEDGER, Key={"pk": {"S": f"stream#default#{CALL_EVENTS}"}}
    )["Item"]
    assert int(mark["created_after"]["N"]) > 0


def test_a_second_run_writes_nothing_new(invoke, aep, emulator):
    # Given a final batch and a failed streaming batch, both followed already
    seed(aep, [{"key": "calls/once.ndjson", "records": [call_event(PHONE, 1)]}])
    aep.streaming.send_many(EVENTS_INLET, [envelope(emulator, CALL_EVENTS, call_event(PHONE, 2, bogus=1))])
    invoke()
    invoke()
    before = keys()

    # When the follow-up runs again
    again = invoke()

    # Then it finds nothing to do and writes nothing
    assert (again["followed"], again["reports"], again["streamRecordsFailedInAep"]) == (0, 0, 0)
    assert keys() == before


def test_one_batch_failing_does_not_stop_the_others(invoke, aep):
    # Given a pending batch whose file item is broken (no such AEP batch) and a good one
    table = boto3.client("dynamodb")
    table.put_item(
        TableName=LEDGER,
        Item={
            "pk": {"S": "batch#01NOSUCH"},
            "tenant": {"S": "no-such-tenant"},
            "files": {"L": []},
            "state": {"S": "completed"},
            "completed_at": {"N": "1"},
            "pending": {"S": "1"},
        },
    )
    seed(aep, [{"key": "callers/fine.ndjson", "records": [caller(PHONE, "first")]}], dataset=CALLERS)

    invoke()
    result = invoke()

    assert (result["errors"], result["succeeded"]) == (1, 1)
    assert report("callers/fine.ndjson")["status"] == "success"
    assert batch_item("01NOSUCH")["pending"]["S"] == "1"
