"""Batch ingestion and Catalog batch status."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from aep.models.base import AepModel

InputFormat = Literal["json", "parquet", "csv"]


class BatchState(StrEnum):
    """Catalog's many status words folded into the states a caller acts on.

    Adobe documents that "active and success are used interchangeably", and so are "failed" and "failure".
    """

    LOADING = "loading"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    ABORTED = "aborted"
    INACTIVE = "inactive"

    @classmethod
    def of(cls, status: str | None) -> BatchState:
        return _STATES.get((status or "").strip().lower(), cls.PROCESSING)

    @property
    def final(self) -> bool:
        return self in (BatchState.SUCCESS, BatchState.FAILED, BatchState.ABORTED, BatchState.INACTIVE)


_STATES = {
    "loading": BatchState.LOADING,
    "loaded": BatchState.PROCESSING,
    "queued": BatchState.PROCESSING,
    "processing": BatchState.PROCESSING,
    "staging": BatchState.PROCESSING,
    "staged": BatchState.PROCESSING,
    "retrying": BatchState.PROCESSING,
    "stalled": BatchState.PROCESSING,
    "success": BatchState.SUCCESS,
    "active": BatchState.SUCCESS,
    "failed": BatchState.FAILED,
    "failure": BatchState.FAILED,
    "aborted": BatchState.ABORTED,
    "abandoned": BatchState.ABORTED,
    "inactive": BatchState.INACTIVE,
    "deleted": BatchState.INACTIVE,
}


class BatchMetrics(AepModel):
    input_byte_size: int | None = Field(default=None, alias="inputByteSize")
    input_file_count: int | None = Field(default=None, alias="inputFileCount")
    input_record_count: int | None = Field(default=None, alias="inputRecordCount")
    output_record_count: int | None = Field(default=None, alias="outputRecordCount")
    failed_record_count: int | None = Field(default=None, alias="failedRecordCount")


class BatchErrorEntry(AepModel):
    code: str | None = None
    description: str | None = None
    record_count: int | None = Field(default=None, alias="recordCount")
    rows: list[Any] | None = None


class Batch(AepModel):
    """A batch as Batch Ingestion creates it and Catalog reports it."""

    id: str
    status: str | None = None
    external_id: str | None = Field(default=None, alias="externalId")
    related_objects: list[dict[str, Any]] = Field(default_factory=list, alias="relatedObjects")
    input_format: dict[str, Any] | None = Field(default=None, alias="inputFormat")
    metrics: BatchMetrics | None = None
    errors: list[BatchErrorEntry] = Field(default_factory=list)
    created: int | None = None
    updated: int | None = None
    completed: int | None = None

    @property
    def state(self) -> BatchState:
        return BatchState.of(self.status)

    @property
    def dataset_id(self) -> str | None:
        for related in self.related_objects:
            if str(related.get("type", "")).lower() == "dataset":
                return str(related.get("id"))
        return None


class RowError(AepModel):
    """One failed row from Data Access diagnostics (``meta?path=row_errors/...``)."""

    corrupt_record: str | None = Field(default=None, alias="_corrupt_record")
    errors: list[dict[str, Any]] = Field(default_factory=list, alias="_errors")
    filename: str | None = Field(default=None, alias="_filename")
