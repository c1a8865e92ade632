"""The documented response contracts, written from Adobe's OpenAPI specs and API docs.

Sources (copied here so the project never reads them at test time): batch-ingestion.yaml (IngestBatch,
batch create 201), catalog.yaml (batchResponse, status enum, dataset keyed by id), streaming-ingestion.yaml
(StreamingIngestionResponse, BatchResponseDTO), profile.yaml (entity keyed by XID, ResponseErrorContext
with string statusCode), identity-service.yaml (namespace list), the gateway error table of the platform
troubleshooting guide, and IMS server-to-server token response.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CATALOG_STATUSES = Literal[
    "processing",
    "success",
    "failure",
    "queued",
    "retrying",
    "stalled",
    "aborted",
    "abandoned",
    "inactive",
    "failed",
    "loading",
    "loaded",
    "staged",
    "active",
    "staging",
    "deleted",
]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImsToken(Closed):
    access_token: str = Field(min_length=1)
    token_type: Literal["bearer"]
    expires_in: int = Field(gt=0)


class ImsError(Closed):
    error: str
    error_description: str


class GatewayError(Closed):
    error_code: str = Field(pattern=r"^\d{6}$")
    message: str


class Problem(Open):
    type: str
    title: str
    status: int | str


class RelatedObject(Open):
    type: str
    id: str


class BatchCreated(Open):
    id: str
    status: Literal["loading"]
    relatedObjects: list[RelatedObject]
    created: int
    updated: int


class BatchErrorItem(Open):
    code: str
    description: str


class CatalogBatch(Open):
    id: str
    status: CATALOG_STATUSES
    relatedObjects: list[RelatedObject]
    created: int
    metrics: dict[str, int] | None = None
    errors: list[BatchErrorItem] | None = None


class SchemaRef(Closed):
    id: str
    contentType: str


class CatalogDataset(Open):
    name: str
    schemaRef: SchemaRef
    tags: dict[str, list[str]]


class StreamEntry(Closed):
    xactionId: str | None = None
    statusCode: int | None = None
    message: str | None = None


class StreamBatch(Closed):
    inletId: str
    batchId: str
    receivedTimeMs: int
    responses: list[StreamEntry]


class StreamSingle(Closed):
    inletId: str
    xactionId: str = Field(pattern=r"^\d+:\d+:\d+")
    receivedTimeMs: int
    syncValidation: dict[str, Any]


class ProfileEntity(Open):
    entityId: str
    entity: dict[str, Any]
    sources: list[str]
    mergePolicy: dict[str, str]
    lastModifiedAt: str


class ProfileError(Open):
    message: str | None = None
    statusCode: str = Field(pattern=r"^\d{3}$")


class EventsPage(Closed):
    page: dict[str, Any] = Field(alias="_page")
    children: list[dict[str, Any]]
    links: dict[str, Any] = Field(alias="_links")


class Namespace(Open):
    code: str
    id: int
    name: str
    status: str
    idType: str
    custom: bool
    createTime: int
    updateTime: int


class RowErrorListing(Closed):
    page: dict[str, int] = Field(alias="_page")
    data: list[dict[str, Any]]


class FailedFileLinks(Closed):
    self_: dict[str, str] = Field(alias="self")


class FailedFile(Closed):
    name: str
    length: str = Field(pattern=r"^\d+$")
    links: FailedFileLinks = Field(alias="_links")


class FailedFiles(Closed):
    """``GET /export/batches/{id}/failed`` (data-access.yaml ``files``; retrieve-failed-batches.md)."""

    data: list[FailedFile]
    page: dict[str, int] = Field(alias="_page")


class StreamingViolation(Open):
    """One ``_streamingValidation`` entry (streaming-validation.md, the sync 400's ``causingExceptions``)."""

    keyword: str
    message: str


class FailedStreamRecord(Open):
    """One line of a streaming failed batch's file: the message and why AEP refused it after the 207.

    ``_errors._streamingValidation`` follows retrieve-failed-batches.md's appendix; that the header and body
    of the message come with it is what the community tools reading these files expect (unconfirmed)."""

    body: dict[str, Any]
    errors: dict[str, list[StreamingViolation]] = Field(alias="_errors")
