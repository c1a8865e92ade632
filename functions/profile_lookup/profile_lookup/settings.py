"""The lookup function's configuration (``LOOKUP_*`` variables), parsed once per container."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from aep.config import parse_env
from aep.errors import AepConfigError
from aep.normalize import is_namespace_code
from aep.record_rules import namespaces_for

ENVIRONMENT = {
    "LOOKUP_DEADLINE_SECONDS": "deadline_seconds",
    "LOOKUP_CACHE_TTL_SECONDS": "cache_ttl_seconds",
    "LOOKUP_NEGATIVE_TTL_SECONDS": "negative_ttl_seconds",
    "LOOKUP_CACHE_SIZE": "cache_size",
    "LOOKUP_DEFAULT_FIELDS": "default_fields",
    "LOOKUP_ALLOWED_NAMESPACES": "allowed_namespaces",
    "LOOKUP_IDENTITY_NAMESPACE": "identity_namespace",
    "LOOKUP_DEFAULT_PHONE_REGION": "default_phone_region",
    "LOOKUP_MAX_IDENTITIES": "max_identities",
    "LOOKUP_AEP_BATCH_SIZE": "aep_batch_size",
    "LOOKUP_DEFAULT_TENANT_PRINCIPALS": "default_tenant_principals",
}

#: An XDM path: dotted field names (``person.name.firstName``, ``_acme.tier``).
XDM_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(?:\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,15}")
MAX_FIELDS = 50
#: Identities per multi-identity request: the OpenAPI document's maximum; LOOKUP_MAX_IDENTITIES may lower it.
MAX_IDENTITIES = 200
#: Powertools switches that would print whole events (paths and bodies: phone numbers, e-mail addresses).
_TRUTHY = frozenset({"1", "true", "yes", "on", "y", "t"})  # Powertools' own reading (strtobool)
EVENT_LOGGING = ("POWERTOOLS_LOGGER_LOG_EVENT", "POWERTOOLS_DEV", "POWERTOOLS_EVENT_HANDLER_DEBUG")
#: ``LOOKUP_DEFAULT_TENANT_PRINCIPALS`` entry meaning: any IAM-authenticated caller of the API.
ANY_IAM_CALLER = "*"

Seconds = Annotated[float, Field(gt=0, le=30)]


class LookupSettings(BaseModel):
    """How lookups behave: the deadline, the cache, the default fields, the identity rules, the callers.

    ``allowed_namespaces``: the namespaces a lookup may use, the same list as ingestion's
    (``STREAM_ALLOWED_NAMESPACES``, the template's ``AllowedNamespaces``); unset, ingestion's default:
    :data:`aep.normalize.DEFAULT_NAMESPACES` plus ``identity_namespace`` (``STREAM_IDENTITY_NAMESPACE``, the
    template's ``StreamIdentityNamespace``), by the same rule (:func:`aep.record_rules.namespaces_for`). A
    registry tenant's ``streaming.allowed_namespaces`` and ``streaming.default_phone_region`` replace these
    for its lookups, as they do for its ingestion (:mod:`profile_lookup.rules`). ``default_fields``: the
    XDM paths a profile answer carries when the request names none, or an empty list (unset: every
    attribute AEP returns). ``default_tenant_principals``: who may
    read the ``default`` tenant (docs/lookup.md): entries like a tenant's ``principals``, or
    ``*`` for any IAM-authenticated caller; unset, nobody (registry tenants only).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    deadline_seconds: Seconds = 1.5
    cache_ttl_seconds: float = Field(default=60.0, ge=0, le=3600)
    negative_ttl_seconds: float = Field(default=5.0, ge=0, le=300)
    cache_size: int = Field(default=10_000, ge=0, le=1_000_000)
    default_fields: tuple[str, ...] = ()
    identity_namespace: str | None = None
    allowed_namespaces: tuple[str, ...] | None = None
    default_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    max_identities: int = Field(default=MAX_IDENTITIES, ge=1, le=MAX_IDENTITIES)
    aep_batch_size: int = Field(default=50, ge=1, le=50)
    default_tenant_principals: tuple[str, ...] = ()

    @field_validator("default_fields", "allowed_namespaces", "default_tenant_principals", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("default_fields")
    @classmethod
    def _fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return checked_fields(value)

    @field_validator("allowed_namespaces")
    @classmethod
    def _namespaces(cls, value: tuple[str, ...] | None, info: ValidationInfo) -> tuple[str, ...] | None:
        if value is not None and (not value or not all(is_namespace_code(code) for code in value)):
            raise ValueError("must be namespace codes separated by commas")
        namespaces_for(value, info.data.get("identity_namespace"))  # ValueError: it leaves that one out
        return value

    @field_validator("identity_namespace")
    @classmethod
    def _identity_namespace(cls, value: str | None) -> str | None:
        if value is not None and not is_namespace_code(value):
            raise ValueError("must be a namespace code")
        return value

    @cached_property
    def namespaces(self) -> frozenset[str]:
        """The allow-list, lowercased (for :func:`aep.normalize.check_namespace`)."""
        return namespaces_for(self.allowed_namespaces, self.identity_namespace)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LookupSettings:
        """Raises AepConfigError naming every missing or bad variable (never its value)."""
        return parse_env(cls, ENVIRONMENT, environ)


def refuse_event_logging(environ: Mapping[str, str]) -> None:
    """Raises AepConfigError when a Powertools switch would print whole events (the function's paths and
    bodies hold phone numbers and e-mail addresses): the function refuses to start rather than log them."""
    on = [name for name in EVENT_LOGGING if environ.get(name, "").strip().lower() in _TRUTHY]
    if on:
        raise AepConfigError(
            f"invalid configuration: {', '.join(f'{name} must be off' for name in on)} "
            "(it would log whole events, identity values included)"
        )


def split_list(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def checked_fields(fields: tuple[str, ...]) -> tuple[str, ...]:
    """XDM paths, at most MAX_FIELDS. Raises ValueError (the message never carries the value)."""
    if len(fields) > MAX_FIELDS:
        raise ValueError(f"at most {MAX_FIELDS} fields")
    if not all(XDM_PATH.fullmatch(field) for field in fields):
        raise ValueError("each field must be an XDM path (letters, digits, _ and dots)")
    return tuple(dict.fromkeys(fields))
