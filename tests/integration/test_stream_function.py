"""The streaming function invoked as Lambda would, against the emulator over HTTP, moto for SQS/Secrets."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from aep import AepClient, RetryPolicy, SystemClock
from stream_ingest import service
from tests.integration.conftest import (
    CALL_EVENTS,
    CALLERS,
    CALLERS_INLET,
    EVENTS_FLOW,
    EVENTS_INLET,
    call_event,
    emulator_client,
)
from tests.support.events import load_event, sqs_event
from tests.support.fakes import FakeLambdaContext
from tests.support.lambdas import load_app
from tests.support.strict_sqs import StrictSqs

pytestmark = pytest.mark.integration
PHONE = "+14155550100"


@pytest.fixture
def dlq(aws) -> str:
    return str(boto3.client("sqs").create_queue(QueueName="stream-dlq")["QueueUrl"])


def real_client(emulator, attempts: int = 4) -> AepClient:
    """Real time: the handler's deadline is measured on the clock the client uses."""
    return emulator_client(
        emulator, SystemClock(), RetryPolicy(max_attempts=attempts, base=0.01, max_wait=0.05)
    )


@pytest.fixture
def invoke(emulator, dlq):
    app = load_app("stream_ingest")
    state: dict[str, Any] = {"env": {}, "attempts": 4}

    def run(event: dict[str, Any], remaining_ms: int = 60_000, **env: str) -> dict[str, Any]:
        environ = {
            "STREAM_INLET_ID": EVENTS_INLET,
            "STREAM_DATASET_ID": CALL_EVENTS,
            "STREAM_FLOW_ID": EVENTS_FLOW,
            "STREAM_DLQ_URL": dlq,
            "STREAM_DEADLINE_SAFETY_SECONDS": "0.2",
            **env,
        }
        if state.get("runtime") is None or environ != state["env"]:
            state["env"] = environ
            state["runtime"] = service.build_runtime(
                environ,
                real_client(emulator, state["attempts"]),
                lambda: StrictSqs(boto3.client("sqs")),  # SQS's real size limits; moto's are looser
                lambda: boto3.client("s3"),
            )
        service.set_runtime(state["runtime"])
        return dict(app.lambda_handler(event, FakeLambdaContext(remaining_ms=remaining_ms)))

    run.state = state  # type: ignore[attr-defined]
    yield run
    service.set_runtime(None)


def dead_letters(url: str) -> dict[str, dict[str, str]]:
    sqs = boto3.client("sqs")
    found: dict[str, dict[str, str]] = {}
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        messages = answer.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
            found[attrs["aep.source.messageId"]] = {**attrs, "body": message["Body"]}
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


class RecordedMetrics:
    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.values.setdefault(name, []).append(value)


