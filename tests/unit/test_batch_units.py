"""The batch function's small parts: notifications, grouping, the spool, checkpoints, the ledger's claims."""

from __future__ import annotations

import json

import boto3
import pytest

from batch_ingest.checkpoint import Checkpoint, continuation_body, continuation_of
from batch_ingest.jobs import FileJob, group_jobs
from batch_ingest.ledger import CLAIM_LEASE_SECONDS, Ledger
from batch_ingest.notifications import ObjectRef, file_pk, parse_message
from batch_ingest.readers import FileFormat
from batch_ingest.routes import Route
from batch_ingest.spool import Spool
from tests.support.batch import LEDGER, create_resources, s3_record
from tests.support.events import load_event

DATASET = "65f0c0a1e4b0c1d2e3f40002"
OTHER = "65f0c0a1e4b0c1d2e3f40001"


def job(
    name: str, size: int, dataset: str = DATASET, kind: str = "ndjson", tenant: str = "default"
) -> FileJob:
    route = Route(prefix="x/", dataset_id=dataset, tenant=tenant)
    return FileJob(name, ObjectRef("b", name, size, "v1"), name, route, FileFormat(kind, False))  # type: ignore[arg-type]


def test_the_sample_event_is_an_s3_notification_in_sqs():
    record = load_event("s3-notification-in-sqs.json")["Records"][0]

    note = parse_message(record["messageId"], record["body"])

    assert note.kind == "objects"
    (ref,) = note.objects
    assert (ref.raw_key, ref.size, ref.version) == (
        "calls/2025-01-15/call+events.ndjson.gz",
        1024,
        "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd",
    )


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}), "test"),
        (continuation_body("file#abc", 2), "continuation"),
        ("not json", "unreadable"),
        ("[1]", "unreadable"),
        (json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {}}]}), "unreadable"),
    ],
)
def test_other_messages(body, kind):
    assert parse_message("m", body).kind == kind


def test_removals_are_not_files_and_an_unversioned_object_is_known_by_its_etag():
    created = s3_record("a.json", 3, "abc", None)
    removed = {**s3_record("b.json", 3, "def", None), "eventName": "ObjectRemoved:Delete"}

    note = parse_message("m", json.dumps({"Records": [created, removed]}))

    assert [ref.version for ref in note.objects] == ["etag:abc"]
    assert file_pk("b", "k", "v") != file_pk("b", "k", "w")


def test_small_files_share_a_group_per_tenant_dataset_and_format_large_ones_go_alone():
    jobs = [
        job("a", 10),
        job("b", 10),
        job("c", 10, dataset=OTHER),
        job("d", 10, kind="parquet"),
        job("e", 10, tenant="brand-b"),
        job("big", 100),
        job("f", 10, kind="csv"),  # becomes NDJSON: the same AEP format as a and b
    ]

    groups = group_jobs(jobs, threshold=100)

    assert [([j.message_id for j in g.jobs], g.own) for g in groups] == [
        (["a", "b", "f"], False),
        (["c"], False),
        (["d"], False),
        (["e"], False),
        (["big"], True),
    ]


def test_aep_names_are_unique_per_file_and_stable():
    first, second = job("a", 1), job("b", 1)

    assert first.aep_name(0) == job("a", 1).aep_name(0)
    assert first.aep_name(0) != second.aep_name(0)
    assert first.aep_name(1).endswith("part-00001.json")
    assert job("p", 1, kind="parquet").aep_name(0).endswith(".parquet")


def test_the_spool_cuts_parts_at_line_boundaries(tmp_path):
    spool = Spool(str(tmp_path), max_bytes=10)
    for line in (b"aaaa\n", b"bbbb\n", b"cccccccccccc\n", b"d\n"):
        spool.add(line)

    parts = spool.take()

    assert [p.read_bytes() for p in parts] == [b"aaaa\nbbbb\n", b"cccccccccccc\n", b"d\n"]
    assert spool.records == 4
    spool.discard()
    assert not any(tmp_path.iterdir())


