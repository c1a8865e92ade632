"""The functions' settings that follow from a setup file and its outputs, computed in one place for the
``Custom::AepSetup`` resource (its attributes feed the functions when ``SetupAEP=true``) and the local
stack's deployment, so that the two agree: the stream's descriptor identity (its dataset's schema's
primary identity as a dotted record path, and its namespace) and the batch function's routes (the file's
``batch`` section with the dataset ids, record classes and identities filled in)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aep.errors import AepConfigError
from aep.setup.model import CLASSES, TENANT_SEGMENT, IdentitySpec, SetupFile

_RECORD_CLASSES = {class_id: name for name, class_id in CLASSES.items()}


@dataclass(frozen=True)
class FunctionSettings:
    """What setup's outputs say of the functions' settings ("" / [] where the file says nothing)."""

    identity_field: str = ""
    identity_namespace: str = ""
    batch_routes: list[dict[str, Any]] = field(default_factory=list)


def identity_path(field_path: str, tenant: str) -> str:
    """``/_tenant/phone`` -> ``_acme.phone`` (a primary identity path as a dotted record path)."""
    parts = field_path.strip("/").split("/")
    return ".".join(f"_{tenant}" if part == TENANT_SEGMENT else part for part in parts)


def _tenant_paths(value: Any, tenant: str) -> Any:
    """A CSV mapping with ``_tenant`` (a dotted path's segment) standing for the tenant object replaced."""
    if isinstance(value, dict):
        return {k: _tenant_paths(v, tenant) for k, v in value.items()}
    if isinstance(value, list):
        return [_tenant_paths(v, tenant) for v in value]
    if isinstance(value, str) and TENANT_SEGMENT in value.split("."):
        return ".".join(f"_{tenant}" if p == TENANT_SEGMENT else p for p in value.split("."))
    return value


def _identity(setup: SetupFile, dataset: str) -> IdentitySpec | None:
    schema_title = next(d.schema_ for d in setup.datasets if d.name == dataset)
    return next(s.primary_identity for s in setup.schemas if s.title == schema_title)


def function_settings(
    setup: SetupFile,
    outputs: Mapping[str, Any],
    stream: str | None,
    *,
    default_phone_region: str = "US",
) -> FunctionSettings:
    """The settings from an apply's outputs; ``stream`` is the streaming connection the stream function
    sends to (its dataset's schema gives the identity), ``default_phone_region`` goes into every route.

    Raises AepConfigError when a batch route's dataset has no id in the outputs (a drift left it out)."""
    tenant = str(outputs.get("tenantId") or "")
    identity_field = identity_namespace = ""
    spec = next((s for s in setup.streaming if s.name == stream), None)
    if spec is not None and (identity := _identity(setup, spec.dataset)) is not None:
        identity_field = identity_path(identity.field, tenant)
        identity_namespace = identity.namespace
    datasets = outputs.get("datasets") or {}
    routes: list[dict[str, Any]] = []
    for route in setup.batch:
        dataset_id = datasets.get(route.dataset)
        if not dataset_id:
            raise AepConfigError(
                f"batch route {route.prefix!r}: dataset {route.dataset!r} has no id (see the drift)"
            )
        dataset = next(d for d in setup.datasets if d.name == route.dataset)
        schema = next(s for s in setup.schemas if s.title == dataset.schema_)
        out: dict[str, Any] = {
            "prefix": route.prefix,
            "dataset_id": dataset_id,
            "record_class": _RECORD_CLASSES[schema.class_id],
        }
        if schema.primary_identity is not None:
            out["identity_field"] = identity_path(schema.primary_identity.field, tenant)
            out["identity_namespace"] = schema.primary_identity.namespace
        out["default_phone_region"] = default_phone_region
        if route.mapping is not None:
            out["mapping"] = _tenant_paths(route.mapping, tenant)
        routes.append(out)
    return FunctionSettings(identity_field, identity_namespace, routes)
