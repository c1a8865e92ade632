"""The streaming function's configuration (``STREAM_*`` variables), parsed once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from aep.config import parse_env
from aep.normalize import allowed_namespaces, is_namespace_code
from aep.record_rules import RecordRules, namespaces_for

ENVIRONMENT = {
    "STREAM_INLET_ID": "inlet_id",
    "STREAM_DATASET_ID": "dataset_id",
    "STREAM_SCHEMA_REF": "schema_ref",
    "STREAM_FLOW_ID": "flow_id",
    "STREAM_INLET_AUTHENTICATED": "inlet_authenticated",
    "STREAM_RECORD_CLASS": "record_class",
    "STREAM_IDENTITY_FIELD": "identity_field",
    "STREAM_IDENTITY_NAMESPACE": "identity_namespace",
    "STREAM_ALLOWED_NAMESPACES": "allowed_namespaces",
    "STREAM_DEFAULT_PHONE_REGION": "default_phone_region",
    "STREAM_DLQ_URL": "dlq_url",
    "STREAM_DLQ_OVERFLOW_BUCKET": "dlq_overflow_bucket",
    "STREAM_CONCURRENCY": "concurrency",
    "STREAM_MAX_MESSAGES_PER_REQUEST": "max_messages_per_request",
    "STREAM_DEADLINE_SAFETY_SECONDS": "deadline_safety_seconds",
    "STREAM_MAX_CLOCK_SKEW_SECONDS": "max_clock_skew_seconds",
    "STREAM_DEFAULT_TENANT_QUEUES": "default_tenant_queues",
}

#: An SQS queue ARN (any partition), the form of ``eventSourceARN``.
_QUEUE_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")


class StreamSettings(BaseModel):
    """Where records go (inlet, dataset, schema, flow), how identities are read, where rejects go.

    ``flow_id`` is required: AEP's streaming message header requires ``flowId`` (the dataflow's id).
    ``allowed_namespaces`` (comma-separated codes) lists the identityMap namespaces a record may use; unset,
    it is :data:`aep.normalize.DEFAULT_NAMESPACES` plus ``identity_namespace``.
    ``default_tenant_queues`` (comma-separated SQS queue ARNs): the stack's own queues, the only ones that
    may carry records of the ``default`` tenant and of registry tenants listing no ``source_queues``; unset,
    any queue (a deployment without tenants). See :mod:`stream_ingest.tenancy`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    inlet_id: str = Field(min_length=1)
    dataset_id: str = Field(min_length=1)
    schema_ref: str | None = None
    flow_id: str = Field(min_length=1)
    inlet_authenticated: bool = False
    record_class: Literal["experienceevent", "profile"] = "experienceevent"
    identity_field: str | None = None
    identity_namespace: str | None = Field(default=None, validate_default=True)
    allowed_namespaces: tuple[str, ...] | None = None
    default_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    dlq_url: str = Field(min_length=1)
    dlq_overflow_bucket: str | None = None  # dead letters too large for SQS: body here, pointer in the DLQ
    concurrency: int = Field(default=8, ge=1, le=64)
    max_messages_per_request: int = Field(default=2000, ge=1, le=10_000)
    deadline_safety_seconds: float = Field(default=3.0, ge=0)
    max_clock_skew_seconds: float = Field(default=60.0, ge=0)
    default_tenant_queues: tuple[str, ...] | None = None

    # The validators only hand over to plain functions below (mutation testing skips decorated functions).

    @field_validator("identity_namespace")
    @classmethod
    def _identity_pair(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _paired(info.data.get("identity_field"), value)

    @field_validator("allowed_namespaces", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _split_codes(value)

    @field_validator("allowed_namespaces")
    @classmethod
    def _codes(cls, value: tuple[str, ...] | None, info: ValidationInfo) -> tuple[str, ...] | None:
        return _checked_codes(value, info.data.get("identity_namespace"))

    @field_validator("default_tenant_queues", mode="before")
    @classmethod
    def _split_queues(cls, value: Any) -> Any:
        return _split_codes(value)

    @field_validator("default_tenant_queues")
    @classmethod
    def _queues(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _checked_queues(value)

    @cached_property
    def namespaces(self) -> frozenset[str]:
        """The identityMap namespaces records may use (lowercased codes, for aep.normalize)."""
        return namespaces_for(self.allowed_namespaces, self.identity_namespace)

    @cached_property
    def rules(self) -> RecordRules:
        """How this function's records are judged (:mod:`aep.record_rules`, shared with batch ingestion)."""
        return RecordRules(
            record_class=self.record_class,
            namespaces=self.namespaces,
            identity_field=self.identity_field,
            identity_namespace=self.identity_namespace,
            default_phone_region=self.default_phone_region,
            max_clock_skew_seconds=self.max_clock_skew_seconds,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StreamSettings:
        return parse_env(cls, ENVIRONMENT, environ)


def _paired(field: str | None, namespace: str | None) -> str | None:
    if bool(field) != bool(namespace):
        raise ValueError("and STREAM_IDENTITY_FIELD go together (set both or neither)")
    return namespace


def _split_codes(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(code.strip() for code in value.split(",") if code.strip())
    return value


def _checked_codes(codes: tuple[str, ...] | None, identity: str | None) -> tuple[str, ...] | None:
    if codes is None:
        return None
    if not codes:
        raise ValueError("must name at least one namespace")
    if not all(is_namespace_code(code) for code in codes):
        raise ValueError("must be namespace codes separated by commas")
    if identity and identity.strip().lower() not in allowed_namespaces(codes):
        raise ValueError(f"must include STREAM_IDENTITY_NAMESPACE ({identity})")
    return codes


def _checked_queues(queues: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if queues is None:
        return None
    if not queues or not all(_QUEUE_ARN.fullmatch(queue) for queue in queues):
        raise ValueError("must be SQS queue ARNs separated by commas")
    return queues