def test_a_checkpoint_survives_the_ledger_and_its_message():
    point = Checkpoint(step=2, next_index=7, read=7, sent=5, refused=2, aep_files=("a", "b"))

    assert Checkpoint.from_item(json.loads(json.dumps(point.to_item()))) == point
    assert continuation_of(json.loads(continuation_body("file#x", 2))["aepBatchContinuation"]) == (
        "file#x",
        2,
    )
    assert continuation_of({"file": "x", "step": 2}) is None
    assert continuation_of({"file": "file#x", "step": "2"}) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ledger(aws):
    create_resources()
    clock = Clock()
    return Ledger(LEDGER, lambda: boto3.resource("dynamodb"), clock), clock


def test_a_version_is_claimed_once_unless_its_reader_died(ledger):
    book, _ = ledger
    item = {"pk": "file#1", "bucket": "b", "key": "k"}

    assert book.claim_file(item) == (True, None)
    claimed, previous = book.claim_file(item)  # still reading, no checkpoint: an earlier attempt died
    assert claimed
    assert previous is not None
    assert previous["state"] == "reading"
    book.update("file#1", state="uploaded")
    claimed, existing = book.claim_file(item)
    assert not claimed
    assert existing is not None
    assert existing["state"] == "uploaded"


def test_a_checkpoint_is_taken_by_one_invocation_until_its_lease_ends(ledger):
    book, clock = ledger
    book.claim_file({"pk": "file#2"})
    book.update("file#2", checkpoint=Checkpoint(step=1, next_index=3).to_item())

    assert book.claim_file({"pk": "file#2"})[0] is False  # continuing: a notification does not restart it
    assert book.claim_checkpoint("file#2", 1, "run-a") is not None
    assert book.claim_checkpoint("file#2", 1, "run-b") is None
    assert book.claim_checkpoint("file#2", 2, "run-b") is None
    clock.now += CLAIM_LEASE_SECONDS + 1
    assert book.claim_checkpoint("file#2", 1, "run-b") is not None
    book.release_checkpoint("file#2")
    assert book.claim_checkpoint("file#2", 1, "run-c") is not None


def test_a_batch_lists_each_file_once_and_completes_into_the_pending_index(ledger):
    book, clock = ledger
    book.open_batch("B1", "default", DATASET)
    book.bind_file("B1", "file#1")
    book.bind_file("B1", "file#2")
    book.add_file("B1", "file#1")
    book.add_file("B1", "file#1")
    book.close_batch("B1")
    assert book.mark_completing("B1") is False  # file#2 is bound and not uploaded: no COMPLETE yet
    book.add_file("B1", "file#2")
    assert book.mark_completing("B1") is True
    assert book.get("batch#B1")["state"] == "completing"
    assert book.mark_completing("B1") is True  # a COMPLETE that failed is signalled again
    book.complete_batch("B1")

    item = book.get("batch#B1")
    assert item is not None
    assert (item["files"], item["state"], item["pending"], item["completed_at"]) == (
        ["file#1", "file#2"],
        "completed",
        "1",
        int(clock.now),
    )
    pending = (
        boto3.resource("dynamodb")
        .Table(LEDGER)
        .query(
            IndexName="pending-index",
            KeyConditionExpression="pending = :p",
            ExpressionAttributeValues={":p": "1"},
        )
    )
    assert [i["pk"] for i in pending["Items"]] == ["batch#B1"]
    assert "waiting" not in item
    assert book.mark_completing("B1") is False  # completed: never back to completing


@pytest.mark.parametrize("length", [10, 990, 1000, 1024, 3000])
def test_both_functions_name_a_files_report_alike_and_within_s3s_key_limit(length):
    from batch_follow.reports import report_key as follow_report_key
    from batch_ingest.reports import refusals_key, report_key

    key = "calls/" + "é" * (length // 2) + ".ndjson"
    named = report_key("_reports/", key)

    assert named == follow_report_key("_reports/", key)
    assert len(named.encode()) <= 1024
    assert len(refusals_key("_reports/", key).encode()) <= 1024
    assert (named == f"_reports/{key}.report.json") == (len(f"_reports/{key}.report.json".encode()) <= 1024)
