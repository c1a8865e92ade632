"""The container's runtime (client, settings, DLQ) and the adaptation of one SQS event."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from aep import AepClient, Deadline, shared_client
from stream_ingest.dead_letters import DeadLetters, OverflowStore
from stream_ingest.ingest import Incoming, StreamIngestor
from stream_ingest.settings import StreamSettings

logger = Logger(service="stream-ingest")


def _sqs_client() -> Any:
    import boto3  # noqa: PLC0415 - lazily, at first use

    return boto3.client("sqs")


def _s3_client() -> Any:
    import boto3  # noqa: PLC0415 - lazily, at first use (only for a dead letter too large for SQS)

    return boto3.client("s3")


@dataclass
class Runtime:
    client: AepClient
    settings: StreamSettings
    ingestor: StreamIngestor


_runtime: Runtime | None = None
_lock = threading.Lock()


def build_runtime(
    environ: dict[str, str] | None = None,
    client: AepClient | None = None,
    sqs_client: Callable[[], Any] = _sqs_client,
    s3_client: Callable[[], Any] = _s3_client,
) -> Runtime:
    settings = StreamSettings.from_env(dict(os.environ) if environ is None else environ)
    client = client or shared_client()
    overflow = None
    if settings.dlq_overflow_bucket:
        overflow = OverflowStore(settings.dlq_overflow_bucket, s3_client)
    dead_letters = DeadLetters(settings.dlq_url, sqs_client, overflow=overflow)
    return Runtime(client, settings, StreamIngestor(client, settings, dead_letters))


def runtime() -> Runtime:
    global _runtime  # noqa: PLW0603 - one runtime per container
    with _lock:
        if _runtime is None:
            _runtime = build_runtime()
        return _runtime


def set_runtime(value: Runtime | None) -> None:
    global _runtime  # noqa: PLW0603
    with _lock:
        _runtime = value


def handle(
    event: dict[str, Any], context: Any, metrics: Metrics, rt: Runtime | None = None
) -> dict[str, Any]:
    rt = rt or runtime()
    records = [SQSRecord(raw) for raw in event.get("Records", [])]
    fifo = bool(records) and records[0].event_source_arn.endswith(".fifo")
    incoming = [Incoming(r.message_id, r.body, r.attributes.message_group_id) for r in records]
    deadline = Deadline.from_lambda_context(
        context.get_remaining_time_in_millis, rt.client.clock, rt.settings.deadline_safety_seconds
    )
    rt.client.transport.deadline = deadline
    try:
        outcomes, stats = rt.ingestor.process(incoming, deadline, fifo=fifo)
    finally:
        rt.client.transport.deadline = None
    for outcome in outcomes:
        if outcome.kind == "accepted":
            logger.debug("accepted", message_id=outcome.message_id, xaction_id=outcome.xaction_id)
        else:
            logger.info(
                "not accepted",
                message_id=outcome.message_id,
                outcome=outcome.kind,
                status=outcome.status,
                reason=outcome.reason,
                field=outcome.field,
            )
    metrics.add_metric("RecordsReceived", MetricUnit.Count, stats.received)
    metrics.add_metric("RecordsSent", MetricUnit.Count, stats.accepted)
    metrics.add_metric("RecordsRejected", MetricUnit.Count, stats.rejected)
    metrics.add_metric("RecordsRetried", MetricUnit.Count, stats.retried)
    metrics.add_metric("AepRequestSplits", MetricUnit.Count, stats.splits)
    metrics.add_metric("DeadLettersOverflowed", MetricUnit.Count, stats.overflowed)
    metrics.add_metric("DeadLettersTruncated", MetricUnit.Count, stats.truncated)
    metrics.add_metric("ImsTokenRequests", MetricUnit.Count, rt.client.ims.take_count())
    for request_ms in stats.request_ms:  # one value per request: CloudWatch gives percentiles
        metrics.add_metric("AepSendLatency", MetricUnit.Milliseconds, request_ms)
    logger.info(
        "batch done",
        received=stats.received,
        accepted=stats.accepted,
        dead_lettered=stats.rejected,
        retried=stats.retried,
        requests=len(stats.request_ms),
        splits=stats.splits,
        overflowed=stats.overflowed,
        truncated=stats.truncated,
        slowest_request_ms=round(max(stats.request_ms, default=0.0), 1),
        elapsed_ms=round(stats.elapsed_ms, 1),
    )

    # Every record not accepted nor dead-lettered goes back to SQS, said through batchItemFailures and
    # never raised: a throttled or unavailable AEP, or a FIFO group that must wait, is not a function
    # error (Powertools' processors raise when every record failed). FIFO order is kept by the ingestor:
    # a group's messages after its first retry are all retried too.
    return {"batchItemFailures": [{"itemIdentifier": o.message_id} for o in outcomes if o.kind == "retry"]}
