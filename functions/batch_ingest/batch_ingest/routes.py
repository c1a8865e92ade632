"""Routing: an object key's prefix names the tenant, the dataset, the record class and an optional mapping.

``BATCH_ROUTES`` is a JSON list of routes; the longest matching prefix wins. A single-tenant deployment
leaves ``tenant`` out (``default``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from aep.normalize import is_namespace_code
from aep.tenants import DEFAULT_TENANT

_TENANT = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Route(BaseModel):
    """One prefix and where its files go."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str = Field(min_length=1, max_length=512)
    tenant: str = Field(default=DEFAULT_TENANT, pattern=_TENANT)
    dataset_id: str = Field(pattern=r"^[0-9A-Za-z]{24}$")
    record_class: Literal["experienceevent", "profile"] = "experienceevent"
    identity_field: str | None = Field(default=None, min_length=1)
    identity_namespace: str | None = Field(default=None, min_length=1, validate_default=True)
    allowed_namespaces: tuple[str, ...] | None = None
    default_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    mapping: dict[str, Any] | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return checked_prefix(value)

    @field_validator("identity_namespace")
    @classmethod
    def _pair(cls, value: str | None, info: ValidationInfo) -> str | None:
        if bool(info.data.get("identity_field")) != bool(value):
            raise ValueError("identity_field and identity_namespace go together (set both or neither)")
        return value

    @field_validator("allowed_namespaces")
    @classmethod
    def _codes(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or not all(is_namespace_code(code) for code in value)):
            raise ValueError("must be a non-empty list of namespace codes")
        return value

    @cached_property
    def rules(self) -> Any:
        """This route's :class:`aep.record_rules.RecordRules` (validated when the settings load)."""
        from aep.record_rules import RecordRules  # noqa: PLC0415 - the layer module, imported once

        return RecordRules.build(
            record_class=self.record_class,
            allowed=self.allowed_namespaces,
            identity_field=self.identity_field,
            identity_namespace=self.identity_namespace,
            default_phone_region=self.default_phone_region,
        )

    @cached_property
    def csv_mapping(self) -> Any:
        """The route's :class:`batch_ingest.csv_mapping.CsvMapping`, or None."""
        if self.mapping is None:
            return None
        from batch_ingest.csv_mapping import CsvMapping  # noqa: PLC0415

        return CsvMapping.model_validate(self.mapping)


def checked_prefix(value: str) -> str:
    """A route prefix: no leading ``/``, no ``.``/``..`` or empty segments, no control characters."""
    if value.startswith("/") or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError("must not start with '/' nor hold control characters")
    segments = value.split("/")
    if any(segment in {".", ".."} for segment in segments) or "" in segments[:-1]:
        raise ValueError("must not hold '.', '..' or empty segments")
    return value


def parse_routes(value: Any) -> Any:
    """``BATCH_ROUTES`` text (a JSON list) to a list of route dicts; anything else is left to pydantic."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("must be a JSON list of routes") from None
    return value


def checked_routes(routes: Sequence[Route], ignored: Sequence[str | None]) -> tuple[Route, ...]:
    """Prefixes unique; none under an ``ignored`` prefix (reports, ingested files: their keys are ignored).
    No route at all is valid: every file is then refused with a report (a stack deployed before its routes
    are known)."""
    prefixes = [route.prefix for route in routes]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError("must not repeat a prefix")
    for own in filter(None, ignored):
        if any(prefix.startswith(own) for prefix in prefixes):
            raise ValueError(f"must not route keys under {own} (BATCH_REPORTS_PREFIX, BATCH_SUCCESS_PREFIX)")
    for number, route in enumerate(routes):
        try:
            route.rules  # noqa: B018 - the record rules are validated now, not at the first file
        except ValueError as error:
            raise ValueError(f"route {number}: {error}") from None
        try:
            route.csv_mapping  # noqa: B018
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in error.errors(include_input=False, include_url=False)
            )
            raise ValueError(f"route {number}: its mapping is invalid ({problems})") from None
    return tuple(routes)


def route_for(routes: Sequence[Route], key: str) -> Route | None:
    """The route with the longest prefix of ``key``, or None."""
    matching = [route for route in routes if key.startswith(route.prefix)]
    return max(matching, key=lambda route: len(route.prefix), default=None)
