"""The (tenant, dataset) pairs the streaming function sends to: whose failed streaming batches to follow."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aep.tenants import DEFAULT_TENANT, Tenant, TenantRegistry
from batch_follow.follow import StreamTarget

logger = logging.getLogger(__name__)


def _dynamodb_client() -> Any:
    import boto3  # noqa: PLC0415 - lazily, at first use

    return boto3.client("dynamodb")


def registry_tenants(table: str, dynamodb_client: Callable[[], Any] = _dynamodb_client) -> list[Tenant]:
    """Every enabled, valid tenant of the registry table (a small table: one paginated scan per run)."""
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415 - with boto3, lazily

    deserialize = TypeDeserializer().deserialize
    tenants: list[Tenant] = []
    for page in dynamodb_client().get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            try:
                tenant = Tenant.from_item({key: deserialize(value) for key, value in item.items()})
            except Exception as error:  # an invalid item: the stream function refuses its records too
                logger.warning(
                    "skipping an invalid tenant item",
                    extra={
                        "tenant": str(item.get("tenant_id", {}).get("S", "?"))[:64],
                        "error": type(error).__name__,
                    },
                )
                continue
            if tenant.enabled:
                tenants.append(tenant)
    return tenants


def stream_targets(
    registry: TenantRegistry, default_dataset: str | None, tenants: list[Tenant]
) -> list[StreamTarget]:
    """The default tenant's ``STREAM_DATASET_ID`` (when there is a default tenant), and each registry
    tenant's streaming dataset (its own, else the function's default, as the stream function does)."""
    targets: list[StreamTarget] = []
    if registry.default is not None and default_dataset:
        targets.append(StreamTarget(DEFAULT_TENANT, default_dataset))
    for tenant in sorted(tenants, key=lambda t: t.tenant_id):
        dataset = tenant.streaming.dataset_id or default_dataset
        if dataset and tenant.tenant_id != DEFAULT_TENANT:
            targets.append(StreamTarget(tenant.tenant_id, dataset))
    return list(dict.fromkeys(targets))
