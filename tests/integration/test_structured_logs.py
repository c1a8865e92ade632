"""Every log line of a function, the layer's ``aep.*`` loggers and the function package's included, comes
out as Powertools JSON with its extra fields and the Lambda context, and none carries a phone number, an
email, the token or the client secret: a failing batch file, a dead-lettered stream record, a failed lookup.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from aep import RetryPolicy, SystemClock
from aep.logs import structured_logs
from batch_ingest import service as batch_service
from profile_lookup import entry as lookup_entry
from stream_ingest import service as stream_service
from tests.integration.conftest import CALL_EVENTS, EVENTS_FLOW, EVENTS_INLET, call_event, emulator_client
from tests.support.apigw import profile_event
from tests.support.batch import BUCKET, IDEMPOTENCY, LEDGER, create_resources, put, sqs_of
from tests.support.events import sqs_event
from tests.support.fakes import FakeLambdaContext
from tests.support.lambdas import load_app
from tests.support.lookup import LookupFunction, lookup_runtime_for

pytestmark = pytest.mark.integration

PHONE = "+14155550100"
EMAIL = "caller.one@example.com"
CONTEXT = FakeLambdaContext(remaining_ms=600_000)
#: What inject_lambda_context adds to every line of the invocation.
CORRELATION = {
    "function_request_id": CONTEXT.aws_request_id,
    "function_name": CONTEXT.function_name,
}


class Lines:
    """The JSON lines the function's handler wrote during the test."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]  # each line is JSON

    def named(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line["message"] == message]

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def captured() -> Iterator[Any]:
    """``capture(app, structured)``: the app's set-up applied again (the suite restores package loggers
    after every test) and its handler's stream swapped for a buffer until the test ends."""
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []

    def capture(logger: Any, structured: tuple[str, ...]) -> Lines:
        structured_logs(logger, *structured[1:])
        buffer = io.StringIO()
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                swapped.append((handler, handler.setStream(buffer)))
        return Lines(buffer)

    yield capture
    for handler, stream in swapped:
        handler.setStream(stream)


def secrets_of(emulator: Any) -> list[str]:
    token = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId="aep/token")["SecretString"])
    assert token["access_token"]  # the run fetched and shared a token: it must not be logged
    return [token["access_token"], emulator.config.clients[0].client_secret]


def assert_clean(lines: Lines, emulator: Any) -> None:
    for value in [PHONE, PHONE[1:], "555-0100", EMAIL, *secrets_of(emulator)]:
        assert value not in lines.text(), value


def assert_context(line: dict[str, Any]) -> None:
    for key, value in CORRELATION.items():
        assert line[key] == value, key
    assert isinstance(line["cold_start"], bool)
    assert line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR"}


def test_a_failing_batch_file_is_logged_as_json_with_the_file_the_error_and_the_context(
    aws, emulator, admin, captured, tmp_path
):
    app = load_app("batch_ingest")
    lines = captured(app.logger, app.STRUCTURED)
    environ = {
        "BATCH_ROUTES": json.dumps([{"prefix": "calls/", "dataset_id": CALL_EVENTS}]),
        "BATCH_LEDGER_TABLE": LEDGER,
        "BATCH_IDEMPOTENCY_TABLE": IDEMPOTENCY,
        "BATCH_QUEUE_URL": create_resources(),
        "BATCH_SPOOL_DIR": str(tmp_path),
    }
    client = emulator_client(emulator, SystemClock(), RetryPolicy(max_attempts=2, base=0.01, max_wait=0.02))
    batch_service.set_runtime(batch_service.build_runtime(environ, client))
    admin.faults({"path": r"/files/", "method": "PUT", "status": 503, "first": 2})
    record = call_event(PHONE, 1)
    record["identityMap"]["Email"] = [{"id": EMAIL}]
    event = sqs_of(put("calls/retry.ndjson", (json.dumps(record) + "\n").encode()))
    try:
        answer = app.lambda_handler(event, CONTEXT)
    finally:
        batch_service.set_runtime(None)

    assert answer["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    (failed,) = lines.named("file failed, retried later")
    assert failed["name"] == "batch_ingest.files"
    assert (failed["bucket"], failed["key"]) == (BUCKET, "calls/retry.ndjson")
    assert failed["file"].startswith("file#")
    assert (failed["error"], failed["status"]) == ("AepServerError", 503)
    assert failed["level"] == "WARNING"
    assert_context(failed)
    (retry,) = lines.named("retrying AEP call")  # the layer's logger, through the same handler
    assert (retry["name"], retry["status"], retry["attempt"]) == ("aep.http", 503, 1)
    assert_context(retry)
    assert_clean(lines, emulator)


def test_a_dead_lettered_stream_record_is_logged_as_json_with_its_reason_and_the_context(
    aws, emulator, captured
):
    app = load_app("stream_ingest")
    lines = captured(app.logger, app.STRUCTURED)
    dlq = str(boto3.client("sqs").create_queue(QueueName="stream-dlq")["QueueUrl"])
    environ = {
        "STREAM_INLET_ID": EVENTS_INLET,
        "STREAM_DATASET_ID": CALL_EVENTS,
        "STREAM_FLOW_ID": EVENTS_FLOW,
        "STREAM_DLQ_URL": dlq,
    }
    client = emulator_client(emulator, SystemClock(), RetryPolicy(max_attempts=2, base=0.01, max_wait=0.02))
    stream_service.set_runtime(
        stream_service.build_runtime(environ, client, lambda: boto3.client("sqs"), lambda: boto3.client("s3"))
    )
    broken = call_event(PHONE, 1)
    broken["identityMap"]["Phone"][0]["id"] = "415 555 0100 ext. " + EMAIL
    event = sqs_event([json.dumps(call_event(PHONE, 2)), json.dumps(broken)])
    try:
        answer = app.lambda_handler(event, CONTEXT)
    finally:
        stream_service.set_runtime(None)

    assert answer == {"batchItemFailures": []}
    (refused,) = lines.named("not accepted")
    assert refused["message_id"] == event["Records"][1]["messageId"]
    assert refused["outcome"] == "dead_lettered"
    assert refused["reason"].startswith("identityMap.Phone")
    assert_context(refused)
    (done,) = lines.named("batch done")
    assert (done["received"], done["accepted"], done["dead_lettered"]) == (2, 1, 1)
    assert_clean(lines, emulator)


def test_a_failed_lookup_is_logged_as_json_with_the_aep_statuses_and_the_context(
    aws, emulator, admin, captured, clock
):
    lines = captured(lookup_entry.logger, lookup_entry.STRUCTURED)
    client = emulator_client(emulator, SystemClock(), RetryPolicy(max_attempts=2, base=0.01, max_wait=0.02))
    lookup = LookupFunction(lookup_runtime_for(client, clock, {}))
    admin.faults({"path": r"^/data/core/ups", "status": 503, "first": 2})

    response = lookup.raw(profile_event("Phone", PHONE))

    assert response["statusCode"] >= 500
    (line,) = lines.named("lookup")
    assert (line["status"], line["namespace"], line["aep_statuses"]) == (
        response["statusCode"],
        "Phone",
        [503, 503],
    )
    assert_context(line)
    (retry,) = lines.named("retrying AEP call")
    assert (retry["name"], retry["context"]) == ("aep.http", "profile")
    assert_context(retry)
    assert_clean(lines, emulator)
