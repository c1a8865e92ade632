"""The template's resources as the local stack creates them (on moto's mock here), and the functions'
environments and triggers resolved from the same template."""

from __future__ import annotations

import json

import boto3
import pytest

from stack.functions import function_specs
from stack.resources import Resources, queue_url
from stack.template import Template, TemplateError, load

STORY = {
    "StreamInletId": "a" * 64,
    "StreamDatasetId": "b" * 24,
    "StreamFlowId": "c" * 8 + "-0000-4000-8000-" + "d" * 12,
}


def stack(**parameters: str) -> tuple[Template, Resources]:
    resources = Resources("demo")
    template = Template(load(), {**STORY, **parameters}, stack_name="demo", physical=resources.physical)
    resources.create_all(template)
    return template, resources


def test_every_queue_bucket_table_and_secret_of_the_template_is_created(aws):
    _, resources = stack()
    kinds = {made.type for made in resources.created.values()}
    queues = boto3.client("sqs").list_queues()["QueueUrls"]

    assert {
        "AWS::SQS::Queue",
        "AWS::S3::Bucket",
        "AWS::DynamoDB::Table",
        "AWS::SecretsManager::Secret",
    } <= kinds
    assert sorted(url.rsplit("/", 1)[1] for url in queues) == sorted(
        f"demo-{name}"
        for name in ("StreamDeadLetterQueue", "StreamQueue", "BatchDeadLetterQueue", "BatchQueue")
    )
    assert "StreamFifoQueue" not in resources.created  # its condition (StreamUseFifo) is false


def test_the_fifo_pair_exists_when_its_condition_holds(aws):
    _, resources = stack(StreamUseFifo="true")

    assert resources.created["StreamFifoQueue"].name == "demo-StreamFifoQueue.fifo"
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=resources.created["StreamFifoQueue"].ref, AttributeNames=["All"]
    )["Attributes"]
    assert attributes["FifoQueue"] == "true"


def test_a_queue_redrives_to_its_dead_letter_queue_with_the_parameters_receive_count(aws):
    _, resources = stack(StreamMaxReceiveCount="3")
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=resources.created["StreamQueue"].ref, AttributeNames=["All"]
    )["Attributes"]

    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:demo-StreamDeadLetterQueue",
        "maxReceiveCount": 3,
    }
    assert attributes["VisibilityTimeout"] == "360"


def test_the_drop_bucket_is_named_from_the_stack_id_versioned_and_notifies_the_batch_queue(aws):
    _, resources = stack()
    bucket = resources.created["BatchDropBucket"].name
    s3 = boto3.client("s3")

    assert bucket == "aep-batch-drop-local-demo"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    [notification] = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert notification["QueueArn"] == "arn:aws:sqs:us-east-1:123456789012:demo-BatchQueue"
    assert notification["Events"] == ["s3:ObjectCreated:*"]


def test_tables_have_the_templates_keys_indexes_and_ttl(aws):
    _, resources = stack()
    dynamodb = boto3.client("dynamodb")
    ledger = dynamodb.describe_table(TableName=resources.created["BatchLedgerTable"].name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=resources.created["BatchIdempotencyTable"].name)

    assert ledger["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert [index["IndexName"] for index in ledger["GlobalSecondaryIndexes"]] == ["pending-index"]
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiration"


def test_secrets_carry_the_templates_tags(aws):
    _, resources = stack()
    secret = boto3.client("secretsmanager").describe_secret(SecretId=resources.created["AepTokenSecret"].ref)

    assert {t["Key"]: t["Value"] for t in secret["Tags"]} == {
        "aep:stack": "demo",
        "aep:tenant": "default",
        "aep:secret-kind": "token",
    }


def test_each_function_gets_the_globals_and_its_own_variables_resolved_to_the_created_resources(aws):
    template, resources = stack(BatchBatchSize="7", BatchBatchingWindowSeconds="2")
    specs = {spec.logical_id: spec for spec in function_specs(template)}
    stream, batch = specs["StreamIngestFunction"], specs["BatchIngestFunction"]

    assert stream.environment["STREAM_DLQ_URL"] == queue_url("demo-StreamDeadLetterQueue")
    assert stream.environment["AEP_CREDENTIALS_SECRET_ID"] == resources.created["AepCredentialsSecret"].ref
    assert stream.environment["STREAM_INLET_ID"] == STORY["StreamInletId"]
    assert batch.environment["BATCH_LEDGER_TABLE"] == "demo-BatchLedgerTable"
    assert (batch.timeout, batch.memory, stream.memory) == (900, 1024, 512)
    [source] = batch.sqs
    assert (source.queue_arn.rsplit(":", 1)[1], source.batch_size, source.window_seconds) == (
        "demo-BatchQueue",
        7,
        2.0,
    )
    assert source.report_failures
    assert specs["BatchFollowFunction"].schedules == [300.0]
    assert {(r.method, r.path, r.stage) for r in specs["ProfileLookupFunction"].routes} >= {
        ("GET", "/profiles/{namespace}/{id}", "v1"),
        ("POST", "/profiles/lookup", "v1"),
    }


def test_a_resource_not_created_locally_gives_its_name_and_arn_but_no_other_attribute(aws):
    template, _ = stack()
    body = {**template.body, "Resources": {**template.resources, "Setup": {"Type": "Custom::AepSetup"}}}
    resources = Resources("demo")
    custom = Template(body, template.parameters, stack_name="demo", physical=resources.physical)
    resources.template = custom

    assert custom.resolve({"Fn::GetAtt": ["StreamIngestRole", "Arn"]}) == (
        "arn:aws:iam::123456789012:role/demo-StreamIngestRole"
    )
    assert custom.resolve({"Ref": "Setup"}) == "demo-Setup"
    with pytest.raises(
        TemplateError, match=r"GetAtt Setup\.InletId: Custom::AepSetup is not emulated locally"
    ):
        custom.resolve({"Fn::GetAtt": ["Setup", "InletId"]})
