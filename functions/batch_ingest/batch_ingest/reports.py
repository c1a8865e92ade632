"""Reports in S3 (BATCH-DESIGN.md): one JSON report per file, the refused records' JSON Lines beside it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch_ingest.notifications import ObjectRef

#: S3's longest key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


def _beside(prefix: str, key: str, suffix: str) -> str:
    """``{prefix}{key}{suffix}``, or ``{prefix}_long/{sha256(key)}{suffix}`` when that is longer than S3
    allows (the report itself names the full key). The follow-up names reports the same way."""
    name = f"{prefix}{key}{suffix}"
    if len(name.encode()) <= MAX_KEY_BYTES:
        return name
    return f"{prefix}_long/{hashlib.sha256(key.encode()).hexdigest()}{suffix}"


def report_key(prefix: str, key: str) -> str:
    return _beside(prefix, key, ".report.json")


def refusals_key(prefix: str, key: str) -> str:
    return _beside(prefix, key, ".refusals.jsonl")


def refused_key_report(prefix: str, ref: ObjectRef) -> str:
    """A refused key is never used to name an object: its report is named by the raw key's hash."""
    digest = hashlib.sha256(f"{ref.bucket}\n{ref.raw_key}".encode()).hexdigest()[:32]
    return f"{prefix}_refused-keys/{digest}.report.json"


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def file_report(
    *,
    bucket: str,
    key: str | None,
    version: str,
    tenant: str | None,
    dataset_id: str | None,
    batch_id: str | None,
    status: str,
    reason: str | None,
    read: int = 0,
    sent: int = 0,
    refused: int = 0,
    refusals: str | None = None,
    now: float,
) -> dict[str, Any]:
    """The report's shape, as the follow-up writes it too (its ``aep`` part empty: nothing reached AEP)."""
    return {
        "file": {"bucket": bucket, "key": key, "version": version},
        "tenant": tenant,
        "datasetId": dataset_id,
        "batchId": batch_id,
        "status": status,
        "reason": reason,
        "records": {"read": read, "sent": sent, "refusedHere": refused, "failedInAep": 0},
        "aep": {"status": None, "metrics": {}, "errors": []},
        "refusals": refusals,
        "aepRowErrors": None,
        "reportedAt": rfc3339(now),
    }


class Reports:
    """Writes reports and refusal lines; ``bucket`` None: the dropped file's own bucket."""

    def __init__(self, s3: Callable[[], Any], prefix: str, bucket: str | None = None) -> None:
        self._factory = s3
        self._s3: Any = None
        self.prefix = prefix
        self.bucket = bucket

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self._factory()
        return self._s3

    def where(self, source_bucket: str) -> str:
        return self.bucket or source_bucket

    def put_report(self, source_bucket: str, object_key: str, report: dict[str, Any]) -> None:
        # the same layout as the follow-up's reports (batch_follow.reports): one style for every report
        body = json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True).encode()
        self.s3.put_object(
            Bucket=self.where(source_bucket), Key=object_key, Body=body, ContentType="application/json"
        )

    def put_refusals(self, source_bucket: str, object_key: str, path: Path) -> None:
        with path.open("rb") as body:
            self.s3.put_object(
                Bucket=self.where(source_bucket),
                Key=object_key,
                Body=body,
                ContentType="application/x-ndjson",
            )

    def fetch_refusals(self, source_bucket: str, object_key: str, path: Path) -> None:
        """Copy refusal lines written by an earlier step of the file into ``path`` (continuation)."""
        self.s3.download_file(self.where(source_bucket), object_key, str(path))
