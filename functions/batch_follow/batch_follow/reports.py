"""Reports in S3: one JSON report per file, JSON Lines of AEP's row errors and of streamed rejects, and
what happens to a file AEP ingested (tagged, or moved)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from batch_follow.ledger import FileEntry

INGESTED_TAG = "aep:ingested"


def _s3_client() -> Any:
    import boto3  # noqa: PLC0415 - lazily, at first use

    return boto3.client("s3")


def rfc3339(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


#: S3's longest key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


def report_key(prefix: str, key: str) -> str:
    """``{prefix}{key}.report.json``, or ``{prefix}_long/{sha256(key)}.report.json`` when that is longer
    than S3 allows (as the batch function names it: batch_ingest.reports.report_key)."""
    name = f"{prefix}{key}.report.json"
    if len(name.encode()) <= MAX_KEY_BYTES:
        return name
    return f"{prefix}_long/{hashlib.sha256(key.encode()).hexdigest()}.report.json"


def row_errors_key(prefix: str, batch_id: str) -> str:
    return f"{prefix}_batches/{batch_id}.row-errors.jsonl"


def stream_rejects_key(prefix: str, tenant: str, dataset_id: str, batch_id: str) -> str:
    return f"{prefix}_streaming/{tenant}/{dataset_id}/{batch_id}.jsonl"


def jsonl(lines: Iterable[Any]) -> bytes:
    return "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines).encode()


class ReportStore:
    def __init__(self, s3_client: Callable[[], Any] = _s3_client) -> None:
        self._factory = s3_client
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def put_json(self, bucket: str, key: str, document: Any) -> None:
        body = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode()
        self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    def put_lines(self, bucket: str, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    @staticmethod
    def _version(entry: FileEntry) -> dict[str, str]:
        """The object's exact version when the ledger has its version id (``etag:...`` is not one)."""
        if entry.version and not entry.version.startswith("etag:"):
            return {"VersionId": entry.version}
        return {}

    def tag(self, entry: FileEntry, value: str) -> None:
        """Add ``aep:ingested=value`` to the object's tags, keeping the others."""
        version = self._version(entry)
        current = self.client.get_object_tagging(Bucket=entry.bucket, Key=entry.key, **version)
        tags = [t for t in current.get("TagSet", []) if t["Key"] != INGESTED_TAG]
        tags.append({"Key": INGESTED_TAG, "Value": value})
        self.client.put_object_tagging(
            Bucket=entry.bucket, Key=entry.key, Tagging={"TagSet": tags[-10:]}, **version
        )

    def move(self, entry: FileEntry, prefix: str, value: str) -> str:
        """Copy the object under ``prefix`` (tagged ``aep:ingested=value``; any size), then delete it."""
        target = f"{prefix}{entry.key}"
        source = {"Bucket": entry.bucket, "Key": entry.key, **self._version(entry)}
        self.client.copy(
            source,
            entry.bucket,
            target,
            ExtraArgs={"Tagging": urlencode({INGESTED_TAG: value}), "TaggingDirective": "REPLACE"},
        )
        self.client.delete_object(Bucket=entry.bucket, Key=entry.key)
        return target
