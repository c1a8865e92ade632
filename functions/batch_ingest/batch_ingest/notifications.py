"""What an SQS message of the batch queue says: S3 objects created, S3's test event, or a continuation."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

#: The body of a continuation message (:mod:`batch_ingest.checkpoint`) is ``{CONTINUATION: {...}}``.
CONTINUATION = "aepBatchContinuation"

Kind = Literal["objects", "test", "continuation", "unreadable"]


@dataclass(frozen=True)
class ObjectRef:
    """One created object, as the notification names it (``raw_key`` still URL-encoded)."""

    bucket: str
    raw_key: str
    size: int
    version_id: str | None = None
    etag: str | None = None

    @property
    def version(self) -> str:
        """The version id, else ``etag:<etag>`` (an unversioned bucket)."""
        return self.version_id or f"etag:{self.etag or ''}"


def file_pk(bucket: str, key: str, version: str) -> str:
    """The ledger key of one object version (BATCH-DESIGN: ``file#`` + SHA-256 of bucket, key, version)."""
    return "file#" + hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()


@dataclass(frozen=True)
class Notification:
    message_id: str
    kind: Kind
    objects: list[ObjectRef] = field(default_factory=list)
    continuation: dict[str, Any] | None = None
    reason: str | None = None


def parse_message(message_id: str, body: str) -> Notification:
    """An SQS message body of the batch queue. Events other than ``ObjectCreated:*`` are dropped."""
    try:
        data = json.loads(body)
    except ValueError:
        return Notification(message_id, "unreadable", reason="the message is not JSON")
    if not isinstance(data, dict):
        return Notification(message_id, "unreadable", reason="the message is not a JSON object")
    if data.get("Event") == "s3:TestEvent":
        return Notification(message_id, "test")
    if isinstance(data.get(CONTINUATION), dict):
        return Notification(message_id, "continuation", continuation=data[CONTINUATION])
    records = data.get("Records")
    if not isinstance(records, list):
        return Notification(message_id, "unreadable", reason="the message is not an S3 event")
    objects = []
    try:
        for record in records:
            if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
                continue
            s3 = record["s3"]
            obj = s3["object"]
            objects.append(
                ObjectRef(
                    bucket=str(s3["bucket"]["name"]),
                    raw_key=str(obj["key"]),
                    size=int(obj.get("size", 0)),
                    version_id=obj.get("versionId") or None,
                    etag=obj.get("eTag") or None,
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError):
        return Notification(message_id, "unreadable", reason="an S3 record lacks its bucket or object")
    return Notification(message_id, "objects", objects=objects)
