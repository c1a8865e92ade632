"""make invoke rewrites a sample's deployed-stack resource names (queue ARN, bucket, API stage) to the
local stack's, and says so."""

from __future__ import annotations

import json

from stack.functions import FunctionSpec, Route, SqsSource
from stack.samples import localise
from tests.support.events import load_event

LOCAL_QUEUE = "arn:aws:sqs:us-east-1:123456789012:aep-connector-local-BatchQueue"


def spec(**kwargs: object) -> FunctionSpec:
    return FunctionSpec("F", "functions/f", "app.lambda_handler", 30, 512, {}, **kwargs)  # type: ignore[arg-type]


def test_an_s3_sample_gets_the_local_queue_and_bucket_and_each_rewrite_is_said():
    sample = load_event("s3-notification-in-sqs.json")

    event, changes = localise(sample, spec(sqs=[SqsSource(LOCAL_QUEUE, 10, 0, True)]), "local-drops")

    (record,) = event["Records"]
    assert record["eventSourceARN"] == LOCAL_QUEUE
    (s3,) = [n["s3"] for n in json.loads(record["body"])["Records"]]
    assert s3["bucket"] == {**s3["bucket"], "name": "local-drops", "arn": "arn:aws:s3:::local-drops"}
    assert s3["object"]["key"] == "calls/2025-01-15/call+events.ndjson.gz"
    assert changes == [
        "bucket aep-batch-drop-example -> local-drops",
        f"queue arn:aws:sqs:us-east-1:123456789012:aep-connector-batch -> {LOCAL_QUEUE}",
    ]
    assert sample["Records"][0]["eventSourceARN"].endswith(":aep-connector-batch")  # the file is untouched


def test_an_api_sample_gets_the_local_stage_and_a_sample_already_local_is_left_as_it_is():
    sample = load_event("apigw-profile-lookup.json")
    route = Route("GET", "/profiles/{namespace}/{id}", "LookupApi", "live")

    event, changes = localise(sample, spec(routes=[route]), None)
    again, none = localise(event, spec(routes=[route]), None)

    assert (event["requestContext"]["stage"], event["requestContext"]["path"]) == (
        "live",
        "/live/profiles/Phone/%28415%29%20555-0100",
    )
    assert changes == ["API stage v1 -> live"]
    assert (again, none) == (event, [])
