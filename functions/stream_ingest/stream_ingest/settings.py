"""The streaming function's configuration (``STREAM_*`` variables), parsed once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aep.config import parse_env

ENVIRONMENT = {
    "STREAM_INLET_ID": "inlet_id",
    "STREAM_DATASET_ID": "dataset_id",
    "STREAM_SCHEMA_REF": "schema_ref",
    "STREAM_FLOW_ID": "flow_id",
    "STREAM_INLET_AUTHENTICATED": "inlet_authenticated",
    "STREAM_RECORD_CLASS": "record_class",
    "STREAM_IDENTITY_FIELD": "identity_field",
    "STREAM_IDENTITY_NAMESPACE": "identity_namespace",
    "STREAM_DEFAULT_PHONE_REGION": "default_phone_region",
    "STREAM_DLQ_URL": "dlq_url",
    "STREAM_DLQ_OVERFLOW_BUCKET": "dlq_overflow_bucket",
    "STREAM_CONCURRENCY": "concurrency",
    "STREAM_MAX_MESSAGES_PER_REQUEST": "max_messages_per_request",
    "STREAM_DEADLINE_SAFETY_SECONDS": "deadline_safety_seconds",
    "STREAM_MAX_CLOCK_SKEW_SECONDS": "max_clock_skew_seconds",
}


class StreamSettings(BaseModel):
    """Where records go (inlet, dataset, schema, flow), how identities are read, where rejects go."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inlet_id: str = Field(min_length=1)
    dataset_id: str = Field(min_length=1)
    schema_ref: str | None = None
    flow_id: str | None = None
    inlet_authenticated: bool = False
    record_class: Literal["experienceevent", "profile"] = "experienceevent"
    identity_field: str | None = None
    identity_namespace: str | None = None
    default_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    dlq_url: str = Field(min_length=1)
    dlq_overflow_bucket: str | None = None  # dead letters too large for SQS: body here, pointer in the DLQ
    concurrency: int = Field(default=8, ge=1, le=64)
    max_messages_per_request: int = Field(default=2000, ge=1, le=10_000)
    deadline_safety_seconds: float = Field(default=3.0, ge=0)
    max_clock_skew_seconds: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _identity_pair(self) -> StreamSettings:
        if bool(self.identity_field) != bool(self.identity_namespace):
            raise ValueError("STREAM_IDENTITY_FIELD and STREAM_IDENTITY_NAMESPACE go together")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StreamSettings:
        return parse_env(cls, ENVIRONMENT, environ)
