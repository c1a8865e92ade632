"""The container's runtime (settings, ledger, reports, tenants' clients) and one scheduled run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from aep import AepClient, Clock, Deadline, SystemClock
from aep.container import PerContainer
from aep.tenants import TenantRegistry
from aep.tenants.clients import ClientCache
from batch_follow.follow import Follower, StreamTarget, Summary
from batch_follow.ledger import Ledger
from batch_follow.reports import ReportStore
from batch_follow.settings import FollowSettings
from batch_follow.targets import registry_tenants, stream_targets

# name: the module that logged, kept by every invocation's clear_state (aep.logs.structured_logs)
logger = Logger(service="batch-follow", name="%(name)s")


@dataclass
class Runtime:
    settings: FollowSettings
    follower: Follower
    targets: Callable[[], list[StreamTarget]]
    clock: Clock


def build_runtime(
    environ: dict[str, str] | None = None,
    *,
    clients: ClientCache | None = None,
    registry: TenantRegistry | None = None,
    dynamodb_client: Callable[[], Any] | None = None,
    s3_client: Callable[[], Any] | None = None,
    clock: Clock | None = None,
    now: Callable[[], float] = time.time,
) -> Runtime:
    env = dict(os.environ) if environ is None else environ
    settings = FollowSettings.from_env(env)
    registry = registry or TenantRegistry.from_env(env)
    clients = clients or ClientCache.from_env(env)
    ledger = (
        Ledger(settings.ledger_table, dynamodb_client) if dynamodb_client else Ledger(settings.ledger_table)
    )
    store = ReportStore(s3_client) if s3_client else ReportStore()

    def client_for(tenant: str) -> AepClient:
        return clients.get(registry.get(tenant))

    def targets() -> list[StreamTarget]:
        tenants = []
        if registry.table_name:
            tenants = (
                registry_tenants(registry.table_name, dynamodb_client)
                if dynamodb_client
                else registry_tenants(registry.table_name)
            )
        return stream_targets(registry, settings.stream_dataset_id, tenants)

    follower = Follower(settings, ledger, store, client_for, now)
    return Runtime(settings, follower, targets, clock or SystemClock())


_runtime: PerContainer[Runtime] = PerContainer()


def runtime() -> Runtime:
    """The container's runtime, built on first use."""
    return _runtime.get(build_runtime)


def set_runtime(value: Runtime | None) -> None:
    _runtime.set(value)


def handle(
    event: dict[str, Any], context: Any, metrics: Metrics, rt: Runtime | None = None
) -> dict[str, Any]:
    """One scheduled run; the event (EventBridge's) carries nothing the run needs."""
    rt = rt or runtime()
    deadline = Deadline.from_lambda_context(
        context.get_remaining_time_in_millis, rt.clock, rt.settings.safety_seconds
    )
    summary = rt.follower.run(deadline, rt.targets())
    publish(metrics, summary)
    logger.info(
        "follow-up done",
        followed=summary.followed,
        succeeded=summary.succeeded,
        partial=summary.partial,
        failed=summary.failed,
        stuck=summary.stuck,
        errors=summary.errors,
        stream_batches=summary.stream_batches,
        stream_records_failed=summary.stream_records_failed,
        left_for_next_run=summary.left_for_next_run,
        completed_again=summary.completed_again,
    )
    return {
        "followed": summary.followed,
        "succeeded": summary.succeeded,
        "partial": summary.partial,
        "failed": summary.failed,
        "stuck": summary.stuck,
        "errors": summary.errors,
        "reports": summary.reports,
        "streamBatches": summary.stream_batches,
        "streamRecordsFailedInAep": summary.stream_records_failed,
        "leftForNextRun": summary.left_for_next_run,
        "completedAgain": summary.completed_again,
    }


def publish(metrics: Metrics, summary: Summary) -> None:
    """Counts of the run; the template alarms on BatchFailed, BatchPartial, BatchStuck,
    StreamRecordsFailedInAep and FollowErrors."""
    values = {
        "BatchesFollowed": summary.followed,
        "BatchSucceeded": summary.succeeded,
        "BatchPartial": summary.partial,
        "BatchFailed": summary.failed,
        "BatchStuck": summary.stuck,
        "RecordsFailedInAep": summary.records_failed_in_aep,
        "StreamRecordsFailedInAep": summary.stream_records_failed,
        "FollowErrors": summary.errors,
        "FollowLeftForNextRun": summary.left_for_next_run,
        "BatchesCompletedByFollow": summary.completed_again,
    }
    for name, value in values.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
