"""The batch ledger (one DynamoDB table, BATCH-DESIGN.md): what the follow-up reads and updates.

Batch items ``batch#{id}`` (pending ones found through the sparse ``pending-index``), file items
``file#{sha256}``, and the follow-up's own stream watermarks ``stream#{tenant}#{dataset}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

PENDING_INDEX = "pending-index"


def _dynamodb_client() -> Any:
    import boto3  # noqa: PLC0415 - lazily, at first use

    return boto3.client("dynamodb")


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints (or floats), recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


@dataclass(frozen=True)
class FileEntry:
    """A file item: the object, where it went, and what batchfn counted."""

    pk: str
    bucket: str
    key: str
    version: str
    tenant: str | None
    dataset_id: str | None
    state: str | None
    records_read: int
    records_sent: int
    records_refused: int
    refusals_key: str | None
    file_reason: str | None
    aep_files: tuple[str, ...]

    @classmethod
    def of(cls, item: dict[str, Any]) -> FileEntry:
        return cls(
            pk=str(item["pk"]),
            bucket=str(item.get("bucket", "")),
            key=str(item.get("key", "")),
            version=str(item.get("version", "")),
            tenant=item.get("tenant"),
            dataset_id=item.get("dataset_id"),
            state=item.get("state"),
            records_read=int(item.get("records_read") or 0),
            records_sent=int(item.get("records_sent") or 0),
            records_refused=int(item.get("records_refused") or 0),
            refusals_key=item.get("refusals_key"),
            file_reason=item.get("file_reason"),
            aep_files=tuple(str(f) for f in item.get("aep_files") or ()),
        )


@dataclass(frozen=True)
class BatchEntry:
    """A batch item that is completed (or ``completing``: COMPLETE not yet answered) and not yet final, or
    ``open`` with files bound to it (``waiting``: not uploaded yet; ``completed_at`` is then the time the
    first one was bound)."""

    batch_id: str
    tenant: str
    dataset_id: str | None
    files: tuple[str, ...]
    completed_at: float
    stuck_reported: bool = False
    state: str = "completed"
    waiting: tuple[str, ...] = ()

    @classmethod
    def of(cls, item: dict[str, Any]) -> BatchEntry:
        return cls(
            batch_id=str(item["pk"]).removeprefix("batch#"),
            tenant=str(item.get("tenant") or "default"),
            dataset_id=item.get("dataset_id"),
            files=tuple(str(f) for f in item.get("files") or ()),
            completed_at=float(item.get("completed_at") or 0),
            stuck_reported=bool(item.get("stuck_reported_at")),
            state=str(item.get("state") or "completed"),
            waiting=tuple(sorted(str(f) for f in item.get("waiting") or ())),
        )


class Ledger:
    def __init__(self, table: str, dynamodb_client: Callable[[], Any] = _dynamodb_client) -> None:
        self.table = table
        self._factory = dynamodb_client
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    @staticmethod
    def _decode(item: dict[str, Any]) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415 - with boto3, lazily

        deserialize = TypeDeserializer().deserialize
        return {k: _plain(deserialize(v)) for k, v in item.items()}

    def pending(self) -> Iterator[BatchEntry]:
        """Completed, not final batches, longest pending first (``pending-index``, every page)."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="#p = :one",
            ExpressionAttributeNames={"#p": "pending"},
            ExpressionAttributeValues={":one": {"S": "1"}},
        )
        for page in pages:
            for item in page.get("Items", []):
                yield BatchEntry.of(self._decode(item))

    def files(self, pks: tuple[str, ...]) -> list[FileEntry]:
        """The file items of ``pks`` (consistent reads, at most 100 keys a call, unprocessed keys again)."""
        found: dict[str, FileEntry] = {}
        for start in range(0, len(pks), 100):
            keys = [{"pk": {"S": pk}} for pk in pks[start : start + 100]]
            for _ in range(5):
                answer = self.client.batch_get_item(
                    RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
                )
                for item in answer.get("Responses", {}).get(self.table, []):
                    entry = FileEntry.of(self._decode(item))
                    found[entry.pk] = entry
                keys = answer.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                if not keys:
                    break
        return [found[pk] for pk in pks if pk in found]

    def has_batch(self, batch_id: str) -> bool:
        """Whether ``batch_id`` is one of the ledger's (a file batch of ours)."""
        answer = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": f"batch#{batch_id}"}}, ProjectionExpression="pk"
        )
        return "Item" in answer

    def mark_final(self, batch_id: str, aep_status: str, now: float) -> bool:
        """The batch is final: ``state=final``, its AEP status, out of ``pending-index``. False when another
        run did it first (nothing changed)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"batch#{batch_id}"}},
                UpdateExpression="SET #s = :final, aep_status = :status, reported_at = :now REMOVE pending",
                ConditionExpression="attribute_exists(pk) AND #s <> :final",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":final": {"S": "final"},
                    ":status": {"S": aep_status},
                    ":now": {"N": str(int(now))},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_completed(self, batch_id: str, now: float) -> None:
        """COMPLETE was signalled (again) for a ``completing`` batch: ``completed`` (nothing else changes)."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"batch#{batch_id}"}},
                UpdateExpression="SET #s = :completed, updated_at = :now",
                ConditionExpression="#s = :completing",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":completed": {"S": "completed"},
                    ":completing": {"S": "completing"},
                    ":now": {"N": str(int(now))},
                },
            )

    def mark_stuck_reported(self, batch_id: str, now: float) -> bool:
        """Remember the stuck report was written (once). False when it already was."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"batch#{batch_id}"}},
                UpdateExpression="SET stuck_reported_at = :now",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(stuck_reported_at)",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_file_reported(self, pk: str, report_key: str, now: float) -> None:
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET #s = :reported, report_key = :key, updated_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":reported": {"S": "reported"},
                ":key": {"S": report_key},
                ":now": {"N": str(int(now))},
            },
        )

    def watermark(self, tenant: str, dataset_id: str) -> int | None:
        """The ``created`` (epoch ms) of the last failed streaming batch written out, or None."""
        answer = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": f"stream#{tenant}#{dataset_id}"}}, ConsistentRead=True
        )
        item = answer.get("Item")
        if not item or "created_after" not in item:
            return None
        return int(item["created_after"]["N"])

    def advance_watermark(self, tenant: str, dataset_id: str, created_after: int, now: float) -> None:
        """Move the watermark forward (never back: a concurrent run may be further already)."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"stream#{tenant}#{dataset_id}"}},
                UpdateExpression="SET created_after = :at, tenant = :t, dataset_id = :d, updated_at = :now",
                ConditionExpression="attribute_not_exists(created_after) OR created_after < :at",
                ExpressionAttributeValues={
                    ":at": {"N": str(created_after)},
                    ":t": {"S": tenant},
                    ":d": {"S": dataset_id},
                    ":now": {"N": str(int(now))},
                },
            )
