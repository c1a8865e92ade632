"""local/replay_dead_letters.py: one tenant's dead letters back to a queue that may carry them, every other
message left in the DLQ (SQS in moto; the dead letters written by the function's own DeadLetters)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import replay_dead_letters as tool

from stream_ingest.dead_letters import DeadLetter, DeadLetters


def record(event_id: str) -> dict[str, Any]:
    return {"_id": event_id, "timestamp": "2026-11-29T10:00:00Z", "identityMap": {"ECID": [{"id": "1"}]}}


def letter(mid: str, body: str, tenant: str | None, group: str | None = None) -> DeadLetter:
    return DeadLetter(mid, body, f"reason of {mid}", None, None, "connector", group, tenant)


BARE = json.dumps(record("b-attr"))
SNS = json.dumps(
    {
        "Type": "Notification",
        "Message": json.dumps(record("b-sns")),
        "MessageAttributes": {"tenant": {"Type": "String", "Value": "brand-b"}},
    }
)
SNS_ONLY = json.dumps(
    {
        "Type": "Notification",
        "Message": json.dumps(record("b8")),
        "MessageAttributes": {"tenant": {"Type": "String", "Value": "brand-b"}},
    }
)
ENVELOPE = json.dumps({"tenant": "brand-b", "header": {}, "body": {"xdmEntity": record("b-key")}})


@pytest.fixture
def sqs(aws: None) -> Any:
    return boto3.client("sqs")


@pytest.fixture
def queues(sqs) -> dict[str, str]:
    """A DLQ holding brand-b's letters (named three ways, and one redriven by SQS with only its producer's
    attribute), brand-a's, the default tenant's, one too large (cut), one naming no valid tenant."""
    urls = {
        name: sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        for name, attributes in (
            ("dlq", {"MaximumMessageSize": "2048"}),
            ("aep-brand-b", {}),
            ("aep-connector-stream", {}),
        )
    }
    DeadLetters(urls["dlq"], lambda: sqs).send(
        [
            letter("m0", BARE, "brand-b"),
            letter("m1", json.dumps(record("a1")), "brand-a"),
            letter("m2", SNS, "brand-b"),
            letter("m3", json.dumps(record("d3")), "default"),
            letter("m4", ENVELOPE, "brand-b"),
            letter("m5", json.dumps({**record("b5"), "pad": "x" * 3000}), "brand-b"),  # too large: cut
            letter("m6", BARE, None),  # refused: its tenant was not a tenant id
        ]
    )
    # moved by the queue's redrive policy after its receives: its producer's attributes only
    sqs.send_message(
        QueueUrl=urls["dlq"],
        MessageBody=json.dumps(record("b7")),
        MessageAttributes={"tenant": {"DataType": "String", "StringValue": "brand-b"}},
    )
    sqs.send_message(QueueUrl=urls["dlq"], MessageBody=SNS_ONLY)  # the same, named by SNS alone
    return urls


def everything(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message of a queue, received at once (so each must be visible now), by body."""
    answer = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    )
    return sorted(answer.get("Messages", []), key=lambda m: m["Body"])


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}


def test_only_the_tenants_letters_are_replayed_with_their_body_and_tenant_attribute(sqs, queues):
    report = tool.replay(sqs, queues["dlq"], "brand-b", queues["aep-brand-b"], wait_seconds=0)

    moved = {m["Body"]: attributes(m) for m in everything(sqs, queues["aep-brand-b"])}
    named = {"tenant": "brand-b"}  # the error attributes stay behind
    assert moved == {
        BARE: named,
        SNS: named,
        ENVELOPE: named,
        json.dumps(record("b7")): named,
        SNS_ONLY: {},  # as its producer sent it
    }
    assert report.moved == 5
    assert report.seen == {"brand-b": 5, "brand-a": 1, "default": 1, tool.NOT_REPLAYABLE: 2}
    left = everything(sqs, queues["dlq"])  # released at once: all visible again, untouched
    assert sorted(attributes(m)["aep.source.messageId"] for m in left) == ["m1", "m3", "m5", "m6"]
    assert everything(sqs, queues["aep-connector-stream"]) == []


def test_the_default_tenants_letters_go_to_the_stacks_queue(sqs, queues):
    report = tool.replay(sqs, queues["dlq"], "default", queues["aep-connector-stream"], wait_seconds=0)

    (moved,) = everything(sqs, queues["aep-connector-stream"])
    assert (moved["Body"], attributes(moved)) == (json.dumps(record("d3")), {"tenant": "default"})
    assert report.moved == 1
    assert len(everything(sqs, queues["dlq"])) == 8


def test_a_dry_run_counts_and_moves_nothing(sqs, queues):
    report = tool.replay(sqs, queues["dlq"], "brand-b", queues["aep-brand-b"], dry_run=True, wait_seconds=0)

    assert report.moved == 0
    assert report.seen == {"brand-b": 5, "brand-a": 1, "default": 1, tool.NOT_REPLAYABLE: 2}
    assert everything(sqs, queues["aep-brand-b"]) == []
    assert len(everything(sqs, queues["dlq"])) == 9


def test_at_most_the_limit_is_replayed(sqs, queues):
    report = tool.replay(sqs, queues["dlq"], "brand-b", queues["aep-brand-b"], limit=2, wait_seconds=0)

    assert report.moved == 2
    assert len(everything(sqs, queues["aep-brand-b"])) == 2
    assert len(everything(sqs, queues["dlq"])) == 7


def test_to_a_fifo_queue_each_letter_keeps_its_group(sqs):
    dlq = sqs.create_queue(QueueName="dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    target = sqs.create_queue(QueueName="aep-brand-b.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    DeadLetters(dlq, lambda: sqs, max_message_bytes=262_144).send(
        [
            letter("f0", json.dumps(record("f0")), "brand-b", "Phone:+14155550100"),
            letter("f1", json.dumps(record("f1")), "brand-b", "Phone:+14155550101"),
            letter("f2", json.dumps(record("f2")), "brand-a", "Phone:+14155550102"),
        ]
    )

    report = tool.replay(sqs, dlq, "brand-b", target, wait_seconds=0)

    answer = sqs.receive_message(
        QueueUrl=target, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId"]
    )
    assert sorted((m["Body"], m["Attributes"]["MessageGroupId"]) for m in answer["Messages"]) == [
        (json.dumps(record("f0")), "Phone:+14155550100"),
        (json.dumps(record("f1")), "Phone:+14155550101"),
    ]
    assert report.moved == 2


def test_the_command_line_prints_counts_never_bodies(sqs, queues, capsys):
    code = tool.main(
        [
            "--dlq-url",
            queues["dlq"],
            "--tenant",
            "brand-b",
            "--to-queue-url",
            queues["aep-brand-b"],
            "--wait-seconds",
            "0",
        ],
        sqs=sqs,
    )

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{tool.NOT_REPLAYABLE}: 2 seen",
        "brand-a: 1 seen",
        "brand-b: 5 seen",
        "default: 1 seen",
        "replayed 5 of tenant 'brand-b'",
    ]
