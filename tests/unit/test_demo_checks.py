"""The demo's own judgement: what a file's report or a lookup answer must say for the story to hold, the
summary's counts, and the tables it creates from template.yaml. (The whole demo: test_demo.py.)"""

from __future__ import annotations

import boto3

from demo.cast import CALLERS_IN_STORY
from demo.files import Drop, Outcome, file_problems, told
from demo.lookup import Answer, answer_problem
from demo.resources import create_queue, create_table, template_resources
from demo.story import Tally, summary

CSV = Drop("callers/a.csv", b"", "partial", 4, 3, 1, refused_lines=(3,))
ROW = {"index": 1, "line": 3, "field": "identityMap.Phone.0.id", "reason": "identityMap.Phone.0.id: bad"}


def outcome(**changes) -> Outcome:
    values = {
        "key": "callers/a.csv",
        "batch_id": "01EMU0000000000000000000001",
        "status": "partial",
        "read": 4,
        "sent": 3,
        "refused": 1,
        "reason": None,
        "refusals": [ROW],
    }
    return Outcome(**{**values, **changes})


def profile(label: str, tier: str, *, cached: bool, status: int = 200) -> Answer:
    body = {
        "profileId": "p1",
        "attributes": {"person": {"name": {"firstName": label}}, "_acme": {"tier": tier}},
        "cached": cached,
    }
    return Answer(status, body if status == 200 else {"error": {"code": "not-found"}}, 2.5)


def test_a_report_as_expected_is_no_problem():
    assert file_problems(CSV, outcome()) == []


def test_a_report_with_other_counts_or_status_is_a_problem_naming_the_file():
    problems = file_problems(CSV, outcome(status="success", refused=0))

    assert len(problems) == 1
    assert problems[0].startswith("callers/a.csv: its report says")
    assert "('success', 4, 3, 0)" in problems[0]


def test_a_refused_row_on_another_line_is_a_problem():
    moved = {**ROW, "line": 4}

    assert file_problems(CSV, outcome(refusals=[moved])) == [
        "callers/a.csv: rows refused at lines [4], expected [3]"
    ]


def test_no_report_is_a_problem():
    assert file_problems(CSV, None) == ["callers/a.csv has no final report"]


def test_a_refused_file_needs_its_reason():
    refused = Drop("callers/b.csv", b"", "refused", 0, 0, 0)
    without = outcome(
        key="callers/b.csv", batch_id=None, status="refused", read=0, sent=0, refused=0, refusals=[]
    )
    with_reason = Outcome(**{**vars(without), "reason": "the file is not UTF-8"})

    assert file_problems(refused, without) == ["callers/b.csv: its report's reason is None"]
    assert file_problems(refused, with_reason) == []


def test_a_file_is_told_with_its_batch_counts_and_each_refused_row_once_named():
    other = {"index": 2, "line": 5, "field": "tier", "reason": "not a string"}

    assert told(outcome(refusals=[ROW, other])) == [
        "   callers/a.csv: batch 01EMU0000000000000000000001, partial; records read 4, sent 3, refused 1",
        "      row refused: line 3: identityMap.Phone.0.id: bad",
        "      row refused: line 5: tier: not a string",
    ]


def test_a_lookup_answer_must_greet_the_caller_from_the_cache_only_when_expected():
    caller = CALLERS_IN_STORY[0]

    assert answer_problem(caller, profile(caller.label, caller.tier, cached=False), cached=False) is None
    assert answer_problem(caller, profile(caller.label, caller.tier, cached=True), cached=True) is None
    assert answer_problem(caller, profile(caller.label, caller.tier, cached=False), cached=True) is not None
    assert answer_problem(caller, profile("caller 2", caller.tier, cached=False), cached=False) is not None
    assert answer_problem(
        caller, profile(caller.label, caller.tier, cached=False, status=404), cached=False
    ) == (f"the lookup API answered {caller.label} with 404 not-found in 2.5 ms")


def test_the_summary_counts_records_batches_events_rejects_and_latencies():
    refused = outcome(key="b.csv", batch_id=None, status="refused", read=0, sent=0, refused=0, refusals=[])
    tally = Tally(
        files=[outcome(), outcome(key="c.ndjson", batch_id="01EMU2", status="success", refused=0), refused],
        sent=13,
        streamed=12,
        dead_letters=1,
        lookups=[
            Answer(200, {"cached": False}, 30.0),
            Answer(200, {"cached": False}, 4.25),
            Answer(200, {"cached": False}, 7.0),
            Answer(200, {"cached": True}, 0.5),
        ],
    )

    assert summary(tally) == [
        "Summary:",
        "   records in: 8 from 3 files, 13 messages on the queue",
        "   batches: batch 01EMU0000000000000000000001: partial, batch 01EMU2: success",
        "   events streamed: 12",
        "   rejects: 1 file refused, 1 row refused, 1 message dead-lettered",
        "   batch records: read 8, sent 6, refused 1",
        "   lookup latency over HTTP: 30.0 ms the first (builds its runtime), 4.2-7.0 ms from AEP, "
        "0.5 ms from the cache",
    ]


def test_the_summary_says_when_there_are_too_few_lookups_to_tell_latencies():
    tally = Tally(lookups=[Answer(200, {"cached": False}, 30.0), Answer(404, {}, 3.0)])

    assert summary(tally)[-1] == "   lookup latency over HTTP: too few answers to tell"


def test_the_batch_tables_have_the_templates_keys_and_index(aws):
    resources = template_resources()

    create_table("ledger", "BatchLedgerTable", resources)
    create_table("idempotency", "BatchIdempotencyTable", resources)

    dynamodb = boto3.client("dynamodb")
    ledger = dynamodb.describe_table(TableName="ledger")["Table"]
    idempotency = dynamodb.describe_table(TableName="idempotency")["Table"]
    assert ledger["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert [index["IndexName"] for index in ledger["GlobalSecondaryIndexes"]] == ["pending-index"]
    assert ledger["GlobalSecondaryIndexes"][0]["KeySchema"] == [
        {"AttributeName": "pending", "KeyType": "HASH"},
        {"AttributeName": "completed_at", "KeyType": "RANGE"},
    ]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def test_the_queue_url_is_given_as_deployed(aws):
    assert create_queue("aep-connector-demo-batch") == (
        "https://sqs.us-east-1.amazonaws.com/123456789012/aep-connector-demo-batch"
    )
