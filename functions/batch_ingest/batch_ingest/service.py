"""The container's runtime and the adaptation of one SQS event: notifications -> key rules -> groups."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from aep import AepClient, shared_client
from aep.container import PerContainer
from aep.schema_cache import SchemaValidators
from aep.tenants import DEFAULT_TENANT, Tenant, TenantRegistry
from aep.tenants.clients import ClientCache
from batch_ingest.files import Files
from batch_ingest.ingest import Context, Tally
from batch_ingest.ledger import Ledger
from batch_ingest.notifications import parse_message
from batch_ingest.reports import Reports
from batch_ingest.settings import BatchSettings

# name: the module that logged, kept by every invocation's clear_state (aep.logs.structured_logs)
logger = Logger(service="batch-ingest", name="%(name)s")


def _s3_client() -> Any:
    import boto3  # noqa: PLC0415 - lazily, at first use

    return boto3.client("s3")


def _sqs_client() -> Any:
    import boto3  # noqa: PLC0415

    return boto3.client("sqs")


def _dynamodb_resource() -> Any:
    import boto3  # noqa: PLC0415

    return boto3.resource("dynamodb")


@dataclass
class Runtime:
    settings: BatchSettings
    files: Files
    idempotency: IdempotencyConfig
    clock: Callable[[], float]
    validators: SchemaValidators | None = None


_runtime: PerContainer[Runtime] = PerContainer()


def build_runtime(
    environ: dict[str, str] | None = None,
    client: AepClient | None = None,
    *,
    s3: Callable[[], Any] = _s3_client,
    sqs: Callable[[], Any] = _sqs_client,
    dynamodb: Callable[[], Any] = _dynamodb_resource,
    clients: ClientCache | None = None,
    registry: TenantRegistry | None = None,
    clock: Callable[[], float] = time.time,
) -> Runtime:
    """The container's runtime; ``client``: the default tenant's (else :func:`aep.shared_client`)."""
    env = dict(os.environ) if environ is None else environ
    settings = BatchSettings.from_env(env)
    registry = registry or TenantRegistry.from_env(env)
    if client is not None and registry.default is None:
        registry.default = Tenant(
            tenant_id=DEFAULT_TENANT,
            sandbox_name=client.settings.sandbox_name,
            credentials_secret_id=client.settings.credentials_secret_id,
            token_secret_id=client.settings.token_secret_id,
        )
    default = client
    clients = clients or ClientCache.from_env(env, default=lambda: default or shared_client())
    config = IdempotencyConfig(expires_after_seconds=settings.idempotency_seconds)
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
    files = Files(
        settings=settings,
        ledger=Ledger(settings.ledger_table, dynamodb, clock),
        reports=Reports(s3, settings.reports_prefix, settings.reports_bucket),
        client_for=lambda tenant: clients.get(registry.get(tenant)),
        s3=s3,
        sqs=sqs,
    )
    files.ingest = idempotent_function(  # type: ignore[method-assign]
        data_keyword_argument="identity", persistence_store=persistence, config=config
    )(files.ingest)
    return Runtime(settings, files, config, clock, SchemaValidators.from_env(env))


def runtime() -> Runtime:
    """The container's runtime, built on first use."""
    return _runtime.get(build_runtime)


def set_runtime(value: Runtime | None) -> None:
    _runtime.set(value)


def handle(
    event: dict[str, Any], context: Any, metrics: Metrics, rt: Runtime | None = None
) -> dict[str, Any]:
    rt = rt or runtime()
    rt.idempotency.register_lambda_context(context)
    ctx = Context(
        settings=rt.settings,
        ledger=rt.files.ledger,
        reports=rt.files.reports,
        s3=rt.files.s3,
        sqs=rt.files.sqs,
        clock=rt.clock,
        remaining_ms=context.get_remaining_time_in_millis,
        run_id=uuid.uuid4().hex,  # this invocation's: tells a fresh answer from idempotency's saved one
        validators=rt.validators,
    )
    notifications = [parse_message(r["messageId"], r.get("body", "")) for r in event.get("Records", [])]
    failures = rt.files.process(notifications, ctx)
    _publish(metrics, ctx.tally)
    logger.info("invocation done", **vars(ctx.tally), retried=len(failures))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in sorted(failures)]}


def _publish(metrics: Any, tally: Tally) -> None:
    for name, value in (
        ("FilesUploaded", tally.files_uploaded),
        ("FilesRefused", tally.files_refused),
        ("FilesFailed", tally.files_failed),
        ("KeysRefused", tally.keys_refused),
        ("DuplicateNotifications", tally.duplicates),
        ("RecordsRead", tally.records_read),
        ("RecordsSent", tally.records_sent),
        ("RecordsRefused", tally.records_refused),
        ("Continuations", tally.continuations),
        ("UploadResumes", tally.resumes),
        ("BatchesCompleted", tally.batches_completed),
        ("BatchesAborted", tally.batches_aborted),
        ("TenantConfigErrors", tally.tenant_errors),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