def failures(response: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


def test_mixed_batch_lands_each_record_where_it_belongs(invoke, emulator, admin, dlq, caplog):
    # One message per request, sent one after the other, one attempt: the first good record meets the
    # injected 503 and is the one transient failure.
    invoke.state["attempts"] = 1
    admin.faults({"path": "^/collection/batch", "status": 503, "retry_after": 1, "first": 1})
    good = [json.dumps(call_event(PHONE, n)) for n in range(3)]
    formatted = call_event("+14155550100", 9)
    formatted["identityMap"]["Phone"][0]["id"] = "(415) 555-0100"
    nulls = call_event(PHONE, 10, eventType=None)
    nulls["_acme"]["call"]["queue"] = ""
    missing_identity = call_event(PHONE, 11)
    del missing_identity["identityMap"]
    future = call_event(PHONE, 12, timestamp="2999-01-01T00:00:00Z")
    oversized = call_event(PHONE, 13)
    oversized["_acme"]["call"]["agentId"] = "x" * 1_000_001
    wrong_schema = json.loads(load_event("sqs-xdm-message.json")["Records"][0]["body"])
    wrong_schema["header"]["schemaRef"]["id"] = "https://ns.adobe.com/acme/schemas/unknown"
    bodies = [
        *good,
        json.dumps(formatted),
        json.dumps(nulls),
        load_event("sqs-xdm-message.json")["Records"][0]["body"],
        load_event("sqs-sns-wrapped.json")["Records"][0]["body"],
        "{this is not json",
        json.dumps(missing_identity),
        json.dumps(future),
        json.dumps(oversized),
        json.dumps(wrong_schema),
    ]
    event = sqs_event(bodies)
    ids = [r["messageId"] for r in event["Records"]]

    response = invoke(event, STREAM_MAX_MESSAGES_PER_REQUEST="1", STREAM_CONCURRENCY="1")

    assert failures(response) == {ids[0]}
    letters = dead_letters(dlq)
    assert set(letters) == set(ids[7:])
    assert letters[ids[7]]["aep.error.reason"] == "message body is not JSON"
    assert letters[ids[8]]["aep.error.field"] == "identityMap"
    assert "future" in letters[ids[9]]["aep.error.reason"]
    assert letters[ids[10]]["aep.error.status"] == "413"
    assert letters[ids[11]]["aep.error.stage"] == "connector"  # refused before sending (issue 7, item 14)
    assert letters[ids[11]]["aep.error.reason"] == "header.schemaRef.id and body.xdmMeta.schemaRef.id differ"
    assert letters[ids[7]]["body"] == bodies[7]  # the original body, ready for a redrive
    assert admin.streamed() == {"accepted": {CALL_EVENTS: 6}, "failed": [], "duplicates": 0}
    events = {e.event_id: e.entity for e in emulator.state.profiles.events("Phone", PHONE)}
    assert len(events) == 6
    assert f"call-{PHONE}-0" not in events
    ours = [r for r in caplog.records if r.name != "responses"]  # `responses`: moto's interceptor
    logs = " ".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert "not accepted" in logs
    assert ids[8] in logs  # rejected records are logged by SQS message id, with their reason
    assert "4155550100" not in logs
    assert "555-0100" not in logs
    assert "Bearer" not in logs
    stored_nulls = events[f"call-{PHONE}-10"]
    assert "eventType" not in stored_nulls
    assert "queue" not in stored_nulls["_acme"]["call"]


def test_throttling_and_outages_are_retried_within_the_invocation(invoke, admin, emulator):
    admin.faults(
        {"path": "^/collection/batch", "status": 429, "retry_after": 0, "first": 1},
        {"path": "^/collection/batch", "status": 503, "retry_after": 0, "first": 2},
    )
    event = sqs_event([json.dumps(call_event(PHONE, n)) for n in range(5)])

    response = invoke(event)

    assert failures(response) == set()
    statuses = [r["status"] for r in admin.requests() if r["path"].startswith("/collection")]
    assert statuses[:2] == [429, 503]
    assert statuses[-1] == 207
    assert admin.streamed()["accepted"] == {CALL_EVENTS: 5}


def test_a_lasting_outage_returns_every_record_for_redelivery(invoke, admin, dlq):
    admin.faults({"path": "^/collection/batch", "status": 503, "retry_after": 0})
    event = sqs_event([json.dumps(call_event(PHONE, n)) for n in range(4)])

    response = invoke(event)

    assert failures(response) == {r["messageId"] for r in event["Records"]}
    assert dead_letters(dlq) == {}


def test_revoked_token_is_refreshed_once_on_an_authenticated_inlet(invoke, admin, emulator):
    env = {
        "STREAM_INLET_ID": CALLERS_INLET,
        "STREAM_DATASET_ID": CALLERS,
        "STREAM_INLET_AUTHENTICATED": "true",
        "STREAM_RECORD_CLASS": "profile",
        "STREAM_FLOW_ID": "d8a6f005-0000-4000-8000-00000000ca11",  # the callers inlet's dataflow
    }
    profile = {
        "_id": "caller-1",
        "identityMap": {"Phone": [{"id": PHONE, "primary": True}]},
        "person": {"name": {"firstName": "first"}},
    }
    assert failures(invoke(sqs_event([json.dumps(profile)]), **env)) == set()
    assert admin.revoke_all() >= 1

    response = invoke(sqs_event([json.dumps({**profile, "_acme": {"tier": "gold"}})]), **env)

    assert failures(response) == set()
    assert admin.counters()["tokens_issued"] == 2
    statuses = [r["status"] for r in admin.requests() if r["path"].startswith("/collection")]
    assert statuses == [207, 403, 207]
    found = emulator.state.profiles.profile("Phone", PHONE)
    assert found is not None
    assert found["entity"]["_acme"]["tier"] == "gold"


def test_the_deadline_stops_sending_and_returns_the_rest(invoke, admin):
    admin.faults({"path": "^/collection/batch", "kind": "latency", "latency_ms": 400})
    big = []
    for n in range(6):
        record = call_event(PHONE, n)
        record["_acme"]["call"]["agentId"] = "a" * 400_000
        big.append(json.dumps(record))
    event = sqs_event(big)

    started = time.monotonic()
    response = invoke(event, remaining_ms=1_300, STREAM_CONCURRENCY="1")
    elapsed = time.monotonic() - started

    returned = failures(response)
    assert 0 < len(returned) < 6, "some records sent, the rest handed back for redelivery"
    assert elapsed < 1.3, "the handler returned before the Lambda's time ran out"
    time.sleep(0.6)  # a request abandoned at the deadline may still complete on the server:
    accepted = admin.streamed()["accepted"].get(CALL_EVENTS, 0)
    assert accepted >= 6 - len(returned)  # at-least-once; the deterministic _id makes a resend the same event


def test_no_record_is_lost_under_faults(invoke, admin, emulator, dlq):
    invoke.state["attempts"] = 2
    admin.faults(
        {"path": "^/collection/batch", "status": 429, "retry_after": 0, "rate": 0.3},
        {"path": "^/collection/batch", "status": 503, "retry_after": 0, "rate": 0.2},
        {"path": "^/collection/batch", "kind": "drop", "rate": 0.1},
        seed=11,
    )
    bodies = []
    for n in range(400):
        record = call_event(f"+1415555{n % 50:04d}", n)
        record["_acme"]["call"]["agentId"] = "p" * 20_000  # ~20 KB: about 48 records per request
        if n % 37 == 0:
            del record["identityMap"]
        bodies.append(json.dumps(record))
    event = sqs_event(bodies)

    response = invoke(event, STREAM_CONCURRENCY="4")

    retried = failures(response)
    letters = dead_letters(dlq)
    accepted = admin.streamed()["accepted"].get(CALL_EVENTS, 0)
    print(f"400 in: {accepted} accepted, {len(letters)} dead-lettered, {len(retried)} to retry")
    assert accepted + len(letters) + len(retried) == 400
    assert not retried & set(letters)
    assert len(letters) == len([n for n in range(400) if n % 37 == 0])
    assert retried, "the faults should leave some records for redelivery"
    assert accepted > 0


def test_fifo_keeps_order_within_a_group(invoke, admin, emulator):
    invoke.state["attempts"] = 1
    admin.faults({"path": "^/collection/batch", "status": 503, "first": 1})
    bodies, groups = [], []
    for n in range(4):
        record = call_event(PHONE, n)
        record["_acme"]["call"]["agentId"] = "f" * 400_000  # two records per request
        bodies.append(json.dumps(record))
        groups.append(f"Phone:{PHONE}")
    event = sqs_event(bodies, fifo=True, groups=groups)

    response = invoke(event, STREAM_CONCURRENCY="2")

    assert failures(response) == {r["messageId"] for r in event["Records"]}
    assert admin.streamed()["accepted"] == {}
    sent = [r for r in admin.requests() if r["path"].startswith("/collection")]
    assert len(sent) == 1  # the group's second request was held back, not sent out of order


def test_aep_latency_metric_has_one_value_per_request(invoke, admin):
    class Recorded:
        def __init__(self) -> None:
            self.values: dict[str, list[float]] = {}

        def add_metric(self, name: str, unit: Any, value: float) -> None:
            self.values.setdefault(name, []).append(value)

    invoke(sqs_event([json.dumps(call_event(PHONE, 0))]), STREAM_MAX_MESSAGES_PER_REQUEST="2")  # the runtime
    admin.faults({"path": "^/collection/batch", "kind": "latency", "latency_ms": 120})
    metrics = Recorded()
    event = sqs_event([json.dumps(call_event(PHONE, n)) for n in range(1, 7)])

    response = service.handle(event, FakeLambdaContext(), metrics, invoke.state["runtime"])  # type: ignore[arg-type]

    assert failures(response) == set()
    sent = [r for r in admin.requests() if r["path"].startswith("/collection")]
    latencies = metrics.values["AepSendLatency"]
    assert len(latencies) == len(sent) - 1 == 3  # 6 records, 2 per request; the first invocation sent 1
    assert all(ms >= 120 for ms in latencies)
    assert metrics.values["RecordsSent"] == [6]


# --- item 16: FIFO never raises; a group's later messages wait for its first retry ------------------------


def test_fifo_group_that_fails_entirely_is_reported_not_raised(invoke, admin, dlq):
    # The group's first message meets a 503 (one attempt); its second is invalid. Both go back to the
    # queue, in order: the invalid one is not dead-lettered ahead of the record before it.
    invoke.state["attempts"] = 1
    admin.faults({"path": "^/collection/batch", "status": 503, "first": 1})
    event = sqs_event([json.dumps(call_event(PHONE, 0)), "{not json"], fifo=True, groups=["g", "g"])
    ids = [r["messageId"] for r in event["Records"]]

    response = invoke(event)

    assert failures(response) == set(ids)
    assert dead_letters(dlq) == {}


def test_fifo_other_groups_proceed_when_one_group_waits(invoke, admin, dlq):
    invoke.state["attempts"] = 1
    admin.faults({"path": "^/collection/batch", "status": 503, "first": 1})
    bodies = [json.dumps(call_event(PHONE, 0)), "{not json", json.dumps(call_event(PHONE, 1)), "{nor this"]
    event = sqs_event(bodies, fifo=True, groups=["g", "g", "h", "h"])
    ids = [r["messageId"] for r in event["Records"]]

    response = invoke(event, STREAM_MAX_MESSAGES_PER_REQUEST="1", STREAM_CONCURRENCY="1")

    assert failures(response) == {ids[0], ids[1]}
    assert set(dead_letters(dlq)) == {ids[3]}
    assert admin.streamed()["accepted"] == {CALL_EVENTS: 1}


# --- item 15: a reject too large for SQS reaches the DLQ through the overflow bucket ---------------------


def sized(record: dict[str, Any], size: int) -> dict[str, Any]:
    """``record`` padded so that its JSON is ``size`` bytes: with the DLQ's attributes, over 1 MiB."""
    record["_acme"]["call"]["agentId"] = ""
    record["_acme"]["call"]["agentId"] = "x" * (size - len(json.dumps(record)))
    assert len(json.dumps(record)) == size
    return record


def test_a_reject_too_large_for_sqs_is_dead_lettered_through_s3(invoke, dlq):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="stream-dlq-overflow")
    record = sized(call_event(PHONE, 0), 1_048_500)  # a valid SQS body, too large for AEP
    small = call_event(PHONE, 1)
    del small["identityMap"]
    event = sqs_event([json.dumps(record), json.dumps(small)])
    ids = [r["messageId"] for r in event["Records"]]

    response = invoke(event, STREAM_DLQ_OVERFLOW_BUCKET="stream-dlq-overflow")

    assert failures(response) == set()
    letters = dead_letters(dlq)
    assert set(letters) == set(ids)
    key = f"dead-letters/{ids[0]}"
    assert letters[ids[0]]["aep.body.location"] == f"s3://stream-dlq-overflow/{key}"
    assert letters[ids[0]]["aep.error.status"] == "413"
    stored = s3.get_object(Bucket="stream-dlq-overflow", Key=key)["Body"].read()
    assert stored == json.dumps(record).encode()
    assert letters[ids[1]]["aep.error.field"] == "identityMap"


