"""The follow-up's configuration (``BATCH_*`` variables, ``STREAM_DATASET_ID``), parsed once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aep.config import parse_env

ENVIRONMENT = {
    "BATCH_LEDGER_TABLE": "ledger_table",
    "BATCH_DROP_BUCKET": "drop_bucket",
    "BATCH_REPORTS_BUCKET": "reports_bucket",
    "BATCH_REPORTS_PREFIX": "reports_prefix",
    "BATCH_ON_SUCCESS": "on_success",
    "BATCH_SUCCESS_PREFIX": "success_prefix",
    "BATCH_STUCK_AFTER_MINUTES": "stuck_after_minutes",
    "BATCH_FOLLOW_SAFETY_SECONDS": "safety_seconds",
    "BATCH_FOLLOW_MAX_ROW_ERRORS": "max_row_errors",
    "BATCH_STREAM_LOOKBACK_HOURS": "stream_lookback_hours",
    "STREAM_DATASET_ID": "stream_dataset_id",
}


class FollowSettings(BaseModel):
    """``ledger_table``: the batch ledger. Reports go to ``reports_bucket`` (unset: the file's own bucket;
    streaming rejects: ``drop_bucket``) under ``reports_prefix``. On success a file is tagged
    (``aep:ingested=success|partial``) or moved under ``success_prefix`` (``on_success``). A batch
    pending longer than ``stuck_after_minutes`` is reported stuck. ``stream_dataset_id``: the default
    tenant's streaming dataset, whose failed streaming batches are followed too (with the registry
    tenants'); read from ``stream_lookback_hours`` ago on the first run, from the watermark afterwards."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ledger_table: str = Field(min_length=1)
    drop_bucket: str | None = None
    reports_bucket: str | None = None
    reports_prefix: str = "_reports/"
    on_success: Literal["tag", "move"] = "tag"
    success_prefix: str = Field(default="_ingested/", min_length=1)
    stuck_after_minutes: float = Field(default=120.0, gt=0, le=7 * 24 * 60)
    safety_seconds: float = Field(default=10.0, ge=0, le=300)
    max_row_errors: int = Field(default=10_000, ge=1, le=1_000_000)
    stream_lookback_hours: float = Field(default=24.0, gt=0, le=30 * 24)
    stream_dataset_id: str | None = None

    @model_validator(mode="after")
    def _somewhere_to_write(self) -> FollowSettings:
        if not (self.reports_bucket or self.drop_bucket):
            raise ValueError("BATCH_REPORTS_BUCKET or BATCH_DROP_BUCKET is required")
        if self.on_success == "move" and self.success_prefix.startswith(self.reports_prefix):
            raise ValueError("BATCH_SUCCESS_PREFIX must not be under BATCH_REPORTS_PREFIX")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FollowSettings:
        """Raises AepConfigError naming every missing or bad variable (never its value)."""
        return parse_env(cls, ENVIRONMENT, environ)

    def reports_bucket_for(self, file_bucket: str | None = None) -> str:
        bucket = self.reports_bucket or file_bucket or self.drop_bucket
        assert bucket is not None  # the validator requires one of them
        return bucket
