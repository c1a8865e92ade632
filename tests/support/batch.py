"""The batch function's AWS side in moto: a versioned drop bucket, the ledger and idempotency tables (as
the template defines them), the queue; S3 notifications wrapped in SQS events, built directly."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote_plus

import boto3

from demo.resources import create_drop_bucket, create_table, template_resources
from tests.support.events import load_event

BUCKET = "aep-batch-drop-test"
LEDGER = "batch-ledger"
IDEMPOTENCY = "batch-idempotency"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:aep-connector-batch"


def create_resources() -> str:
    """The bucket, the tables and the queue; returns the queue URL."""
    create_drop_bucket(BUCKET)
    resources = template_resources()  # the tables' keys and index as deployed
    create_table(LEDGER, "BatchLedgerTable", resources)
    create_table(IDEMPOTENCY, "BatchIdempotencyTable", resources)
    return str(boto3.client("sqs").create_queue(QueueName="aep-connector-batch")["QueueUrl"])


def put(key: str, body: bytes, bucket: str = BUCKET) -> dict[str, Any]:
    """Put an object; returns the S3 event record S3 would send for it (key URL-encoded)."""
    answer = boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return s3_record(key, len(body), answer["ETag"].strip('"'), answer.get("VersionId"), bucket)


def s3_record(
    key: str,
    size: int,
    etag: str,
    version_id: str | None,
    bucket: str = BUCKET,
    *,
    raw_key: str | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = load_event("s3-notification-in-sqs.json")["Records"][0]
    s3_event: dict[str, Any] = json.loads(record["body"])["Records"][0]
    s3_event["s3"]["bucket"]["name"] = bucket
    s3_event["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj = {"key": raw_key if raw_key is not None else quote_plus(key, safe="/"), "size": size, "eTag": etag}
    if version_id:
        obj["versionId"] = version_id
    obj["sequencer"] = "0055AED6DCD90281E5"
    s3_event["s3"]["object"] = obj
    return s3_event


def sqs_of(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS event, one message per body: an S3 event record (wrapped as S3 does), or a raw body."""
    template = load_event("s3-notification-in-sqs.json")["Records"][0]
    records = []
    for body in bodies:
        record = dict(template)
        record["messageId"] = str(uuid.uuid4())
        record["eventSourceARN"] = QUEUE_ARN
        record["body"] = body if isinstance(body, str) else json.dumps({"Records": [body]})
        records.append(record)
    return {"Records": records}


def ledger_items() -> dict[str, dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(LEDGER)
    return {item["pk"]: item for item in table.scan()["Items"]}


def read_json(key: str) -> Any:
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return json.loads(body)


def read_lines(key: str) -> list[dict[str, Any]]:
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]
