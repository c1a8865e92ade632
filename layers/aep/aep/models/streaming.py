"""Streaming ingestion responses, and the per-message outcome the client returns."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from aep.models.base import AepModel


class StreamResponseEntry(AepModel):
    """One entry of a 207 multi-message response: ``xactionId`` on success, else status and message."""

    xaction_id: str | None = Field(default=None, alias="xactionId")
    status_code: int | None = Field(default=None, alias="statusCode")
    message: str | None = None


class StreamBatchResponse(AepModel):
    inlet_id: str | None = Field(default=None, alias="inletId")
    batch_id: str | None = Field(default=None, alias="batchId")
    received_time_ms: int | None = Field(default=None, alias="receivedTimeMs")
    responses: list[StreamResponseEntry] = Field(default_factory=list)


class StreamSingleResponse(AepModel):
    inlet_id: str | None = Field(default=None, alias="inletId")
    xaction_id: str | None = Field(default=None, alias="xactionId")
    received_time_ms: int | None = Field(default=None, alias="receivedTimeMs")
    sync_validation: dict[str, Any] | None = Field(default=None, alias="syncValidation")


class MessageResult(AepModel):
    """What happened to one message sent with :meth:`aep.streaming.StreamingApi.send_many`."""

    index: int
    ok: bool
    xaction_id: str | None = None
    status: int | None = None
    reason: str | None = None
    retryable: bool = False
