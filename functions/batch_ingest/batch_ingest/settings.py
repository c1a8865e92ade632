"""The batch function's configuration (``BATCH_*`` variables), parsed once per container."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from aep.batch import MAX_CHUNK_SIZE, SINGLE_PUT_LIMIT
from aep.config import parse_env
from batch_ingest.routes import Route, checked_routes, parse_routes

ENVIRONMENT = {
    "BATCH_REPORTS_PREFIX": "reports_prefix",
    "BATCH_SUCCESS_PREFIX": "success_prefix",
    "BATCH_ROUTES": "routes",
    "BATCH_REPORTS_BUCKET": "reports_bucket",
    "BATCH_LEDGER_TABLE": "ledger_table",
    "BATCH_IDEMPOTENCY_TABLE": "idempotency_table",
    "BATCH_QUEUE_URL": "queue_url",
    "BATCH_SINGLE_PUT_MAX_BYTES": "single_put_max_bytes",
    "BATCH_OUTPUT_FILE_BYTES": "output_file_bytes",
    "BATCH_GROUP_THRESHOLD_BYTES": "group_threshold_bytes",
    "BATCH_CHUNK_BYTES": "chunk_bytes",
    "BATCH_TIME_MARGIN_SECONDS": "time_margin_seconds",
    "BATCH_MAX_INFLATED_BYTES": "max_inflated_bytes",
    "BATCH_IDEMPOTENCY_SECONDS": "idempotency_seconds",
    "BATCH_SPOOL_DIR": "spool_dir",
    "BATCH_PARTIAL_INGESTION_PERCENT": "partial_ingestion_percent",
}

MIB = 1024 * 1024
#: AEP: at most 1,500 files in one batch.
MAX_FILES_PER_BATCH = 1500


class BatchSettings(BaseModel):
    """Routes, where reports go, the ledger and idempotency tables, the size thresholds and time margin.

    ``reports_prefix`` and ``success_prefix`` (where the follow-up moves ingested files when
    BATCH_ON_SUCCESS=move) are declared first: their keys are ignored, and no route may lie under them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reports_prefix: str = Field(default="_reports/", min_length=1, pattern=r"^[^/\x00-\x1f][^\x00-\x1f]*/$")
    success_prefix: str = Field(default="_ingested/", min_length=1, pattern=r"^[^/\x00-\x1f][^\x00-\x1f]*/$")
    routes: tuple[Route, ...]
    reports_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    ledger_table: str = Field(min_length=3, max_length=255)
    idempotency_table: str = Field(min_length=3, max_length=255)
    queue_url: str = Field(pattern=r"^https://\S+$")
    single_put_max_bytes: int = Field(default=SINGLE_PUT_LIMIT, ge=1, le=SINGLE_PUT_LIMIT)
    output_file_bytes: int = Field(default=SINGLE_PUT_LIMIT, ge=1_000_000, le=100 * 1024 * MIB)
    group_threshold_bytes: int = Field(default=64 * MIB, ge=0)
    chunk_bytes: int = Field(default=32 * MIB, ge=1, le=MAX_CHUNK_SIZE)
    time_margin_seconds: float = Field(default=120.0, ge=0)
    max_inflated_bytes: int = Field(default=10 * 1024 * MIB, ge=1)
    idempotency_seconds: int = Field(default=86_400, ge=60)
    # AEP's partialIngestionPercent: the share of a batch's rows AEP may refuse before it fails the whole
    # batch. 100: a record's fate is its own (one bad row of one file never fails the good rows of the files
    # sharing its batch; AEP's row errors reach each file's report). Lower it for all-or-nothing batches.
    partial_ingestion_percent: int = Field(default=100, ge=0, le=100)
    spool_dir: str = Field(default_factory=tempfile.gettempdir, min_length=1)

    @field_validator("routes", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return parse_routes(value)

    @field_validator("routes")
    @classmethod
    def _routes(cls, value: tuple[Route, ...], info: ValidationInfo) -> tuple[Route, ...]:
        return checked_routes(value, (info.data.get("reports_prefix"), info.data.get("success_prefix")))

    @property
    def ignored_prefixes(self) -> tuple[str, ...]:
        """Keys the function never ingests: its reports, and files the follow-up moved once ingested."""
        return (self.reports_prefix, self.success_prefix)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BatchSettings:
        return parse_env(cls, ENVIRONMENT, environ)
