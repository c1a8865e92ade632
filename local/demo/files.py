"""Step 1: caller profiles and call history as files dropped in the bucket, through the batch function and
its follow-up, both invoked as Lambda would (an S3 notification in an SQS event; an EventBridge schedule),
each configured by its environment as deployed. Every file ends with its report under ``_reports/``."""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

import boto3

from demo.cast import (
    CALL_EVENTS,
    CALLERS,
    CALLERS_IN_STORY,
    HISTORY_EACH,
    HOME_REGION,
    call_events,
    dialled,
    say,
)
from demo.lambdas import DemoContext, environment
from demo.resources import create_drop_bucket, create_queue, create_table, template_resources

EVENTS = Path(__file__).resolve().parents[2] / "events"
DROP_BUCKET = "aep-connector-demo-drop"
LEDGER = "aep-connector-demo-batch-ledger"
IDEMPOTENCY = "aep-connector-demo-batch-idempotency"
BATCH_QUEUE = "aep-connector-demo-batch"
REPORTS = "_reports/"
#: How many scheduled runs of the follow-up the story waits for (the emulator answers ``staging`` a poll
#: or so before a batch's final state, as AEP does): more means a batch never became final.
FOLLOW_RUNS = 10

# The routes of the deployment (BatchRoutes): the CRM's caller export through a CSV mapping, the IVR's
# call history as NDJSON. Both written by a call center in HOME_REGION.
CALLER_MAPPING = {
    "record_class": "profile",
    "columns": {"first_name": "person.name.firstName", "tier": "_acme.tier"},
    "identities": [{"column": "phone", "namespace": "Phone", "primary": True}],
}
ROUTES = [
    {
        "prefix": "callers/",
        "dataset_id": CALLERS,
        "record_class": "profile",
        "default_phone_region": HOME_REGION,
        "mapping": CALLER_MAPPING,
    },
    {"prefix": "calls/", "dataset_id": CALL_EVENTS, "default_phone_region": HOME_REGION},
]


@dataclass(frozen=True)
class Drop:
    """A file the partner drops, and what its report must say."""

    key: str
    body: bytes
    status: str
    read: int
    sent: int
    refused: int
    refused_lines: tuple[int, ...] = ()


@dataclass
class Outcome:
    """What a file's report says."""

    key: str
    batch_id: str | None
    status: str
    read: int
    sent: int
    refused: int
    reason: str | None
    refusals: list[dict[str, Any]] = field(default_factory=list)


def callers_csv() -> bytes:
    """The CRM's export: phones as the call center writes them; one row's phone is not a number."""
    rows = [(dialled(c.phone, HOME_REGION), c.label, c.tier) for c in CALLERS_IN_STORY]
    rows.insert(1, ("ask at reception", "caller 4", "bronze"))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("phone", "first_name", "tier"))
    writer.writerows(rows)
    return text.getvalue().encode()


def call_history() -> bytes:
    """Yesterday's calls of each caller, as the IVR exports them: NDJSON, gzipped."""
    events = [
        e
        for c in CALLERS_IN_STORY
        for e in call_events(dialled(c.phone, HOME_REGION), HISTORY_EACH, days_ago=1)
    ]
    return gzip.compress("".join(json.dumps(e) + "\n" for e in events).encode())


def legacy_export() -> bytes:
    """A branch office's export from an old spreadsheet: Latin-1, not UTF-8 (AEP reads UTF-8 only)."""
    return "phone,first_name,tier\n(415) 555-0199,caller 5,privilège\n".encode("latin-1")


def drops() -> list[Drop]:
    people = len(CALLERS_IN_STORY)
    return [
        Drop("callers/2026-11-29.csv", callers_csv(), "partial", people + 1, people, 1, refused_lines=(3,)),
        Drop(
            "calls/2026-11-28.ndjson.gz",
            call_history(),
            "success",
            people * HISTORY_EACH,
            people * HISTORY_EACH,
            0,
        ),
        Drop("callers/branch-export.csv", legacy_export(), "refused", 0, 0, 0),
    ]


