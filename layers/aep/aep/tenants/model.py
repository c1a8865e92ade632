"""A tenant's item: who it is in AEP (org, sandbox), its secrets, where its records go, who may act for it.

The DynamoDB item is this model's JSON form (``Tenant.to_item`` / ``Tenant.from_item``); the README's
"Tenant registry" section documents every attribute.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aep.errors import AepConfigError

DEFAULT_TENANT = "default"
TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
AUTHORIZER_PREFIX = "authorizer:"  # a ``principals`` entry naming a Lambda authorizer's principalId
RATE_CEILING_MIN = 0.1  # requests per second per container
RATE_CEILING_MAX = 10_000.0
_SANDBOX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
_SM_NAME = r"[A-Za-z0-9/_+=.@-]{1,512}"
_SECRET_ID_RE = re.compile(
    rf"^(?:{_SM_NAME}|arn:aws[a-z-]*:secretsmanager:{_REGION}:\d{{12}}:secret:{_SM_NAME})$", re.ASCII
)
_QUEUE_ARN_RE = re.compile(
    rf"^arn:aws[a-z-]*:sqs:{_REGION}:\d{{12}}:(?:[A-Za-z0-9_-]{{1,75}}\.fifo|[A-Za-z0-9_-]{{1,80}})$",
    re.ASCII,
)
_IAM_PRINCIPAL_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:(?:role|user)/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$", re.ASCII
)
_AUTHORIZER_PRINCIPAL_RE = re.compile(rf"^{AUTHORIZER_PREFIX}[!-~]{{1,256}}$", re.ASCII)
_API_KEY_ID_RE = re.compile(r"^[A-Za-z0-9]{1,128}$", re.ASCII)


class UnknownTenantError(AepConfigError):
    """A record or caller names a tenant the registry does not hold, or a disabled one (``disabled``)."""

    def __init__(self, message: str, *, disabled: bool = False, **details: Any) -> None:
        super().__init__(message, **details)
        self.disabled = disabled


class TenantStreaming(BaseModel):
    """The streaming targets of one tenant: the same names as the streaming function's settings.

    Unset fields fall back to the function's ``STREAM_*`` configuration.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    inlet_id: str | None = Field(default=None, min_length=1)
    dataset_id: str | None = Field(default=None, min_length=1)
    schema_ref: str | None = Field(default=None, min_length=1)
    flow_id: str | None = Field(default=None, min_length=1)
    inlet_authenticated: bool | None = None
    allowed_namespaces: tuple[str, ...] | None = None
    default_phone_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")

    @field_validator("inlet_id", "dataset_id", "schema_ref", "flow_id")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _checked_text(value)

    @field_validator("allowed_namespaces")
    @classmethod
    def _namespaces(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(_checked_text(code) for code in value)

    def overrides(self) -> dict[str, Any]:
        """The fields this tenant sets, for ``StreamSettings``."""
        return self.model_dump(exclude_none=True)


class SetupSchema(BaseModel):
    """A schema setup made or found: its ``$id`` and ``meta:altId``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    alt_id: str = Field(min_length=1)


class SetupStream(BaseModel):
    """An HTTP API streaming connection setup made or found, and the dataset its dataflow writes to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_id: str = Field(min_length=1)
    inlet_id: str = Field(min_length=1)
    inlet_url: str = Field(min_length=1)
    flow_id: str = Field(min_length=1)


class TenantSetup(BaseModel):
    """What ``python -m aep.setup apply --tenant-id`` last converged in the tenant's org: the Schema
    Registry tenant id, each schema, dataset and streaming connection of its setup file by title or name,
    and ``stream``: the connection whose dataset, inlet, flow and schema are the tenant's ``streaming``
    targets. Written by setup only; the functions do not read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aep_tenant: str | None = Field(default=None, min_length=1)
    schemas: dict[str, SetupSchema] = Field(default_factory=dict)
    datasets: dict[str, str] = Field(default_factory=dict)
    streaming: dict[str, SetupStream] = Field(default_factory=dict)
    stream: str | None = Field(default=None, min_length=1)


class Tenant(BaseModel):
    """One brand: its AEP org and sandbox, its two secrets, its targets, and the principals acting for it.

    ``credentials_secret_id`` / ``token_secret_id``: Secrets Manager secret names or ARNs.
    ``source_queues``: the SQS queue ARNs allowed to carry this tenant's records (empty: the stack's own
    queues). ``principals``: who may look up this tenant's profiles: IAM role or user ARNs (a role also
    admits its sessions), or ``authorizer:<principalId>`` for a Lambda authorizer's principal.
    ``api_key_ids``: API Gateway API key ids (not the keys) mapped to this tenant. ``rate_ceiling``: at
    most this many streaming requests per second per container, ``RATE_CEILING_MIN`` to
    ``RATE_CEILING_MAX`` (unset: no ceiling). Errors name the field, never the value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    # None only for the implicit default tenant: its org is the one its credentials secret names.
    org_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]+@AdobeOrg$")
    sandbox_name: str = "prod"
    credentials_secret_id: str = Field(min_length=1)
    token_secret_id: str = Field(min_length=1)
    enabled: bool = True
    streaming: TenantStreaming = TenantStreaming()
    source_queues: tuple[str, ...] = ()
    principals: tuple[str, ...] = ()
    api_key_ids: tuple[str, ...] = ()
    rate_ceiling: float | None = Field(
        default=None, ge=RATE_CEILING_MIN, le=RATE_CEILING_MAX, allow_inf_nan=False
    )
    setup: TenantSetup | None = None  # written by ``python -m aep.setup apply --tenant-id`` only
    version: int = Field(default=1, ge=1)  # bumped by every change: containers rebuild the tenant's client

    @field_validator("sandbox_name")
    @classmethod
    def _sandbox(cls, value: str) -> str:
        return _checked_sandbox(value)

    @field_validator("credentials_secret_id", "token_secret_id")
    @classmethod
    def _secret_id(cls, value: str) -> str:
        return checked_secret_id(value)

    @field_validator("source_queues")
    @classmethod
    def _queues(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _each(
            value,
            _QUEUE_ARN_RE,
            "each must be an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME), not its URL",
        )

    @field_validator("principals")
    @classmethod
    def _principals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not (_IAM_PRINCIPAL_RE.fullmatch(entry) or _AUTHORIZER_PRINCIPAL_RE.fullmatch(entry)):
                raise ValueError(
                    "each must be an IAM role or user ARN (arn:aws:iam::ACCOUNT:role/NAME) or "
                    f"{AUTHORIZER_PREFIX}<principalId> for a Lambda authorizer's principal (no spaces)"
                )
        return value

    @field_validator("api_key_ids")
    @classmethod
    def _api_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _each(value, _API_KEY_ID_RE, "each must be an API Gateway API key id (letters and digits)")

    @model_validator(mode="after")
    def _org_named(self) -> Tenant:
        return _org_named(self)

    def to_item(self) -> dict[str, Any]:
        """The item for boto3's DynamoDB resource (JSON types; numbers as Decimal, which DynamoDB needs)."""
        item: dict[str, Any] = _stored(self.model_dump(mode="json", exclude_none=True))
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Tenant:
        """Parse an item read from the table; errors name the tenant and the field, never the values."""
        data = {key: plain(value) for key, value in item.items()}
        name = str(data.get("tenant_id", "?"))
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise AepConfigError(
                f"tenant {name!r} in the registry is invalid: {validation_problems(exc)}"
            ) from None


def validation_problems(exc: ValidationError) -> str:
    """Each problem as ``field: what is wrong``, joined by ``; ``: never the value that was given."""
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'item'}: {error['msg'].removeprefix('Value error, ')}"
        for error in exc.errors(include_input=False, include_url=False)
    )


