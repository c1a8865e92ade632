"""Step 2: live call events sent to the stack's queue, as the IVR's producers do; the queue's poller
invokes the streaming function with the template's batch size and window. One broken record ends in the
dead-letter queue with its reason."""

from __future__ import annotations

import json
from typing import Any

import boto3

from demo.cast import CALLERS_IN_STORY, CALLS_EACH, call_events, dialled, say, wait_for
from stack import LocalStack

STREAM_TIMEOUT_SECONDS = 20.0


def drain(sqs: Any, queue_url: str) -> list[dict[str, str]]:
    """Every dead letter of the queue (read and deleted, as an operator handles them): its attributes."""
    found: list[dict[str, str]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        messages = answer.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append({k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def in_queue(sqs: Any, queue_url: str) -> int:
    """Messages waiting or in flight."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def stream_calls(stack: LocalStack, tenant: str, problems: list[str]) -> tuple[int, int, int]:
    """Step 2. Returns the records sent, the events AEP accepted and the records dead-lettered."""
    assert stack.emulator is not None
    sqs: Any = boto3.client("sqs")
    queue = str(stack.output("StreamQueueUrl"))
    dlq = str(stack.output("StreamDeadLetterQueueUrl"))
    dataset = stack.parameters["StreamDatasetId"]
    bodies = []
    for c in CALLERS_IN_STORY:
        written = dialled(c.phone)
        bodies += [json.dumps(e) for e in call_events(written, CALLS_EACH, tenant)]
        say(f"   {CALLS_EACH} call events of {written} (as a {c.region} number is written in the US)")
    broken = call_events("call me back", 1, tenant)[0]
    bodies.append(json.dumps(broken))
    say("   1 call event whose phone is 'call me back'")
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[start : start + 10])]
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    say(f"   sent {len(bodies)} messages to {queue.rsplit('/', 1)[-1]}")
    expected = CALLS_EACH * len(CALLERS_IN_STORY)

    def streamed() -> int:
        assert stack.emulator is not None
        return int(stack.emulator.space().streamed.get(dataset, 0))

    settled = wait_for(
        lambda: streamed() >= expected and in_queue(sqs, queue) == 0 and in_queue(sqs, dlq) >= 1,
        STREAM_TIMEOUT_SECONDS,
    )
    pollers = stack.pollers_of("StreamIngestFunction")
    invocations = sum(p.counts.invocations for p in pollers)
    retried = sum(p.counts.reported_failures for p in pollers)
    say(f"   streaming function: {invocations} invocation(s), {retried} record(s) sent back to retry")
    dead = drain(sqs, dlq)
    for letter in dead:
        say(f"   dead-lettered, original body kept, reason: {letter.get('aep.error.reason')}")
    stored = streamed()
    say(f"   AEP accepted {stored} call events in dataset {dataset}")
    if not settled or stored != expected or len(dead) != 1:
        problems.append(f"expected {expected} events in AEP and 1 dead letter, got {stored} and {len(dead)}")
    return len(bodies), stored, len(dead)
