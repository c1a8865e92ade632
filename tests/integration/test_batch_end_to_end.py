"""A file's whole way: dropped in S3, ingested by the batch function, followed by the follow-up to its
report. Both handlers invoked as Lambda would, on one ledger and one bucket (moto), AEP the emulator."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from aep import AepClient, RetryPolicy, SystemClock
from aep.tenants import Tenant, TenantRegistry
from aep.tenants.clients import ClientCache
from batch_follow import service as follow_service
from batch_ingest import service as ingest_service
from tests.integration.conftest import CALL_EVENTS, call_event, emulator_client
from tests.support.batch import BUCKET, IDEMPOTENCY, LEDGER, create_resources, ledger_items, put, sqs_of
from tests.support.events import load_event
from tests.support.fakes import FakeLambdaContext
from tests.support.lambdas import load_app

pytestmark = pytest.mark.integration
PHONE = "+14155550123"
ROUTES = [{"prefix": "calls/", "dataset_id": CALL_EVENTS}]


@pytest.fixture
def aep(emulator) -> AepClient:
    return emulator_client(emulator, SystemClock(), RetryPolicy(max_attempts=3, base=0.01, max_wait=0.05))


@pytest.fixture
def stack(aws, aep, tmp_path):
    queue_url = create_resources()
    ingest_app, follow_app = load_app("batch_ingest"), load_app("batch_follow")
    ingest_service.set_runtime(
        ingest_service.build_runtime(
            {
                "BATCH_ROUTES": json.dumps(ROUTES),
                "BATCH_LEDGER_TABLE": LEDGER,
                "BATCH_IDEMPOTENCY_TABLE": IDEMPOTENCY,
                "BATCH_QUEUE_URL": queue_url,
                "BATCH_SPOOL_DIR": str(tmp_path),
                # records only AEP refuses must reach it: the connector's own schema check is off here
                "AEP_SCHEMA_VALIDATION": "off",
            },
            aep,
        )
    )
    default = Tenant(tenant_id="default", sandbox_name="prod", credentials_secret_id="c", token_secret_id="t")
    follow_service.set_runtime(
        follow_service.build_runtime(
            {"BATCH_LEDGER_TABLE": LEDGER, "BATCH_DROP_BUCKET": BUCKET, "BATCH_FOLLOW_SAFETY_SECONDS": "0.5"},
            clients=ClientCache(aep.settings, default=lambda: aep),
            registry=TenantRegistry(None, default),
        )
    )

    def drop(key: str, body: bytes) -> dict[str, Any]:
        return dict(
            ingest_app.lambda_handler(sqs_of(put(key, body)), FakeLambdaContext(remaining_ms=600_000))
        )

    def follow() -> dict[str, Any]:
        context = FakeLambdaContext(function_name="batch-follow", remaining_ms=60_000)
        return dict(follow_app.lambda_handler(load_event("eventbridge-schedule.json"), context))

    yield drop, follow
    ingest_service.set_runtime(None)
    follow_service.set_runtime(None)


def report(key: str) -> dict[str, Any]:
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"_reports/{key}.report.json")["Body"].read()
    return dict(json.loads(body))


def follow_until_reported(follow, key: str, runs: int = 20) -> dict[str, Any]:
    """The emulator answers `staging` a few polls before the final state, as AEP does."""
    for _ in range(runs):
        follow()
        try:
            return report(key)
        except boto3.client("s3").exceptions.NoSuchKey:
            continue
    raise AssertionError(f"no report for {key} after {runs} runs")


def test_a_dropped_file_is_followed_to_a_report_with_our_refusals_and_aeps_counts(stack):
    drop, follow = stack
    good = [call_event(PHONE, n) for n in range(4)]
    no_identity = call_event(PHONE, 9)
    del no_identity["identityMap"]
    body = "".join(json.dumps(r) + "\n" for r in [*good, no_identity]).encode() + b"{cut"

    assert drop("calls/2026-11-30.ndjson", body) == {"batchItemFailures": []}
    got = follow_until_reported(follow, "calls/2026-11-30.ndjson")

    assert got["status"] in {"success", "partial"}
    assert got["records"]["read"] == 6
    assert got["records"]["sent"] == 4
    assert got["records"]["refusedHere"] == 2
    assert got["records"]["failedInAep"] == 0
    assert got["aep"]["metrics"]["outputRecordCount"] == 4
    refusals = boto3.client("s3").get_object(Bucket=BUCKET, Key=got["refusals"])["Body"].read()
    lines = [json.loads(line) for line in refusals.splitlines()]
    assert [(line["index"], line["line"]) for line in lines] == [(4, 5), (5, 6)]
    assert lines[0]["field"] == "identityMap"
    assert PHONE not in refusals.decode()
    tags = boto3.client("s3").get_object_tagging(Bucket=BUCKET, Key="calls/2026-11-30.ndjson")["TagSet"]
    assert {"Key": "aep:ingested", "Value": got["status"]} in tags
    batch = ledger_items()[f"batch#{got['batchId']}"]
    assert batch["state"] == "final"
    assert "pending" not in batch


def test_a_refused_file_has_its_report_at_once_and_the_follow_up_leaves_it(stack):
    drop, follow = stack

    drop("calls/empty.ndjson", b"")
    before = report("calls/empty.ndjson")
    follow()

    assert before["status"] == "refused"
    assert before["batchId"] is None
    assert before["reason"]
    assert report("calls/empty.ndjson") == before


def test_small_files_share_one_batch_and_each_gets_its_report_with_aeps_row_errors(stack):
    _, follow = stack
    ingest_app = load_app("batch_ingest")
    bodies = {
        "calls/a.ndjson": [call_event(PHONE, 1), call_event(PHONE, 2)],
        "calls/b.ndjson": [call_event(PHONE, 3)],
        # our rules pass it (schema check off); the schema does not define the field: AEP refuses it
        "calls/c.ndjson": [call_event(PHONE, 4, _acme={"call": {"unknownField": "x"}})],
    }
    notes = [put(key, "".join(json.dumps(r) + "\n" for r in rows).encode()) for key, rows in bodies.items()]
    ingest_app.lambda_handler(sqs_of(*notes), FakeLambdaContext(remaining_ms=600_000))

    reports = {key: follow_until_reported(follow, key) for key in bodies}

    assert len({got["batchId"] for got in reports.values()}) == 1
    assert [got["records"]["sent"] for got in reports.values()] == [2, 1, 1]
    assert reports["calls/c.ndjson"]["records"]["failedInAep"] == 1
    assert reports["calls/a.ndjson"]["records"]["failedInAep"] == 0
    errors = boto3.client("s3").get_object(Bucket=BUCKET, Key=reports["calls/c.ndjson"]["aepRowErrors"])
    text = errors["Body"].read().decode()
    assert "XDM-1007-400" in text
    # One refused row does not fail its neighbours (BATCH_PARTIAL_INGESTION_PERCENT, default 100): the
    # batch succeeds with that row failed, and only the file holding it reads as partial.
    assert {key: got["status"] for key, got in reports.items()} == {
        "calls/a.ndjson": "success",
        "calls/b.ndjson": "success",
        "calls/c.ndjson": "partial",
    }
    assert {got["aep"]["status"] for got in reports.values()} == {"success"}


def test_an_all_or_nothing_route_fails_the_whole_shared_batch_when_asked(stack, aep, tmp_path):
    drop, follow = stack
    ingest_service.set_runtime(
        ingest_service.build_runtime(
            {
                "BATCH_ROUTES": json.dumps(ROUTES),
                "BATCH_LEDGER_TABLE": LEDGER,
                "BATCH_IDEMPOTENCY_TABLE": IDEMPOTENCY,
                "BATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/aep-connector-batch",
                "BATCH_SPOOL_DIR": str(tmp_path),
                "BATCH_PARTIAL_INGESTION_PERCENT": "0",
                "AEP_SCHEMA_VALIDATION": "off",  # a record only AEP refuses must reach it
            },
            aep,
        )
    )
    rows = [call_event(PHONE, 1), call_event(PHONE, 2, _acme={"call": {"unknownField": "x"}})]

    drop("calls/strict.ndjson", "".join(json.dumps(r) + "\n" for r in rows).encode())
    got = follow_until_reported(follow, "calls/strict.ndjson")

    assert (got["status"], got["aep"]["status"]) == ("failed", "failed")