def s3_notification(key: str, size: int, etag: str, version: str | None) -> dict[str, Any]:
    """The record S3 sends for a new object (the key URL-encoded), from the sample event's shape."""
    sample = json.loads((EVENTS / "s3-notification-in-sqs.json").read_text())["Records"][0]
    record: dict[str, Any] = json.loads(sample["body"])["Records"][0]
    record["eventTime"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record["s3"]["bucket"]["name"] = DROP_BUCKET
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{DROP_BUCKET}"
    record["s3"]["object"] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag}
    if version:
        record["s3"]["object"]["versionId"] = version
    record["s3"]["object"]["sequencer"] = "0055AED6DCD90281E5"
    return record


def sqs_of_notifications(notifications: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The SQS event of the batch queue: one message per notification, each wrapped as S3 does."""
    sample = json.loads((EVENTS / "s3-notification-in-sqs.json").read_text())["Records"][0]
    records = []
    for n, notification in enumerate(notifications):
        record = dict(sample)
        record["messageId"] = f"demo-drop-{n:04d}"
        record["eventSourceARN"] = queue_arn
        record["body"] = json.dumps({"Records": [notification]})
        records.append(record)
    return {"Records": records}


def schedule_event() -> dict[str, Any]:
    """EventBridge's scheduled event, as the follow-up's rule sends it."""
    event: dict[str, Any] = json.loads((EVENTS / "eventbridge-schedule.json").read_text())
    event["time"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return event


def read_report(key: str) -> Outcome | None:
    """The file's report, or None while it has none; its refusal lines when it names them."""
    s3 = boto3.client("s3")
    try:
        body = s3.get_object(Bucket=DROP_BUCKET, Key=f"{REPORTS}{key}.report.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    report = json.loads(body)
    records = report["records"]
    refusals = []
    if report.get("refusals"):
        text = s3.get_object(Bucket=DROP_BUCKET, Key=report["refusals"])["Body"].read().decode()
        refusals = [json.loads(line) for line in text.splitlines()]
    return Outcome(
        key=key,
        batch_id=report["batchId"],
        status=report["status"],
        read=records["read"],
        sent=records["sent"],
        refused=records["refusedHere"],
        reason=report["reason"],
        refusals=refusals,
    )


def told(outcome: Outcome) -> list[str]:
    """The file's lines of the story: its batch, status and counts, then why it or a row was refused."""
    batch = f"batch {outcome.batch_id}" if outcome.batch_id else "no batch"
    lines = [
        f"   {outcome.key}: {batch}, {outcome.status}; records read {outcome.read}, sent {outcome.sent}, "
        f"refused {outcome.refused}"
    ]
    if outcome.status == "refused":
        lines.append(f"      file refused: {outcome.reason}")
    for row in outcome.refusals:
        # the reason names the field already when the record rules refused it
        reason = (
            row["reason"]
            if row["reason"].startswith(f"{row['field']}:")
            else f"{row['field']}: {row['reason']}"
        )
        lines.append(f"      row refused: line {row['line']}: {reason}")
    return lines


def ingest_environment(queue_url: str, spool: str) -> dict[str, str]:
    """The batch function's variables, as the template sets them (BATCH_SPOOL_DIR: Lambda's /tmp)."""
    return {
        "POWERTOOLS_SERVICE_NAME": "batch-ingest",
        "BATCH_ROUTES": json.dumps(ROUTES),
        "BATCH_REPORTS_PREFIX": REPORTS,
        "BATCH_SUCCESS_PREFIX": "_ingested/",
        "BATCH_LEDGER_TABLE": LEDGER,
        "BATCH_IDEMPOTENCY_TABLE": IDEMPOTENCY,
        "BATCH_QUEUE_URL": queue_url,
        "BATCH_SPOOL_DIR": spool,
    }


def follow_environment() -> dict[str, str]:
    """The follow-up's variables, as the template sets them."""
    return {
        "POWERTOOLS_SERVICE_NAME": "batch-follow",
        "BATCH_LEDGER_TABLE": LEDGER,
        "BATCH_DROP_BUCKET": DROP_BUCKET,
        "BATCH_REPORTS_PREFIX": REPORTS,
        "BATCH_ON_SUCCESS": "tag",
        "BATCH_SUCCESS_PREFIX": "_ingested/",
        "BATCH_STUCK_AFTER_MINUTES": "120",
        "STREAM_DATASET_ID": CALL_EVENTS,
    }


def drop_files(ingest: ModuleType, follow: ModuleType, problems: list[str]) -> list[Outcome]:
    """Step 1: the resources, the files dropped, one SQS event to the batch function, the follow-up's
    scheduled runs until every file has its report. Returns the reports' outcomes, in drop order."""
    resources = template_resources()
    create_drop_bucket(DROP_BUCKET)
    create_table(LEDGER, "BatchLedgerTable", resources)
    create_table(IDEMPOTENCY, "BatchIdempotencyTable", resources)
    queue_url = create_queue(BATCH_QUEUE)
    say(f"   on moto: drop bucket {DROP_BUCKET} (versioned), queue {BATCH_QUEUE},")
    say("   the ledger and idempotency tables (their keys and index read from template.yaml)")
    say("   routes: callers/ -> profiles through a CSV mapping (phone -> Phone identity, first_name, tier);")
    say("   calls/ -> call events; phone numbers as a US call center writes them")
    files = drops()
    s3 = boto3.client("s3")
    notifications = []
    for drop in files:
        put = s3.put_object(Bucket=DROP_BUCKET, Key=drop.key, Body=drop.body)
        notifications.append(
            s3_notification(drop.key, len(drop.body), put["ETag"].strip('"'), put.get("VersionId"))
        )
        say(f"   dropped s3://{DROP_BUCKET}/{drop.key} ({len(drop.body)} bytes)")

    queue_arn = f"arn:aws:sqs:us-east-1:123456789012:{BATCH_QUEUE}"
    with (
        tempfile.TemporaryDirectory(prefix="demo-spool-") as spool,
        environment(ingest_environment(queue_url, spool)),
    ):
        response = ingest.lambda_handler(
            sqs_of_notifications(notifications, queue_arn),
            DemoContext("batch-ingest", timeout_seconds=900, memory_limit_in_mb=1024),
        )
    retry = len(response["batchItemFailures"])
    say(f"   batch function: one SQS event of {len(notifications)} S3 notifications, {retry} to retry")
    if retry:
        problems.append(f"the batch function sent {retry} notifications back to retry")

    outcomes: dict[str, Outcome | None] = {}
    runs = 0
    with environment(follow_environment()):
        while runs < FOLLOW_RUNS:
            runs += 1
            follow.lambda_handler(schedule_event(), DemoContext("batch-follow", timeout_seconds=300))
            outcomes = {drop.key: read_report(drop.key) for drop in files}
            if all(outcomes.values()):
                break
    missing = sum(outcome is None for outcome in outcomes.values())
    ran = f"{runs} scheduled run{'s' if runs > 1 else ''}"
    if missing:
        say(f"   follow-up: {ran}, and still {missing} of {len(files)} files without a report")
    else:
        say(f"   follow-up: {ran} until every file had its report under {REPORTS}")

    found = []
    for drop in files:
        outcome = outcomes.get(drop.key)
        problems.extend(file_problems(drop, outcome, runs))
        if outcome is not None:
            found.append(outcome)
            for line in told(outcome):
                say(line)
    return found


def file_problems(drop: Drop, outcome: Outcome | None, runs: int) -> list[str]:
    """What the file's report says that the story does not expect (nothing: the file ended as it should)."""
    if outcome is None:
        return [f"{drop.key} has no report after {runs} follow-up runs"]
    problems = []
    got = (outcome.status, outcome.read, outcome.sent, outcome.refused)
    expected = (drop.status, drop.read, drop.sent, drop.refused)
    if got != expected:
        problems.append(
            f"{drop.key}: its report says (status, read, sent, refused) {got}, expected {expected}"
        )
    lines = tuple(row["line"] for row in outcome.refusals)
    if lines != drop.refused_lines:
        problems.append(
            f"{drop.key}: rows refused at lines {list(lines)}, expected {list(drop.refused_lines)}"
        )
    if (drop.status == "refused") != bool(outcome.reason):
        problems.append(f"{drop.key}: its report's reason is {outcome.reason!r}")
    return problems
