"""Permanent failures go to the dead-letter queue at once, with their reason, instead of looping.

The message body is the original body, unchanged, so a redrive to the source queue (after fixing the
producer or the configuration) replays it as it was; the reason travels in message attributes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)
_MAX_ATTRIBUTE = 1000


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    reason: str
    field: str | None
    status: int | None
    stage: str  # "connector" (our validation) or "aep" (AEP refused it)
    group: str | None = None


class DeadLetters:
    def __init__(self, queue_url: str, sqs_client: Callable[[], Any]) -> None:
        self._url = queue_url
        self._client_factory = sqs_client
        self._client: Any = None
        self._fifo = queue_url.endswith(".fifo")

    def _sqs(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        """Send to the DLQ; return the message ids that could NOT be sent (the caller retries those)."""
        failed: set[str] = set()
        for start in range(0, len(letters), 10):
            chunk = letters[start : start + 10]
            entries = [self._entry(str(i), letter) for i, letter in enumerate(chunk)]
            try:
                answer = self._sqs().send_message_batch(QueueUrl=self._url, Entries=entries)
            except Exception as exc:  # every boto error: these records must be retried, not lost
                logger.warning("cannot write to the dead-letter queue", extra={"error": type(exc).__name__})
                failed.update(letter.message_id for letter in chunk)
                continue
            for item in answer.get("Failed", []):
                failed.add(chunk[int(item["Id"])].message_id)
        return failed

    def _entry(self, entry_id: str, letter: DeadLetter) -> dict[str, Any]:
        attributes = {
            "aep.error.reason": {"DataType": "String", "StringValue": letter.reason[:_MAX_ATTRIBUTE]},
            "aep.error.stage": {"DataType": "String", "StringValue": letter.stage},
            "aep.source.messageId": {"DataType": "String", "StringValue": letter.message_id},
        }
        if letter.field:
            attributes["aep.error.field"] = {
                "DataType": "String",
                "StringValue": letter.field[:_MAX_ATTRIBUTE],
            }
        if letter.status is not None:
            attributes["aep.error.status"] = {"DataType": "Number", "StringValue": str(letter.status)}
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": letter.body, "MessageAttributes": attributes}
        if self._fifo:
            entry["MessageGroupId"] = letter.group or "dead-letters"
            entry["MessageDeduplicationId"] = letter.message_id
        return entry
