"""How the local stack delivers SQS messages to a function, as Lambda's event source mapping does: batch
size, batching window, the record shape, and which messages are deleted after the invocation."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from stack.dispatch import SqsPoller
from stack.functions import SqsSource
from stack.lambdas import InvocationError

ARN = "arn:aws:sqs:us-east-1:123456789012:calls"


@dataclass
class FakeContainer:
    """Answers each invocation with ``failing`` message ids reported failed, or raises ``error``."""

    failing_bodies: set[str] = field(default_factory=set)
    error: InvocationError | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        if self.error:
            raise self.error
        failed = [r["messageId"] for r in event["Records"] if r["body"] in self.failing_bodies]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


@pytest.fixture
def sqs(aws: None) -> Any:
    client = boto3.client("sqs")
    client.create_queue(QueueName="calls", Attributes={"VisibilityTimeout": "300"})
    return client


def poller(container: FakeContainer, batch_size: int = 10, window: float = 0.0) -> SqsPoller:
    source = SqsSource(ARN, batch_size, window, report_failures=True)
    return SqsPoller(source, container, threading.Event())  # type: ignore[arg-type]


def send(sqs: Any, bodies: list[str], **attributes: str) -> None:
    url = sqs.get_queue_url(QueueName="calls")["QueueUrl"]
    for body in bodies:
        sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )


def counts(sqs: Any) -> tuple[int, int]:
    url = sqs.get_queue_url(QueueName="calls")["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(got[names[0]]), int(got[names[1]])


def test_a_batch_holds_at_most_the_mappings_batch_size(sqs):
    send(sqs, [f"m{n}" for n in range(25)])

    assert len(poller(FakeContainer(), batch_size=12, window=0.2).gather()) == 12


def test_an_empty_queue_gives_no_batch(sqs):
    assert poller(FakeContainer(), window=0.0).gather() == []


def test_records_are_shaped_as_lambdas_sqs_event(sqs):
    send(sqs, ["hello"], tenant="brand-b")
    container = FakeContainer()
    p = poller(container)

    p.handle(p.gather())

    [record] = container.events[0]["Records"]
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == ARN
    assert record["messageAttributes"] == {
        "tenant": {
            "stringValue": "brand-b",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_messages_reported_as_failed_stay_in_the_queue_and_the_others_are_deleted(sqs):
    send(sqs, ["ok-1", "bad", "ok-2"])
    container = FakeContainer(failing_bodies={"bad"})
    p = poller(container)

    p.handle(p.gather())

    assert counts(sqs) == (0, 1)  # the failed one, invisible until its visibility timeout
    assert (p.counts.invocations, p.counts.records, p.counts.reported_failures) == (1, 3, 1)


def test_a_handler_error_leaves_the_whole_batch_in_the_queue(sqs):
    send(sqs, ["a", "b"])
    p = poller(FakeContainer(error=InvocationError("f", "ValueError", "boom")))

    p.handle(p.gather())

    assert counts(sqs) == (0, 2)
    assert p.counts.errors == ["f: ValueError: boom"]


def test_the_bodies_reach_the_function_unchanged(sqs):
    bodies = [json.dumps({"n": n, "text": "é"}) for n in range(3)]
    send(sqs, bodies)
    container = FakeContainer()
    p = poller(container)

    p.handle(p.gather())

    assert sorted(r["body"] for r in container.events[0]["Records"]) == sorted(bodies)
