"""The events Lambda's triggers send, built from what the local stack received: SQS messages (as the
event source mapping delivers them), EventBridge's scheduled event, and API Gateway's REST proxy event."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from stack.template import ACCOUNT, REGION


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One message of ``receive_message`` (all attributes asked) as a record of Lambda's SQS event."""
    attributes = {}
    for name, value in message.get("MessageAttributes", {}).items():
        attribute: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            attribute["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        attributes[name] = attribute
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def schedule_event(rule_arn: str) -> dict[str, Any]:
    """EventBridge's ``Scheduled Event``, as a rule sends it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }


def rest_event(
    *,
    method: str,
    target: str,
    resource: str,
    path: str,
    path_parameters: dict[str, str],
    headers: list[tuple[str, str]],
    body: bytes,
    stage: str,
    caller_arn: str | None,
    source_ip: str,
) -> dict[str, Any]:
    """API Gateway's REST (v1) proxy event: ``path`` as the caller sent it (without the stage),
    ``pathParameters`` decoded, the IAM caller's ARN in ``requestContext.identity.userArn``."""
    query = parse_qsl(urlsplit(target).query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in query:
        multi_query.setdefault(key, []).append(value)
    multi_headers: dict[str, list[str]] = {}
    for key, value in headers:
        multi_headers.setdefault(key, []).append(value)
    request_id = str(uuid.uuid4())
    try:
        text: str | None = body.decode() if body else None
        encoded = False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {k: unquote(v) for k, v in path_parameters.items()} or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "accountId": ACCOUNT,
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {
                "userArn": caller_arn,
                "user": caller_arn.rsplit("/", 1)[-1] if caller_arn else None,
                "caller": None,
                "accountId": ACCOUNT if caller_arn else None,
                "apiKeyId": None,
                "accessKey": None,
                "sourceIp": source_ip,
                "userAgent": multi_headers.get("User-Agent", [None])[-1],
            },
        },
        "body": text,
        "isBase64Encoded": encoded,
    }
