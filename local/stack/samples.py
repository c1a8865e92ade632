"""The sample events (``events/*.json``) name resources of a deployed stack: a queue ARN, a bucket, an API
stage. :func:`localise` rewrites them to the local stack's before ``make invoke`` runs a sample, and says
what it changed, so a sample reaches the function as the local trigger would deliver it."""

from __future__ import annotations

import copy
import json
from typing import Any

from stack.functions import FunctionSpec


def localise(
    event: dict[str, Any], spec: FunctionSpec, bucket: str | None
) -> tuple[dict[str, Any], list[str]]:
    """``event`` with the resource names of ``spec``'s triggers on the local stack (its SQS queue ARN, the
    drop ``bucket`` in S3 notifications, its API stage), and one line per rewrite."""
    event = copy.deepcopy(event)
    changes: list[str] = []
    for record in event.get("Records", []) if isinstance(event.get("Records"), list) else []:
        if isinstance(record, dict) and record.get("eventSource") == "aws:sqs":
            _queue(record, spec, changes)
            if bucket is not None:
                _bucket(record, bucket, changes)
    context = event.get("requestContext")
    if isinstance(context, dict) and spec.routes:
        _stage(context, spec.routes[0].stage, changes)
    return event, sorted(set(changes))


def _queue(record: dict[str, Any], spec: FunctionSpec, changes: list[str]) -> None:
    arn = record.get("eventSourceARN")
    if not spec.sqs or not isinstance(arn, str):
        return
    fifo = arn.endswith(".fifo")
    local = next(
        (s.queue_arn for s in spec.sqs if s.queue_arn.endswith(".fifo") == fifo), spec.sqs[0].queue_arn
    )
    if arn != local:
        record["eventSourceARN"] = local
        changes.append(f"queue {arn} -> {local}")


def _bucket(record: dict[str, Any], bucket: str, changes: list[str]) -> None:
    try:
        body = json.loads(record.get("body") or "")
    except ValueError:
        return
    if not isinstance(body, dict) or not isinstance(body.get("Records"), list):
        return
    changed = False
    for notification in body["Records"]:
        s3 = notification.get("s3") if isinstance(notification, dict) else None
        named = s3.get("bucket") if isinstance(s3, dict) else None
        if isinstance(named, dict) and named.get("name") not in (None, bucket):
            changes.append(f"bucket {named['name']} -> {bucket}")
            named["name"], named["arn"] = bucket, f"arn:aws:s3:::{bucket}"
            changed = True
    if changed:
        record["body"] = json.dumps(body)


def _stage(context: dict[str, Any], stage: str, changes: list[str]) -> None:
    old = context.get("stage")
    if isinstance(old, str) and old != stage:
        context["stage"] = stage
        path = context.get("path")
        if isinstance(path, str) and path.startswith(f"/{old}/"):
            context["path"] = f"/{stage}/{path[len(old) + 2 :]}"
        changes.append(f"API stage {old} -> {stage}")
