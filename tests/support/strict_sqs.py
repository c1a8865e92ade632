"""An SQS client that enforces SendMessageBatch's real limits before moto sees the call.

moto 5.2.5 checks a batch against 1 MiB by counting the bodies' *characters* and ignores message
attributes; SQS counts UTF-8 bytes of the body and of every attribute's name, data type and value, per
message and per call (at most 1 MiB = 1,048,576 bytes each), with at most 10 entries per call.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

SQS_MAX_BYTES = 1_048_576


def sqs_size(entry: dict[str, Any]) -> int:
    """Size as SQS counts it: body plus each attribute's name, data type and value, in UTF-8 bytes."""
    size = len(entry["MessageBody"].encode())
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value["DataType"].encode())
        size += len(value["StringValue"].encode()) if "StringValue" in value else len(value["BinaryValue"])
    return size


def _error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "SendMessageBatch")


class StrictSqs:
    """Per message: the queue's MaximumMessageSize; per call: 1 MiB and 10 entries."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.batches: list[list[dict[str, Any]]] = []  # every SendMessageBatch call that was accepted

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        if len(Entries) > 10:
            raise _error("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "too many entries")
        attributes = self._client.get_queue_attributes(
            QueueUrl=QueueUrl, AttributeNames=["MaximumMessageSize"]
        )
        largest = int(attributes["Attributes"]["MaximumMessageSize"])
        for entry in Entries:
            if sqs_size(entry) > largest:
                raise _error("InvalidParameterValue", f"Message must be shorter than {largest} bytes")
            if len(entry.get("MessageAttributes", {})) > 10:
                raise _error("InvalidParameterValue", "more than 10 message attributes")
        total = sum(sqs_size(entry) for entry in Entries)
        if total > SQS_MAX_BYTES:
            raise _error("AWS.SimpleQueueService.BatchRequestTooLong", f"batch of {total} bytes")
        self.batches.append(Entries)
        return self._client.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)
