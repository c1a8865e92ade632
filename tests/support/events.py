"""Sample events from events/*.json, and SQS events built directly (moto's SQS is slow to poll)."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:aep-connector-stream"


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return copy.deepcopy(data)


def sqs_event(
    bodies: list[str],
    *,
    fifo: bool = False,
    groups: list[str] | None = None,
    tenants: list[str | None] | None = None,
    source: str = QUEUE_ARN,
) -> dict[str, Any]:
    """An SQS event of ``bodies``; ``tenants``: each message's ``tenant`` attribute (None: none);
    ``source``: the queue ARN of a standard queue's records."""
    template = load_event("sqs-fifo-profile-updates.json" if fifo else "sqs-bare-record.json")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = str(uuid.UUID(int=index + 1))
        record["receiptHandle"] = f"handle-{index}"
        record["body"] = body
        if fifo:
            record["attributes"]["MessageGroupId"] = (groups or ["g"] * len(bodies))[index]
            record["attributes"]["MessageDeduplicationId"] = record["messageId"]
        else:
            record["eventSourceARN"] = source
        tenant = (tenants or [None] * len(bodies))[index]
        if tenant is not None:
            record["messageAttributes"] = {
                "tenant": {
                    "stringValue": tenant,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": "String",
                }
            }
        records.append(record)
    return {"Records": records}
