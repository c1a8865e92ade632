"""make invoke rewrites a sample's deployed-stack resource names (queue ARN, bucket, API stage) to the
local stack's, and says so."""

from __future__ import annotations

import gzip
import json

from stack.functions import FunctionSpec, Route, SqsSource
from stack.samples import SAMPLE_CALLER, localise, sample_object, stage_objects
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


STREAM = {
    "imsOrgId": "EMULATOR0000000000000000@AdobeOrg",
    "datasetId": "0123456789abcdef01234567",
    "flowId": "local-flow",
    "schemaRef": "https://ns.adobe.com/acme/schemas/local",
}
LOCAL_STREAM_QUEUE = "arn:aws:sqs:us-east-1:123456789012:aep-connector-local-StreamQueue"


def test_an_xdm_envelope_gets_the_local_setups_dataset_flow_and_schema_and_its_entity_is_kept():
    sample = load_event("sqs-xdm-message.json")

    event, changes = localise(sample, spec(sqs=[SqsSource(LOCAL_STREAM_QUEUE, 10, 0, True)]), None, STREAM)

    envelope = json.loads(event["Records"][0]["body"])
    assert {k: envelope["header"][k] for k in ("imsOrgId", "datasetId", "flowId")} == {
        k: STREAM[k] for k in ("imsOrgId", "datasetId", "flowId")
    }
    assert envelope["header"]["schemaRef"]["id"] == STREAM["schemaRef"]
    assert envelope["body"]["xdmMeta"]["schemaRef"]["id"] == STREAM["schemaRef"]
    assert envelope["body"]["xdmEntity"] == json.loads(sample["Records"][0]["body"])["body"]["xdmEntity"]
    assert "header.datasetId 65f0c0a1e4b0c1d2e3f40002 -> 0123456789abcdef01234567" in changes
    assert not any(change.startswith("header.imsOrgId") for change in changes)  # already the org's
    bare = load_event("sqs-bare-record.json")
    assert localise(bare, spec(), None, STREAM) == (bare, [])  # no envelope, no queue source: untouched


def test_the_s3_samples_object_is_put_under_its_decoded_key_and_the_notification_describes_it():
    sample, _ = localise(load_event("s3-notification-in-sqs.json"), spec(), "local-drops")
    written: dict[tuple[str, str], bytes] = {}

    def put(bucket: str, key: str, data: bytes) -> dict[str, str]:
        written[(bucket, key)] = data
        return {"ETag": '"etag-1"'}

    event, said = stage_objects(sample, "local-drops", put)

    ((where, data),) = written.items()
    assert where == ("local-drops", "calls/2025-01-15/call events.ndjson.gz")
    (call,) = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    assert (call["eventType"], call["_acme"]["phone"]) == ("ivr.call", SAMPLE_CALLER)
    (s3,) = [n["s3"] for n in json.loads(event["Records"][0]["body"])["Records"]]
    assert (s3["object"]["eTag"], s3["object"]["size"]) == ("etag-1", len(data))
    assert "versionId" not in s3["object"]  # the object written has none: the sample's would not be found
    object_url = "s3://local-drops/calls/2025-01-15/call events.ndjson.gz"
    assert said == [f"put {object_url} ({len(data)} bytes, a sample call event, NDJSON)"]


def test_a_callers_key_gets_a_csv_of_the_mapped_columns():
    assert sample_object("callers/crm.csv").decode().splitlines() == [
        "phone,first_name,tier",
        f'"{SAMPLE_CALLER}",caller 1,gold',
    ]
