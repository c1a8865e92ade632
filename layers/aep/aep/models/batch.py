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


class FailedRecord(AepModel):
    """One record of a failed batch's file in Data Access (``GET /batches/{id}/failed?path=...``).

    A streamed record AEP refused after acknowledging it: the message (``header``, ``body``) with why
    under ``_errors._streamingValidation`` (retrieve-failed-batches.md), or ``_validationErrors`` (the
    tutorial's example), or a row error's ``_corrupt_record``. Which shapes AEP writes is not fully
    documented: all three are read.
    """

    header: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    errors: Any = Field(default=None, alias="_errors")
    validation_errors: list[Any] = Field(default_factory=list, alias="_validationErrors")
    corrupt_record: str | None = Field(default=None, alias="_corrupt_record")

    @property
    def entity(self) -> Any:
        """The record (``body.xdmEntity``), else the corrupt row's text, else None."""
        if isinstance(self.body, dict) and "xdmEntity" in self.body:
            return self.body["xdmEntity"]
        return self.corrupt_record

    @property
    def reasons(self) -> list[str]:
        """Why AEP refused it: each violation's message (with its keyword and pointer when given)."""
        found: list[Any] = list(self.validation_errors)
        if isinstance(self.errors, dict):
            for value in self.errors.values():
                found.extend(value if isinstance(value, list) else [value])
        elif isinstance(self.errors, list):
            found.extend(self.errors)
        return [_reason(item) for item in found]


def _reason(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    message = str(item.get("message") or item.get("description") or "")
    keyword = item.get("keyword") or item.get("code")
    pointer = item.get("pointerToViolation")
    prefix = ": ".join(str(x) for x in (keyword, pointer) if x and x != "#")
    return f"{prefix}: {message}" if prefix else message
