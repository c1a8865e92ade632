"""A record's fate is its own, through the handler: each poison message sits between two valid ones; the
valid ones reach the emulator over HTTP, each poison one reaches the DLQ with its own reason (issue 7,
items 11, 12 and 14)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from aep import AepClient, RetryPolicy, SystemClock
from stream_ingest import service
from tests.integration.conftest import CALL_EVENTS, EVENTS_FLOW, EVENTS_INLET, call_event, emulator_client
from tests.support.events import load_event, sqs_event
from tests.support.fakes import FakeLambdaContext
from tests.support.lambdas import load_app

pytestmark = pytest.mark.integration
PHONE = "+14155550100"
NOT_NUMBERS = "the JSON has NaN or Infinity, which are not JSON numbers"


@pytest.fixture
def dlq(aws) -> str:
    return str(boto3.client("sqs").create_queue(QueueName="poison-dlq")["QueueUrl"])


@pytest.fixture
def invoke(emulator, dlq):
    app = load_app("stream_ingest")
    client: AepClient = emulator_client(
        emulator, SystemClock(), RetryPolicy(max_attempts=2, base=0.01, max_wait=0.05)
    )
    environ = {
        "STREAM_INLET_ID": EVENTS_INLET,
        "STREAM_DATASET_ID": CALL_EVENTS,
        "STREAM_FLOW_ID": EVENTS_FLOW,
        "STREAM_DLQ_URL": dlq,
    }
    service.set_runtime(service.build_runtime(environ, client, lambda: boto3.client("sqs")))

    def run(event: dict[str, Any]) -> dict[str, Any]:
        return dict(app.lambda_handler(event, FakeLambdaContext(remaining_ms=60_000)))

    yield run
    service.set_runtime(None)


def dead_letters(url: str) -> dict[str, dict[str, str]]:
    sqs = boto3.client("sqs")
    found: dict[str, dict[str, str]] = {}
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for message in messages:
            attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
            found[attrs["aep.source.messageId"]] = {**attrs, "body": message["Body"]}
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def message_with(**header: Any) -> str:
    message = json.loads(load_event("sqs-xdm-message.json")["Records"][0]["body"])
    message["header"].update(header)
    return json.dumps(message)


def poison() -> list[tuple[str, str | None, str]]:
    """(body, field, reason) for every kind of poison."""
    deep_entity = call_event(PHONE, 900)
    node: dict[str, Any] = {"v": 1}
    for _ in range(99):
        node = {"n": node}
    deep_entity["_acme"] = node  # 101 levels with the entity
    surrogate = call_event(PHONE, 901)
    surrogate["_acme"]["call"]["intent"] = "\ud800"
    crm = call_event(PHONE, 902)
    crm["identityMap"]["CRMID"] = [{"id": "AbC-1"}]
    other_schema = json.loads(message_with())
    other_schema["body"]["xdmMeta"]["schemaRef"]["id"] = "https://ns.adobe.com/acme/schemas/other"
    number = json.dumps(call_event(PHONE, 903)).replace('"durationSeconds": 963', '"durationSeconds": {}')
    assert "{}" in number
    return [
        ('{"a":' * 5000 + "1" + "}" * 5000, None, "message is nested too deeply"),
        (
            json.dumps(deep_entity),
            None,
            "the record is nested more than 100 levels deep",
        ),
        (
            json.dumps(surrogate),
            None,
            "message has a lone surrogate escape (\\ud800-\\udfff), which is not valid Unicode",
        ),
        (
            message_with(schemaRef="https://ns.adobe.com/acme/schemas/ivr-call-event"),
            "header.schemaRef",
            "header.schemaRef must be an object",
        ),
        (message_with(flowId=7), "header.flowId", "header.flowId must be a string"),
        (
            json.dumps({"header": [], "body": {"xdmEntity": call_event(PHONE, 904)}}),
            "body",
            "a streaming message needs header and body.xdmEntity objects",
        ),
        (
            json.dumps({"header": {}, "body": "call"}),
            "body",
            "a streaming message needs header and body.xdmEntity objects",
        ),
        ("[1, 2]", None, "message body must be a JSON object"),
        (number.replace("{}", "NaN"), None, NOT_NUMBERS),
        (number.replace("{}", "Infinity"), None, NOT_NUMBERS),
        (number.replace("{}", "-Infinity"), None, NOT_NUMBERS),
        (
            number.replace("{}", "1e999"),
            None,
            "the JSON has a number too large for a double (it would be infinity)",
        ),
        (
            json.dumps(crm),
            "identityMap.CRMID",
            "identityMap.CRMID: namespace CRMID is not on the allowed list",
        ),
        (
            json.dumps(other_schema),
            "body.xdmMeta.schemaRef.id",
            "header.schemaRef.id and body.xdmMeta.schemaRef.id differ",
        ),
    ]


def test_each_poison_message_is_its_own_rejection_between_valid_ones(invoke, admin, emulator, dlq, caplog):
    cases = poison()
    bodies = [json.dumps(call_event(PHONE, 0))]
    for n, (body, _, _) in enumerate(cases, start=1):
        bodies += [body, json.dumps(call_event(PHONE, n))]
    event = sqs_event(bodies)
    ids = [r["messageId"] for r in event["Records"]]

    response = invoke(event)

    assert response == {"batchItemFailures": []}
    letters = dead_letters(dlq)
    poisoned = {ids[2 * n + 1]: case for n, case in enumerate(cases)}
    assert set(letters) == set(poisoned)
    for message_id, (body, field, reason) in poisoned.items():
        letter = letters[message_id]
        assert letter["aep.error.reason"] == reason
        assert letter.get("aep.error.field") == field
        assert letter["aep.error.stage"] == "connector"
        assert letter["body"] == body
    assert admin.streamed() == {"accepted": {CALL_EVENTS: len(cases) + 1}, "failed": [], "duplicates": 0}
    events = {e.event_id for e in emulator.state.profiles.events("Phone", PHONE)}
    assert events == {f"call-{PHONE}-{n}" for n in range(len(cases) + 1)}
    logs = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name != "responses")
    assert "4155550100" not in logs
