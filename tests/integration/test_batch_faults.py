"""The batch function when a step after the upload fails (issue 9, outside trial): every file ends in one
place and every record in one batch. The trial's inputs: one-record NDJSON files, faults injected in the
emulator (COMPLETE answered 503) or in one S3/DynamoDB write of the function."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from aep.tenants import Tenant, TenantRegistry
from aep.tenants.clients import ClientCache
from batch_follow import service as follow_service
from batch_ingest import ledger as ledger_module
from batch_ingest import reports as reports_module
from batch_ingest.ingest import GONE
from tests.integration.conftest import call_event
from tests.integration.test_batch_end_to_end import aep, follow_until_reported, stack  # noqa: F401
from tests.integration.test_batch_function import (  # noqa: F401
    Countdown,
    _drain,
    batches,
    file_items,
    invoke,
    ndjson,
    queue_url,
)
from tests.support.batch import BUCKET, LEDGER, ledger_items, put, read_json, read_lines, sqs_of
from tests.support.events import load_event
from tests.support.fakes import FakeLambdaContext
from tests.support.lambdas import load_app

pytestmark = pytest.mark.integration
PHONE = "+14155550100"
COMPLETE_FAILS = {"path": r"/batches/[^/]+$", "method": "POST", "status": 503}


def failed_ids(answer: dict[str, Any]) -> set[str]:
    return {f["itemIdentifier"] for f in answer["batchItemFailures"]}


def only(event: dict[str, Any], ids: set[str]) -> dict[str, Any]:
    return {"Records": [r for r in event["Records"] if r["messageId"] in ids]}


def batch_items() -> dict[str, dict[str, Any]]:
    return {pk.removeprefix("batch#"): item for pk, item in ledger_items().items() if pk.startswith("batch#")}


def puts_by_file(admin) -> dict[str, list[str]]:
    """AEP file name -> the batches it was PUT into (the emulator's request log)."""
    found: dict[str, list[str]] = {}
    for request in admin.requests():
        path = request["path"]
        if request["method"] != "PUT" or "/batches/" not in path or "/files/" not in path:
            continue
        batch_id = path.split("/batches/")[1].split("/")[0]
        name = path.split("/files/")[1]
        if batch_id not in found.setdefault(name, []):
            found[name].append(batch_id)
    return found


# -- 1: COMPLETE fails (AEP down) -----------------------------------------------------------------------


def test_a_complete_that_fails_is_signalled_again_by_the_redelivery(invoke, admin, client):  # noqa: F811
    invoke.state["attempts"] = 1
    admin.faults({**COMPLETE_FAILS, "first": 1})
    event = sqs_of(put("calls/c1.ndjson", ndjson([call_event(PHONE, 1)])))

    first = invoke(event)

    assert failed_ids(first) == {event["Records"][0]["messageId"]}
    ((batch_id, item),) = batch_items().items()
    assert (item["state"], item["pending"]) == ("completing", "1")  # the follow-up would see it too

    second = invoke(event)  # SQS delivers the message again: idempotency's saved answer must not hide it

    assert second == {"batchItemFailures": []}
    assert batch_items()[batch_id]["state"] == "completed"
    ((found),) = batches(client, admin)
    assert (found["id"], found["status"], found["metrics"].output_record_count) == (batch_id, "success", 1)


def test_a_complete_that_fails_is_signalled_by_the_follow_up_and_the_file_reported(stack, admin):  # noqa: F811
    drop, follow = stack
    admin.faults({**COMPLETE_FAILS, "first": 3})  # every attempt of the client's retries fails

    answer = drop("calls/c2.ndjson", ndjson([call_event(PHONE, 2)]))

    assert len(answer["batchItemFailures"]) == 1
    got = follow_until_reported(follow, "calls/c2.ndjson")
    assert (got["status"], got["records"]["sent"]) == ("success", 1)
    assert batch_items()[got["batchId"]]["state"] == "final"


# -- 2: COMPLETE fails at the end of a continued file --------------------------------------------------


def test_a_complete_failing_after_a_continuation_leaves_its_neighbours_alone(invoke, admin, queue_url):  # noqa: F811
    invoke.state["attempts"] = 1
    env = {"BATCH_GROUP_THRESHOLD_BYTES": "0", "BATCH_TIME_MARGIN_SECONDS": "5"}
    event = sqs_of(put("calls/lc.ndjson", ndjson([call_event(PHONE, n) for n in range(6)])))
    invoke(event, Countdown(calls=4), **env)
    (continuation,) = _drain(queue_url)
    neighbour = put("calls/empty.ndjson", b"")  # refused at once, reported: no AEP call
    admin.faults({**COMPLETE_FAILS, "first": 1})
    event = sqs_of(continuation["Body"], neighbour)

    answer = invoke(event, **env)  # no exception: one message's trouble is that message's

    assert failed_ids(answer) == {event["Records"][0]["messageId"]}
    item = next(i for i in file_items() if i["key"] == "calls/lc.ndjson")
    assert (item["state"], item["records_sent"], "checkpoint" in item) == ("uploaded", 6, False)
    assert batch_items()[item["batch_id"]]["state"] == "completing"
    assert next(i for i in file_items() if i["key"] == "calls/empty.ndjson")["state"] == "refused"

    again = invoke(only(event, failed_ids(answer)), **env)

    assert again == {"batchItemFailures": []}
    assert batch_items()[item["batch_id"]]["state"] == "completed"
    assert {b["id"]: b["status"] for b in admin.batches()}[item["batch_id"]] == "success"


def test_one_message_raising_anywhere_fails_only_itself(invoke, monkeypatch):  # noqa: F811
    good = put("calls/ok.ndjson", ndjson([call_event(PHONE, 1)]))
    bad = put("calls/bad.ndjson", ndjson([call_event(PHONE, 2)]))
    real = reports_module.Reports.put_report

    def broken(self, bucket: str, key: str, report: dict[str, Any]) -> None:
        raise RuntimeError("S3 down")

    monkeypatch.setattr(reports_module.Reports, "put_report", broken)
    unroutable = put("elsewhere/x.ndjson", b"{}\n")  # its key refusal writes a report: that raises
    event = sqs_of(good, unroutable, bad)

    answer = invoke(event)

    assert failed_ids(answer) == {event["Records"][1]["messageId"]}
    monkeypatch.setattr(reports_module.Reports, "put_report", real)
    assert {i["key"]: i["state"] for i in file_items()} == {
        "calls/ok.ndjson": "uploaded",
        "calls/bad.ndjson": "uploaded",
    }


# -- 3: a file of a shared batch failing after its upload ----------------------------------------------


def test_refusal_lines_failing_once_do_not_ingest_a_shared_file_twice(invoke, admin, client, monkeypatch):  # noqa: F811
    real = reports_module.Reports.put_refusals
    calls = {"n": 0}

    def flaky(self: Any, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("S3 hiccup")
        real(self, *args, **kwargs)

    monkeypatch.setattr(reports_module.Reports, "put_refusals", flaky)
    a = put("calls/sa.ndjson", ndjson([call_event(PHONE, 1)]))
    b = put("calls/sb.ndjson", ndjson([call_event(PHONE, 2), {"bad": 1}]))
    event = sqs_of(a, b)

    first = invoke(event)
    assert failed_ids(first) == {event["Records"][1]["messageId"]}
    second = invoke(only(event, failed_ids(first)))

    assert second == {"batchItemFailures": []}
    found = batches(client, admin)
    assert sum(b["metrics"].output_record_count for b in found) == 2  # each record once
    assert all(len(ids) == 1 for ids in puts_by_file(admin).values())
    items = {i["key"]: i for i in file_items()}
    assert {i["state"] for i in items.values()} == {"uploaded"}
    for batch_id, item in batch_items().items():
        assert sorted(item["files"]) == sorted(i["pk"] for i in items.values() if i["batch_id"] == batch_id)


def test_a_shared_file_failing_after_upload_ends_in_the_same_batch(invoke, admin, client, monkeypatch):  # noqa: F811
    real = ledger_module.Ledger.add_file
    calls = {"n": 0}

    def flaky(self: Any, batch_id: str, file_pk: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the second file's AEP file is in the batch; the ledger write fails
            raise RuntimeError("DynamoDB hiccup")
        real(self, batch_id, file_pk)

    monkeypatch.setattr(ledger_module.Ledger, "add_file", flaky)
    a = put("calls/ta.ndjson", ndjson([call_event(PHONE, 1)]))
    b = put("calls/tb.ndjson", ndjson([call_event(PHONE, 2), call_event(PHONE, 3)]))
    event = sqs_of(a, b)

    first = invoke(event)

    assert failed_ids(first) == {event["Records"][1]["messageId"]}
    ((batch_id, item),) = batch_items().items()
    assert item["state"] == "open"  # not COMPLETEd while a file bound to it has not finished
    assert [b["status"] for b in admin.batches()] == ["loading"]

    second = invoke(only(event, failed_ids(first)))

    assert second == {"batchItemFailures": []}
    ((found),) = batches(client, admin)
    assert (found["id"], found["status"], found["metrics"].output_record_count) == (batch_id, "success", 3)
    assert sorted(batch_items()[batch_id]["files"]) == sorted(i["pk"] for i in file_items())
    assert {i["batch_id"] for i in file_items()} == {batch_id}
    assert json.dumps(puts_by_file(admin)).count(batch_id) == 2  # two AEP files, one batch each


def test_a_batch_held_open_by_a_file_whose_message_never_returns_is_reported_stuck(
    invoke,  # noqa: F811
    client,
    monkeypatch,
):
    # Given the second file of a shared batch fails after binding, and its message then sits in the DLQ
    real = ledger_module.Ledger.add_file
    calls = {"n": 0}

    def flaky(self: Any, batch_id: str, file_pk: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("DynamoDB hiccup")
        real(self, batch_id, file_pk)

    monkeypatch.setattr(ledger_module.Ledger, "add_file", flaky)
    event = sqs_of(
        put("calls/sa.ndjson", ndjson([call_event(PHONE, 1)])),
        put("calls/sb.ndjson", ndjson([call_event(PHONE, 2)])),
    )
    assert failed_ids(invoke(event)) == {event["Records"][1]["messageId"]}
    ((batch_id, item),) = batch_items().items()
    assert (item["state"], item["pending"]) == ("open", "1")  # in the follow-up's index since the binding

    # When the follow-up runs within the stuck delay, then three hours later, twice
    default = Tenant(tenant_id="default", sandbox_name="prod", credentials_secret_id="c", token_secret_id="t")
    clock = {"now": float(item["completed_at"]) + 60}
    follow_service.set_runtime(
        follow_service.build_runtime(
            {"BATCH_LEDGER_TABLE": LEDGER, "BATCH_DROP_BUCKET": BUCKET, "BATCH_FOLLOW_SAFETY_SECONDS": "0.5"},
            clients=ClientCache(client.settings, default=lambda: client),
            registry=TenantRegistry(None, default),
            now=lambda: clock["now"],
        )
    )
    app, context = (
        load_app("batch_follow"),
        FakeLambdaContext(function_name="batch-follow", remaining_ms=60_000),
    )
    try:
        early = app.lambda_handler(load_event("eventbridge-schedule.json"), context)
        clock["now"] += 3 * 3600
        late = app.lambda_handler(load_event("eventbridge-schedule.json"), context)
        again = app.lambda_handler(load_event("eventbridge-schedule.json"), context)
    finally:
        follow_service.set_runtime(None)

    # Then one stuck report per file of the batch, saying why, and the batch left open for the redrive
    assert (early["stuck"], late["stuck"], again["stuck"]) == (0, 1, 0)
    for key in ("calls/sa.ndjson", "calls/sb.ndjson"):
        report = read_json(f"_reports/{key}.report.json")
        assert (report["status"], report["batchId"]) == ("stuck", batch_id)
        assert "1 file(s) bound to the batch have not finished their upload" in report["reason"]
        assert "batch DLQ" in report["reason"]
    assert batch_items()[batch_id]["state"] == "open"


# -- 4: an object gone before it is read; a key with an invalid escape -----------------------------------


def test_an_object_deleted_before_it_is_read_is_refused_with_a_report_not_retried(invoke, admin):  # noqa: F811
    note = put("calls/gone.ndjson", ndjson([call_event(PHONE, 1)]))
    parquet = put("calls/gone.parquet", b"PAR1" + b"\0" * 16 + b"PAR1")
    s3 = boto3.client("s3")
    for gone in (note, parquet):
        obj = gone["s3"]["object"]
        s3.delete_object(Bucket=BUCKET, Key=unquote_plus(obj["key"]), VersionId=obj["versionId"])

    answer = invoke(sqs_of(note, parquet))

    assert answer == {"batchItemFailures": []}
    for key in ("calls/gone.ndjson", "calls/gone.parquet"):
        item = next(i for i in file_items() if i["key"] == key)
        assert (item["state"], item["file_reason"]) == ("refused", GONE)
        report = read_json(f"_reports/{key}.report.json")
        assert (report["status"], report["reason"], report["batchId"]) == ("refused", GONE, None)
    assert admin.batches() == []


def test_a_key_with_an_invalid_escape_is_refused_with_a_report_once(invoke):  # noqa: F811
    note = put("calls/bad2", ndjson([call_event(PHONE, 1)]))
    note["s3"]["object"]["key"] = "calls/%zz.ndjson"

    answer = invoke(sqs_of(note))

    assert answer == {"batchItemFailures": []}
    assert file_items() == []  # nothing to read: no ledger item left in "reading"
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="_reports/_refused-keys/")
    (only_report,) = listed["Contents"]
    report = read_json(only_report["Key"])
    assert (report["status"], report["reason"]) == ("refused", "the key holds an invalid percent escape")


# -- 5: keys too long to name their reports after -----------------------------------------------------


def test_a_key_too_long_for_its_report_name_is_reported_under_its_hash(stack):  # noqa: F811
    drop, follow = stack
    key = "calls/" + "a" * 1000 + ".ndjson"  # the trial's key: 1,013 bytes, its report name 1,033
    empty = "calls/" + "e" * 1000 + ".ndjson"
    no_identity = call_event(PHONE, 2)
    del no_identity["identityMap"]

    assert drop(key, ndjson([call_event(PHONE, 1), no_identity])) == {"batchItemFailures": []}
    assert drop(empty, b"") == {"batchItemFailures": []}
    for _ in range(20):
        follow()
        if batch_items() and all(b["state"] == "final" for b in batch_items().values()):
            break

    got = read_json(f"_reports/_long/{hashlib.sha256(key.encode()).hexdigest()}.report.json")
    assert (got["file"]["key"], got["status"], got["records"]["refusedHere"]) == (key, "partial", 1)
    assert got["refusals"] == f"_reports/_long/{hashlib.sha256(key.encode()).hexdigest()}.refusals.jsonl"
    assert [line["index"] for line in read_lines(got["refusals"])] == [1]
    refused = read_json(f"_reports/_long/{hashlib.sha256(empty.encode()).hexdigest()}.report.json")
    assert (refused["file"]["key"], refused["status"]) == (empty, "refused")


# -- 8: a file refused or failed as a whole: counts and listed refusals agree ---------------------------


def test_a_gzip_corrupt_after_judged_records_reports_no_record_refused_on_its_own(invoke):  # noqa: F811
    no_identity = call_event(PHONE, 1)
    del no_identity["identityMap"]
    body = bytearray(gzip.compress(ndjson([no_identity] + [call_event(PHONE, n) for n in range(6000)])))
    body[len(body) // 2] ^= 0xFF  # the trial's corruption: most of it inflates first

    assert invoke(sqs_of(put("calls/gz_corrupt.ndjson.gz", bytes(body)))) == {"batchItemFailures": []}

    report = read_json("_reports/calls/gz_corrupt.ndjson.gz.report.json")
    assert report["status"] == "refused"
    assert report["records"]["read"] > 1  # the records read before the corruption was found
    assert (report["records"]["sent"], report["records"]["refusedHere"], report["refusals"]) == (0, 0, None)
    (item,) = file_items()
    assert (item["records_refused"], "refusals_key" in item) == (0, False)


def test_a_file_aep_refuses_for_good_reports_the_records_it_read(invoke, admin):  # noqa: F811
    admin.faults({"path": r"/files/", "method": "PUT", "status": 400, "first": 1})
    no_identity = call_event(PHONE, 3)
    del no_identity["identityMap"]

    answer = invoke(sqs_of(put("calls/refused.ndjson", ndjson([call_event(PHONE, 1), no_identity]))))

    assert answer == {"batchItemFailures": []}
    report = read_json("_reports/calls/refused.ndjson.report.json")
    assert report["status"] == "failed"
    assert (report["records"]["read"], report["records"]["sent"], report["records"]["refusedHere"]) == (
        2,
        0,
        0,
    )
    assert report["refusals"] is None


# -- 6: a CSV row over 1 MB on one line is that record's refusal ---------------------------------------


def test_a_csv_row_over_one_mb_is_refused_alone_and_the_next_row_ingested(invoke, admin, client):  # noqa: F811
    header = "call_id,phone,direction,duration,ended_at\r\n"
    body = (  # the trial's file
        header
        + "c1,+14155550100,"
        + "x" * 1_200_000
        + ",61,2024-05-01T10:00:00Z\nc2,+14155550101,inbound,61,2024-05-01T10:00:00Z\n"
    )

    assert invoke(sqs_of(put("calls-csv/bigrow.csv", body.encode()))) == {"batchItemFailures": []}

    (item,) = file_items()
    assert (item["state"], item["records_read"], item["records_sent"], item["records_refused"]) == (
        "uploaded",
        2,
        1,
        1,
    )
    (refusal,) = read_lines(item["refusals_key"])
    assert (refusal["index"], refusal["line"]) == (0, 2)
    assert "AEP accepts at most 1 MB per record" in refusal["reason"]
    ((found),) = batches(client, admin)
    assert (found["status"], found["metrics"].output_record_count) == ("success", 1)


def test_a_refused_file_s_report_has_the_layout_of_every_report(invoke):  # noqa: F811
    note = put("calls/layout.ndjson", ndjson([call_event(PHONE, 1)]))
    boto3.client("s3").delete_object(
        Bucket=BUCKET, Key="calls/layout.ndjson", VersionId=note["s3"]["object"]["versionId"]
    )
    invoke(sqs_of(note))

    raw = boto3.client("s3").get_object(Bucket=BUCKET, Key="_reports/calls/layout.ndjson.report.json")["Body"]
    text = raw.read().decode()
    report = json.loads(text)

    assert text == json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True)  # as batch_follow writes
    assert report["status"] == "refused"
    assert report["reportedAt"].endswith("Z")
    assert "." not in report["reportedAt"]  # whole seconds, as the follow-up's