def test_without_a_bucket_a_reject_too_large_for_sqs_is_still_dead_lettered(invoke, dlq):
    record = sized(call_event(PHONE, 0), 1_048_500)
    event = sqs_event([json.dumps(record)])

    response = invoke(event)

    assert failures(response) == set()  # never retried forever
    (letter,) = dead_letters(dlq).values()
    assert letter["aep.body.truncated"] == "true"
    assert letter["aep.error.status"] == "413"


def test_two_large_rejects_keep_their_own_reasons(invoke, dlq):
    bodies = []
    for n in range(2):
        record = call_event(PHONE, n, timestamp="2999-01-01T00:00:00Z")  # refused: in the future
        record["_acme"]["call"]["agentId"] = "y" * 600_000
        bodies.append(json.dumps(record))
    event = sqs_event(bodies)

    response = invoke(event)

    assert failures(response) == set()
    letters = dead_letters(dlq)
    assert len(letters) == 2
    assert all("future" in letter["aep.error.reason"] for letter in letters.values())


def test_split_and_overflow_metrics(invoke, admin):
    invoke(sqs_event([json.dumps(call_event(PHONE, 0))]))  # builds the runtime
    admin.faults({"path": "^/collection/batch", "status": 400, "first": 1})
    metrics = RecordedMetrics()
    event = sqs_event([json.dumps(call_event(PHONE, n)) for n in range(1, 5)])

    response = service.handle(event, FakeLambdaContext(), metrics, invoke.state["runtime"])  # type: ignore[arg-type]

    assert failures(response) == set()
    assert metrics.values["AepRequestSplits"] == [1]
    assert metrics.values["RecordsSent"] == [4]
    assert metrics.values["DeadLettersOverflowed"] == [0]
    assert metrics.values["DeadLettersTruncated"] == [0]
    assert len(metrics.values["AepSendLatency"]) == 3  # the refused request and its two halves