def _org_named(tenant: Tenant) -> Tenant:
    if tenant.org_id is None and tenant.tenant_id != DEFAULT_TENANT:
        raise ValueError("org_id is required (only the implicit default tenant takes its credentials' org)")
    return tenant


def is_secret_id(value: str) -> bool:
    """Whether ``value`` looks like a Secrets Manager secret name or ARN (what may be echoed as one)."""
    return _SECRET_ID_RE.fullmatch(value) is not None


def checked_secret_id(value: str) -> str:
    if not is_secret_id(value):
        raise ValueError("must be a Secrets Manager secret name or ARN (letters, digits and /_+=.@-)")
    return value


def _each(values: tuple[str, ...], pattern: re.Pattern[str], problem: str) -> tuple[str, ...]:
    if not all(pattern.fullmatch(value) for value in values):
        raise ValueError(problem)
    return values


def _checked_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if value != value.strip() or not value.isprintable():
        raise ValueError("must not start or end with spaces nor hold control characters")
    return value


def _checked_sandbox(value: str) -> str:
    if not _SANDBOX_RE.fullmatch(value):
        raise ValueError("must be the all-lowercase sandbox name (letters, digits, hyphens)")
    return value


def _stored(value: Any) -> Any:
    """JSON as boto3's DynamoDB serializer takes it: floats as Decimal (it refuses binary floats)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stored(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """DynamoDB's types as JSON's: Decimal -> int or float, sets -> sorted lists, nested maps and lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
