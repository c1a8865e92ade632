"""Step 1: caller profiles and call history as files dropped in the stack's drop bucket. S3 notifies the
batch queue (the bucket's notification configuration, from the template), the queue's poller invokes the
batch function, the follow-up runs on its schedule; every file ends with its report under ``_reports/``."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from demo.cast import CALLERS_IN_STORY, HISTORY_EACH, call_events, dialled, say, wait_for
from stack import LocalStack

REPORTS = "_reports/"
#: How long the story waits for every file's report (the batch window, AEP's processing and a few
#: scheduled runs of the follow-up take a few seconds here).
REPORT_TIMEOUT_SECONDS = 30.0


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
    rows = [(dialled(c.phone), c.label, c.tier) for c in CALLERS_IN_STORY]
    rows.insert(1, ("ask at reception", "caller 4", "bronze"))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("phone", "first_name", "tier"))
    writer.writerows(rows)
    return text.getvalue().encode()


def call_history(tenant: str) -> bytes:
    """Yesterday's calls of each caller, as the IVR exports them: NDJSON, gzipped."""
    events = [
        e for c in CALLERS_IN_STORY for e in call_events(dialled(c.phone), HISTORY_EACH, tenant, days_ago=1)
    ]
    return gzip.compress("".join(json.dumps(e) + "\n" for e in events).encode())


def legacy_export() -> bytes:
    """A branch office's export from an old spreadsheet: Latin-1, not UTF-8 (AEP reads UTF-8 only)."""
    return "phone,first_name,tier\n(415) 555-0199,caller 5,privilège\n".encode("latin-1")


def drops(tenant: str) -> list[Drop]:
    people = len(CALLERS_IN_STORY)
    return [
        Drop("callers/2026-11-29.csv", callers_csv(), "partial", people + 1, people, 1, refused_lines=(3,)),
        Drop(
            "calls/2026-11-28.ndjson.gz",
            call_history(tenant),
            "success",
            people * HISTORY_EACH,
            people * HISTORY_EACH,
            0,
        ),
        Drop("callers/branch-export.csv", legacy_export(), "refused", 0, 0, 0),
    ]


def read_report(bucket: str, key: str) -> Outcome | None:
    """The file's report, or None while it has none; its refusal lines when it names them."""
    s3 = boto3.client("s3")
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{REPORTS}{key}.report.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    report = json.loads(body)  # written once the file's batch is final (or the file refused)
    records = report["records"]
    refusals = []
    if report.get("refusals"):
        text = s3.get_object(Bucket=bucket, Key=report["refusals"])["Body"].read().decode()
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


def drop_files(stack: LocalStack, tenant: str, problems: list[str]) -> list[Outcome]:
    """Step 1: the files dropped; then the story waits for every file's report. Returns the reports'
    outcomes, in drop order."""
    bucket = str(stack.output("BatchDropBucketName"))
    files = drops(tenant)
    s3 = boto3.client("s3")
    for drop in files:
        s3.put_object(Bucket=bucket, Key=drop.key, Body=drop.body)
        say(f"   dropped s3://{bucket}/{drop.key} ({len(drop.body)} bytes)")
    outcomes: dict[str, Outcome | None] = {}

    def reported() -> bool:
        outcomes.update({d.key: read_report(bucket, d.key) for d in files if outcomes.get(d.key) is None})
        return all(outcomes.values())

    finished = wait_for(reported, REPORT_TIMEOUT_SECONDS, interval=0.2)
    ingest = stack.pollers_of("BatchIngestFunction")
    follow = stack.schedulers_of("BatchFollowFunction")
    notifications = sum(p.counts.records for p in ingest)
    invocations = sum(p.counts.invocations for p in ingest)
    say(
        f"   batch function: {invocations} invocation(s) by the batch queue's poller, {notifications} "
        "messages (S3's notifications: the files', its test event's, the reports')"
    )
    runs = sum(s.counts.invocations for s in follow)
    missing = sum(outcome is None for outcome in outcomes.values())
    if missing:
        say(
            f"   follow-up: {runs} scheduled runs, and still {missing} of {len(files)} files without a report"
        )
    else:
        say(f"   follow-up: {runs} scheduled run(s) until every file had its report under {REPORTS}")
    if not finished:
        problems.append(f"{missing} file(s) without a final report after {REPORT_TIMEOUT_SECONDS:g} s")
    found = []
    for drop in files:
        outcome = outcomes.get(drop.key)
        problems.extend(file_problems(drop, outcome))
        if outcome is not None:
            found.append(outcome)
            for line in told(outcome):
                say(line)
    return found


def file_problems(drop: Drop, outcome: Outcome | None) -> list[str]:
    """What the file's report says that the story does not expect (nothing: the file ended as it should)."""
    if outcome is None:
        return [f"{drop.key} has no final report"]
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