def test_fifo_splits_are_counted_and_keep_the_group_in_order(invoke, admin):
    invoke(sqs_event([json.dumps(call_event(PHONE, 0))], fifo=True))  # builds the runtime
    admin.faults({"path": "^/collection/batch", "status": 400, "first": 1})
    metrics = RecordedMetrics()
    event = sqs_event([json.dumps(call_event(PHONE, n)) for n in range(1, 5)], fifo=True, groups=["g"] * 4)

    response = service.handle(event, FakeLambdaContext(), metrics, invoke.state["runtime"])  # type: ignore[arg-type]

    assert failures(response) == set()
    assert metrics.values["AepRequestSplits"] == [1]
    sent = [r for r in admin.requests() if r["path"].startswith("/collection")]
    assert [r["status"] for r in sent][-3:] == [400, 207, 207]


def test_overflow_and_truncation_are_counted(invoke, dlq):
    invoke(sqs_event([json.dumps(call_event(PHONE, 0))]))  # builds the runtime (no overflow bucket)
    metrics = RecordedMetrics()
    event = sqs_event([json.dumps(sized(call_event(PHONE, 1), 1_048_500))])

    response = service.handle(event, FakeLambdaContext(), metrics, invoke.state["runtime"])  # type: ignore[arg-type]

    assert failures(response) == set()
    assert metrics.values["DeadLettersTruncated"] == [1]
    assert metrics.values["DeadLettersOverflowed"] == [0]
    assert metrics.values["RecordsRejected"] == [1]


