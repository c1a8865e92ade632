"""Permanent failures go to the dead-letter queue at once, with their reason, instead of looping.

The message body is the original body, unchanged, so a redrive to the source queue (after fixing the
producer or the configuration) replays it as it was; the reason travels in message attributes.

The DLQ can always be written. SQS counts a message as its body plus every attribute's name, data type
and value (UTF-8 bytes), and allows at most 1 MiB per SendMessageBatch call and 10 entries per call:
entries are packed by both. Per message, the limit is the queue's own ``MaximumMessageSize`` (set per
queue, 1 KiB to 1 MiB), read once from the queue (1 MiB if it cannot be read). A letter too large for it
(the source allowed up to 1 MiB of body; our attributes come on top) has its body stored in the overflow
bucket under a key derived from its message id, and the DLQ message carries a pointer instead:
``aep.body.location`` (``s3://bucket/key``) and the Amazon SQS Extended Client's pointer format (body and
``ExtendedPayloadSize``), so the extended client libraries can read it back. Without a bucket, the body is
cut to what fits, on a character boundary, and marked ``aep.body.truncated``: the reason is never lost and
the record never loops.

The overflow object is encrypted by the bucket's default encryption (SSE-KMS with the stack key).
``ServerSideEncryption=aws:kms`` is sent only together with an explicit key id: S3 reads ``aws:kms``
without a key id as "the AWS managed key aws/s3", not as the bucket's key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

logger = logging.getLogger(__name__)
_MAX_ATTRIBUTE = 1000
#: SQS: the largest message (body + attributes) any queue accepts, and the most one SendMessageBatch call
#: may carry (the sum of its messages).
SQS_MAX_BYTES = 1_048_576
SQS_MAX_ENTRIES = 10
#: The Amazon SQS Extended Client's pointer to a payload stored in S3.
POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    reason: str
    field: str | None
    status: int | None
    stage: str  # "connector" (our validation) or "aep" (AEP refused it)
    group: str | None = None
    tenant: str | None = None  # the tenant the message named (or the default): its ``tenant`` attribute


@dataclass
class DeliveryReport:
    """Which letters could not be written (the caller retries them), and how many were too large."""

    undelivered: set[str] = field(default_factory=set)
    overflowed: int = 0  # body stored in S3, pointer in the DLQ
    truncated: int = 0  # no bucket: body cut to fit


def sqs_size(entry: dict[str, Any]) -> int:
    """A SendMessageBatch entry's size as SQS counts it: body and each attribute's name, type and value."""
    size = len(entry["MessageBody"].encode())
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
    return size


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def _number(value: int) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": str(value)}


class OverflowStore:
    """Bodies too large for SQS, in an S3 bucket of the stack (encrypted, expired by a lifecycle rule)."""

    def __init__(
        self,
        bucket: str,
        s3_client: Callable[[], Any],
        *,
        prefix: str = "dead-letters/",
        kms_key_id: str | None = None,
    ) -> None:
        self.bucket = bucket
        self._client_factory = s3_client
        self._client: Any = None
        self._prefix = prefix
        self._kms_key_id = kms_key_id

    def key_for(self, message_id: str) -> str:
        return self._prefix + quote(message_id, safe="")  # keeps letters, digits and "-_.~"

    def put(self, message_id: str, body: bytes) -> str:
        """Store ``body``; return its key. Raises whatever the S3 client raises."""
        if self._client is None:
            self._client = self._client_factory()
        key = self.key_for(message_id)
        extra: dict[str, str] = {}
        if self._kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self._kms_key_id}
        self._client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="text/plain; charset=utf-8", **extra
        )
        return key


class DeadLetters:
    def __init__(
        self,
        queue_url: str,
        sqs_client: Callable[[], Any],
        *,
        overflow: OverflowStore | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        """``max_message_bytes``: the DLQ's ``MaximumMessageSize``; None reads it from the queue."""
        self._url = queue_url
        self._client_factory = sqs_client
        self._client: Any = None
        self._fifo = queue_url.endswith(".fifo")
        self._overflow = overflow
        self._max_message: int | None = max_message_bytes

    def _sqs(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def max_message_bytes(self) -> int:
        """The queue's ``MaximumMessageSize``, read once; 1 MiB when it cannot be read."""
        if self._max_message is None:
            try:
                answer = self._sqs().get_queue_attributes(
                    QueueUrl=self._url, AttributeNames=["MaximumMessageSize"]
                )
                self._max_message = min(SQS_MAX_BYTES, int(answer["Attributes"]["MaximumMessageSize"]))
            except Exception as exc:  # no permission, throttled: SQS's own maximum; a refusal is retried
                logger.warning(
                    "cannot read the dead-letter queue's MaximumMessageSize; assuming 1 MiB",
                    extra={"error": type(exc).__name__},
                )
                self._max_message = SQS_MAX_BYTES
        return self._max_message

    def send(self, letters: Sequence[DeadLetter]) -> DeliveryReport:
        """Send to the DLQ; the report names the message ids that could NOT be sent (retry those)."""
        report = DeliveryReport()
        if not letters:
            return report
        limit = self.max_message_bytes()
        ready: list[tuple[DeadLetter, dict[str, Any], int]] = []
        for letter in letters:
            entry = self.entry(letter)
            size = sqs_size(entry)
            if size > limit:
                shrunk = self._shrink(letter, report, limit)
                if shrunk is None:
                    report.undelivered.add(letter.message_id)
                    continue
                entry, size = shrunk, sqs_size(shrunk)
            ready.append((letter, entry, size))
        for chunk in self._pack(ready):
            self._send_chunk(chunk, report)
        return report

    def _pack(
        self, ready: list[tuple[DeadLetter, dict[str, Any], int]]
    ) -> list[list[tuple[DeadLetter, dict[str, Any]]]]:
        """In order, at most 10 entries and at most 1 MiB per call."""
        chunks: list[list[tuple[DeadLetter, dict[str, Any]]]] = []
        current: list[tuple[DeadLetter, dict[str, Any]]] = []
        used = 0
        for letter, entry, size in ready:
            if current and (len(current) >= SQS_MAX_ENTRIES or used + size > SQS_MAX_BYTES):
                chunks.append(current)
                current, used = [], 0
            current.append((letter, entry))
            used += size
        if current:
            chunks.append(current)
        return chunks

    def _send_chunk(self, chunk: list[tuple[DeadLetter, dict[str, Any]]], report: DeliveryReport) -> None:
        entries = [{"Id": str(i), **entry} for i, (_, entry) in enumerate(chunk)]  # "Failed" names the Id
        try:
            answer = self._sqs().send_message_batch(QueueUrl=self._url, Entries=entries)
        except Exception as exc:  # every boto error: these records must be retried, not lost
            logger.warning("cannot write to the dead-letter queue", extra={"error": type(exc).__name__})
            report.undelivered.update(letter.message_id for letter, _ in chunk)
            return
        for item in answer.get("Failed", []):
            report.undelivered.add(chunk[int(item["Id"])][0].message_id)

    def _shrink(self, letter: DeadLetter, report: DeliveryReport, limit: int) -> dict[str, Any] | None:
        """The entry for a letter too large for SQS: a pointer to S3, or a truncated body; None: retry it."""
        body = letter.body.encode()
        if self._overflow is not None:
            try:
                key = self._overflow.put(letter.message_id, body)
            except Exception as exc:  # S3 unavailable or refused: the record goes back to the queue
                logger.warning(
                    "cannot store a dead letter's body in the overflow bucket",
                    extra={"error": type(exc).__name__, "message_id": letter.message_id},
                )
                return None
            bucket = self._overflow.bucket
            pointer = json.dumps([POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}])
            report.overflowed += 1
            return self.entry(
                letter,
                body=pointer,
                extra={
                    "aep.body.location": _string(f"s3://{bucket}/{key}"),
                    "aep.body.bytes": _number(len(body)),
                    "ExtendedPayloadSize": _number(len(body)),
                },
            )
        extra = {"aep.body.truncated": _string("true"), "aep.body.bytes": _number(len(body))}
        room = limit - sqs_size(self.entry(letter, body="", extra=extra))
        report.truncated += 1
        return self.entry(letter, body=body[: max(room, 0)].decode("utf-8", "ignore"), extra=extra)

    def entry(
        self,
        letter: DeadLetter,
        *,
        body: str | None = None,
        extra: dict[str, dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """The SendMessageBatch entry for ``letter`` (its own body unless ``body`` is given), without its
        ``Id``: the call gives each entry its position in the call."""
        attributes = {
            "aep.error.reason": _string(letter.reason[:_MAX_ATTRIBUTE]),
            "aep.error.stage": _string(letter.stage),
            "aep.source.messageId": _string(letter.message_id),
        }
        if letter.field:
            attributes["aep.error.field"] = _string(letter.field[:_MAX_ATTRIBUTE])
        if letter.status is not None:
            attributes["aep.error.status"] = _number(letter.status)
        if letter.tenant:
            # The same attribute the function routes by: a redrive to the source queue keeps the tenant.
            attributes["tenant"] = _string(letter.tenant)
        attributes.update(extra or {})
        entry: dict[str, Any] = {
            "MessageBody": letter.body if body is None else body,
            "MessageAttributes": attributes,
        }
        if self._fifo:
            entry["MessageGroupId"] = letter.group or "dead-letters"
            entry["MessageDeduplicationId"] = letter.message_id
        return entry
