"""The sample events (``events/*.json``) name resources of a deployed stack: a queue ARN, a bucket, an API
stage, the XDM envelope's dataset, flow and schema. :func:`localise` rewrites them to the local stack's
before ``make invoke`` runs a sample, and says what it changed, so a sample reaches the function as the
local trigger would deliver it. :func:`stage_objects` puts in the local bucket the object an S3 sample
names (:func:`sample_object`: a small file valid for ``setup/callcenter.yaml``'s schemas)."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote_plus

from stack.functions import FunctionSpec

#: The caller of the samples, as dialled (events/*.json).
SAMPLE_CALLER = "(415) 555-0100"

#: The XDM envelope's header fields :func:`localise` rewrites, by the key of ``stream`` naming their value.
ENVELOPE = ("imsOrgId", "datasetId", "flowId")


def localise(
    event: dict[str, Any],
    spec: FunctionSpec,
    bucket: str | None,
    stream: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """``event`` with the resource names of ``spec``'s triggers on the local stack (its SQS queue ARN, the
    drop ``bucket`` in S3 notifications, its API stage, and in an XDM envelope the ``stream``'s
    ``imsOrgId``, ``datasetId``, ``flowId`` and ``schemaRef``), and one line per rewrite."""
    event = copy.deepcopy(event)
    changes: list[str] = []
    for record in event.get("Records", []) if isinstance(event.get("Records"), list) else []:
        if isinstance(record, dict) and record.get("eventSource") == "aws:sqs":
            _queue(record, spec, changes)
            if bucket is not None:
                _bucket(record, bucket, changes)
            if stream is not None:
                _envelope(record, stream, changes)
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


def _envelope(record: dict[str, Any], stream: Mapping[str, str], changes: list[str]) -> None:
    try:
        body = json.loads(record.get("body") or "")
    except ValueError:
        return
    header = body.get("header") if isinstance(body, dict) else None
    if not isinstance(header, dict) or not isinstance(body.get("body"), dict):
        return
    before = json.dumps(body)
    for name in ENVELOPE:
        if name in stream and header.get(name) not in (None, stream[name]):
            changes.append(f"header.{name} {header[name]} -> {stream[name]}")
            header[name] = stream[name]
    meta = body["body"].get("xdmMeta")
    for where, holder in (("header", header), ("body.xdmMeta", meta)):
        ref = holder.get("schemaRef") if isinstance(holder, dict) else None
        if (
            "schemaRef" in stream
            and isinstance(ref, dict)
            and ref.get("id") not in (None, stream["schemaRef"])
        ):
            changes.append(f"{where}.schemaRef {ref['id']} -> {stream['schemaRef']}")
            ref["id"] = stream["schemaRef"]
    if json.dumps(body) != before:
        record["body"] = json.dumps(body)


def sample_object(key: str) -> bytes:
    """A small file for an S3 sample's ``key``, valid for ``setup/callcenter.yaml``'s schemas: the CRM's
    caller export (CSV, ``phone,first_name,tier``) under ``callers/``, else one call event (NDJSON, the Call
    Events schema); gzipped when the key ends in ``.gz``."""
    if key.startswith("callers/"):
        data = f'phone,first_name,tier\n"{SAMPLE_CALLER}",caller 1,gold\n'.encode()
    else:
        call = {
            "_id": "call-2026-11-29-0001",
            "timestamp": "2026-11-29T09:30:00Z",
            "eventType": "ivr.call",
            "_acme": {
                "phone": SAMPLE_CALLER,
                "call": {
                    "direction": "inbound",
                    "durationSeconds": 184,
                    "queue": "billing",
                    "outcome": "resolved",
                },
            },
        }
        data = (json.dumps(call) + "\n").encode()
    return gzip.compress(data, mtime=0) if key.endswith(".gz") else data


#: ``put(bucket, key, data)``: the object written, as S3 answers (``ETag``, ``VersionId`` if versioned).
Put = Callable[[str, str, bytes], Mapping[str, Any]]


def stage_objects(event: dict[str, Any], bucket: str, put: Put) -> tuple[dict[str, Any], list[str]]:
    """``event`` (already localised) once the object each S3 notification in it names in
    ``bucket`` has been written by ``put`` (:func:`sample_object`), the notification's ``eTag``, ``size`` and
    ``versionId`` those of the object written; and one line per object."""
    event = copy.deepcopy(event)
    said: list[str] = []
    for record in event.get("Records", []) if isinstance(event.get("Records"), list) else []:
        try:
            body = json.loads(record.get("body") or "") if isinstance(record, dict) else None
        except ValueError:
            continue
        if not isinstance(body, dict) or not isinstance(body.get("Records"), list):
            continue
        for notification in body["Records"]:
            s3 = notification.get("s3") if isinstance(notification, dict) else None
            named, obj = (s3.get("bucket"), s3.get("object")) if isinstance(s3, dict) else (None, None)
            if not isinstance(named, dict) or named.get("name") != bucket or not isinstance(obj, dict):
                continue
            key = unquote_plus(str(obj.get("key", "")))
            data = sample_object(key)
            answer = put(bucket, key, data)
            obj["eTag"], obj["size"] = str(answer["ETag"]).strip('"'), len(data)
            if answer.get("VersionId"):
                obj["versionId"] = answer["VersionId"]
            else:
                obj.pop("versionId", None)
            said.append(f"put s3://{bucket}/{key} ({len(data)} bytes, a sample {_kind(key)})")
        record["body"] = json.dumps(body)
    return event, said


def _kind(key: str) -> str:
    return "caller export, CSV" if key.startswith("callers/") else "call event, NDJSON"


def lookup_caller(event: dict[str, Any]) -> str | None:
    """The phone number an API sample looks up (``/profiles/Phone/{id}``), else None."""
    params = event.get("pathParameters")
    if isinstance(params, dict) and params.get("namespace") == "Phone" and isinstance(params.get("id"), str):
        return str(params["id"])
    return None


def call_event(phone: str, queue_arn: str) -> dict[str, Any]:
    """Lambda's SQS event of one call from ``phone`` (the Call Events schema), as the stream queue's poller
    delivers it: what ``make invoke`` streams first so that a lookup sample finds its caller."""
    call = {
        "_id": "call-2026-11-29-0000",
        "timestamp": "2026-11-29T09:30:00Z",
        "eventType": "ivr.call",
        "_acme": {
            "phone": phone,
            "call": {"direction": "inbound", "durationSeconds": 61, "outcome": "resolved"},
        },
    }
    message_id = "0b8f0e0a-0000-4000-8000-000000000000"
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"handle-{message_id}",
                "body": json.dumps(call),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795960000000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
        ]
    }