# --- item 13: a whole-request 400 dead-letters only the records AEP refuses on their own ----------------


def test_a_whole_request_400_dead_letters_only_the_refused_records(recorder, secrets, clock, dlq):
    from tests.conftest import make_client
    from tests.support.recorder import Recorded, Reply

    def strict_gateway(request: Recorded) -> Reply:
        messages = request.json()["messages"]
        if any(m["body"]["xdmEntity"]["_acme"].get("poison") for m in messages):
            return Reply(400, {"title": "Bad Request", "report": {"message": "Message is invalid"}})
        return Reply(207, {"responses": [{"xactionId": f"x:{i}"} for i in range(len(messages))]})

    recorder.on("POST", f"/collection/batch/{EVENTS_INLET}", strict_gateway)
    environ = {
        "STREAM_INLET_ID": EVENTS_INLET,
        "STREAM_DATASET_ID": CALL_EVENTS,
        "STREAM_SCHEMA_REF": "https://ns.adobe.com/acme/schemas/calls",
        "STREAM_FLOW_ID": EVENTS_FLOW,
        "STREAM_DLQ_URL": dlq,
        "STREAM_CONCURRENCY": "1",
        "AEP_SCHEMA_VALIDATION": "off",  # the recorder serves no Schema Registry
    }
    rt = service.build_runtime(
        environ, make_client(recorder.url, secrets, clock), lambda: StrictSqs(boto3.client("sqs"))
    )
    records = [call_event(PHONE, n) for n in range(20)]
    for n in (3, 17):
        records[n]["_acme"]["poison"] = True
    event = sqs_event([json.dumps(r) for r in records])
    ids = [r["messageId"] for r in event["Records"]]

    class NoMetrics:
        def add_metric(self, name: str, unit: Any, value: float) -> None:
            pass

    response = service.handle(event, FakeLambdaContext(), NoMetrics(), rt)  # type: ignore[arg-type]

    assert failures(response) == set()
    letters = dead_letters(dlq)
    assert set(letters) == {ids[3], ids[17]}
    assert letters[ids[3]]["aep.error.reason"] == "stream messages: Message is invalid"
    assert letters[ids[3]]["aep.error.status"] == "400"
    assert letters[ids[3]]["aep.error.stage"] == "aep"
    accepted = {
        m["body"]["xdmEntity"]["_id"]
        for call in recorder.requests
        if call.json()["messages"]
        and not any(m["body"]["xdmEntity"]["_acme"].get("poison") for m in call.json()["messages"])
        for m in call.json()["messages"]
    }
    assert len(accepted) == 18
    assert len(recorder.requests) <= 1 + 2 * 2 * 5  # two bad among 20: at most 2 requests per level each
