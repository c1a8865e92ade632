"""Replay one tenant's dead letters to a queue that may carry them; leave every other message in the DLQ.

``aws sqs start-message-move-task`` moves every message of a DLQ, whatever its tenant, to one destination.
That is right only when every tenant in the DLQ may use that queue (the stack's queue carries the default
tenant and the brands without a queue of their own; a brand's queue only the brands listing it). Otherwise
replay per tenant with this script:

    PYTHONPATH=layers/aep:functions/stream_ingest .venv/bin/python local/replay_dead_letters.py \\
        --dlq-url <StreamDeadLetterQueueUrl> --tenant brand-b --to-queue-url <brand B's queue URL>

It receives the DLQ's messages (with their attributes), finds each one's tenant exactly as the streaming
function does (the ``tenant`` attribute, which the function writes on each of its dead letters, else the
SNS attribute, else the envelope's key, else ``default``), and for the tenant asked for sends the body
unchanged, with its ``tenant`` attribute, to the destination, then deletes it from the DLQ. Every other
message is made visible again at the end, untouched. Not replayed either: a dead letter whose body is in
the overflow bucket or was cut (``aep.body.location``, ``aep.body.truncated``: its body is not the
original) and one that named no valid tenant. ``--dry-run`` only counts the DLQ's messages per tenant. It
prints counts, never a body. On a FIFO DLQ a group's messages behind one of another tenant wait for the
next run (SQS hands out a group in order); a group should carry one tenant anyway.

A message is deleted only after it was sent: a failure in between replays it twice at worst (the same
record: deterministic ``_id``s make it the same event). To a FIFO queue each message keeps its group id.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aep.tenants import DEFAULT_TENANT
from stream_ingest.ingest import Incoming
from stream_ingest.tenancy import ATTRIBUTE, route

#: Attributes of a dead letter whose body is not the original one.
NOT_THE_BODY = ("aep.body.location", "aep.body.truncated")
NOT_REPLAYABLE = "(not replayable)"
#: The attribute every dead letter of the function carries (a message moved by the redrive policy has
#: only its producer's attributes).
REASON = "aep.error.reason"


@dataclass
class Replay:
    """What a run did: messages sent to the destination, and what it saw per tenant (the replayed ones
    included; ``(not replayable)`` for bodies not the original and messages naming no valid tenant)."""

    moved: int = 0
    seen: Counter[str] = field(default_factory=Counter)


def tenant_of(message: dict[str, Any]) -> str:
    """The tenant the streaming function would give ``message``, or NOT_REPLAYABLE."""
    attributes = message.get("MessageAttributes", {})
    if any(name in attributes for name in NOT_THE_BODY):
        return NOT_REPLAYABLE
    attribute = attributes.get(ATTRIBUTE)
    if attribute is None and REASON in attributes:
        # the function's own dead letter names the tenant it routed to, always: without one, the message
        # named no valid tenant (its original attribute is not kept), whatever its body says
        return NOT_REPLAYABLE
    named = None if attribute is None else attribute.get("StringValue", "")
    found = route(Incoming(message["MessageId"], message["Body"], tenant=named))
    if found.problem is not None:
        return NOT_REPLAYABLE
    return found.tenant or DEFAULT_TENANT


def replay(
    sqs: Any,
    dlq_url: str,
    tenant: str,
    destination_url: str,
    *,
    limit: int | None = None,
    dry_run: bool = False,
    wait_seconds: int = 5,
    visibility_seconds: int = 300,
) -> Replay:
    """Send ``tenant``'s messages of the DLQ to ``destination_url`` (at most ``limit``), deleting each from
    the DLQ once sent; every other message received is released at the end."""
    report = Replay()
    held: list[str] = []  # receipt handles of the messages left in the DLQ
    fifo = destination_url.endswith(".fifo")
    try:
        while limit is None or report.moved < limit:
            answer = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["MessageGroupId"],
                VisibilityTimeout=visibility_seconds,
                WaitTimeSeconds=wait_seconds,
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                name = tenant_of(message)
                report.seen[name] += 1
                if dry_run or name != tenant or (limit is not None and report.moved >= limit):
                    held.append(message["ReceiptHandle"])
                    continue
                sqs.send_message(**_copy(message, destination_url, fifo))
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                report.moved += 1
    finally:
        _release(sqs, dlq_url, held)
    return report


def _copy(message: dict[str, Any], destination_url: str, fifo: bool) -> dict[str, Any]:
    """The send_message arguments: the same body and ``tenant`` attribute (the error attributes stay)."""
    request: dict[str, Any] = {"QueueUrl": destination_url, "MessageBody": message["Body"]}
    attribute = message.get("MessageAttributes", {}).get(ATTRIBUTE)
    if attribute is not None:
        request["MessageAttributes"] = {
            ATTRIBUTE: {"DataType": "String", "StringValue": attribute["StringValue"]}
        }
    if fifo:
        request["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId", "dead-letters")
        request["MessageDeduplicationId"] = message["MessageId"]
    return request


def _release(sqs: Any, dlq_url: str, handles: list[str]) -> None:
    """Make the messages left in the DLQ visible again at once (ten a call)."""
    for start in range(0, len(handles), 10):
        entries = [
            {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for n, handle in enumerate(handles[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=dlq_url, Entries=entries)


def main(argv: Sequence[str] | None = None, sqs: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dlq-url", required=True, help="the dead-letter queue's URL")
    parser.add_argument("--tenant", required=True, help="the tenant whose dead letters to replay")
    parser.add_argument("--to-queue-url", required=True, help="a queue that may carry that tenant")
    parser.add_argument("--max-messages", type=int, default=None, help="replay at most this many")
    parser.add_argument("--dry-run", action="store_true", help="count the DLQ's messages per tenant only")
    parser.add_argument("--wait-seconds", type=int, default=5, help="long polling of each receive (0-20)")
    args = parser.parse_args(argv)
    if sqs is None:
        import boto3  # noqa: PLC0415 - only when run for real

        sqs = boto3.client("sqs")
    report = replay(
        sqs,
        args.dlq_url,
        args.tenant,
        args.to_queue_url,
        limit=args.max_messages,
        dry_run=args.dry_run,
        wait_seconds=args.wait_seconds,
    )
    for name, count in sorted(report.seen.items()):
        print(f"{name}: {count} seen")
    print(f"replayed {report.moved} of tenant {args.tenant!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
