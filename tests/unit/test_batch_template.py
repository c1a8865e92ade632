"""The batch ingestion resources: drop bucket -> queue -> function, ledger, idempotency, least privilege."""

from __future__ import annotations

from typing import Any

import pytest

from batch_ingest.settings import ENVIRONMENT
from tests.support.template import cached_template, cached_translation


@pytest.fixture(scope="module")
def template():
    return cached_template()


@pytest.fixture(scope="module")
def translated():
    return cached_translation()


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_the_drop_bucket_is_versioned_encrypted_private_and_notifies_the_queue(template):
    bucket = template["Resources"]["BatchDropBucket"]
    props = bucket["Properties"]

    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["AepKey", "Arn"]}}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["NotificationConfiguration"] == {
        "QueueConfigurations": [
            {"Event": "s3:ObjectCreated:*", "Queue": {"Fn::GetAtt": ["BatchQueue", "Arn"]}}
        ]
    }
    # S3 checks it may send when the notification is configured: the queue policy must exist first.
    assert bucket["DependsOn"] == "BatchQueuePolicy"


def test_the_queue_takes_notifications_from_the_drop_bucket_of_this_account_only(template):
    resources = template["Resources"]
    allow, deny = resources["BatchQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    bucket_name = resources["BatchDropBucket"]["Properties"]["BucketName"]

    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # the bucket's ARN built from the same name the bucket is given
    source = allow["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Join"][1]
    assert source[:3] == ["arn:", {"Ref": "AWS::Partition"}, ":s3:::aep-batch-drop-"]
    assert bucket_name["Fn::Join"][1] == ["aep-batch-drop-", source[3]]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    key_sids = {s["Sid"] for s in resources["AepKey"]["Properties"]["KeyPolicy"]["Statement"]}
    assert "DropBucketNotifications" in key_sids  # S3 may encrypt into the KMS-encrypted queue


def test_the_queue_redrives_to_its_dlq_and_outlasts_six_function_timeouts(template):
    resources = template["Resources"]
    queue = resources["BatchQueue"]["Properties"]

    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["BatchDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * resources["BatchIngestFunction"]["Properties"]["Timeout"]
    assert queue["KmsMasterKeyId"] == {"Ref": "AepKey"}
    assert resources["BatchDeadLetterQueue"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AepKey"}


def test_the_function_consumes_the_queue_in_batches_with_partial_failures(translated):
    mapping = translated["Resources"]["BatchIngestFunctionDrops"]["Properties"]

    assert mapping == {
        "BatchSize": {"Ref": "BatchBatchSize"},
        "MaximumBatchingWindowInSeconds": {"Ref": "BatchBatchingWindowSeconds"},
        "EventSourceArn": {"Fn::GetAtt": ["BatchQueue", "Arn"]},
        "FunctionName": {"Ref": "BatchIngestFunction"},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": {"Ref": "BatchMaxConcurrency"}},
    }


def test_the_function_is_told_its_tables_queue_routes_and_reports_prefix(template):
    function = template["Resources"]["BatchIngestFunction"]["Properties"]
    variables = function["Environment"]["Variables"]

    assert set(variables) - {"POWERTOOLS_SERVICE_NAME"} <= set(ENVIRONMENT)
    assert variables["BATCH_LEDGER_TABLE"] == {"Ref": "BatchLedgerTable"}
    assert variables["BATCH_IDEMPOTENCY_TABLE"] == {"Ref": "BatchIdempotencyTable"}
    assert variables["BATCH_QUEUE_URL"] == {"Ref": "BatchQueue"}
    # the hand-set routes, or with SetupAEP=true setup's (docs/setup.md, The functions' settings)
    assert variables["BATCH_ROUTES"] == {
        "Fn::If": ["UseAepSetup", {"Fn::GetAtt": ["AepSetup", "BatchRoutes"]}, {"Ref": "BatchRoutes"}]
    }
    assert function["Timeout"] == 900  # Lambda's longest; longer files continue from a checkpoint
    assert "Runtime" not in function  # python3.13 arm64 from Globals
    assert function["EphemeralStorage"]["Size"] >= 1024


def test_the_ledger_has_the_sparse_pending_index_the_follow_up_reads(template):
    table = template["Resources"]["BatchLedgerTable"]["Properties"]

    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "pending-index",
            "KeySchema": [
                {"AttributeName": "pending", "KeyType": "HASH"},
                {"AttributeName": "completed_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "AepKey"}


def test_the_idempotency_table_expires_records_by_ttl(template):
    table = template["Resources"]["BatchIdempotencyTable"]["Properties"]

    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_the_role_reads_drops_and_writes_reports_under_the_prefix_only(translated, template):
    role = translated["Resources"]["BatchIngestRole"]
    by_sid = {s["Sid"]: s for s in statements(role)}
    prefix = template["Resources"]["BatchIngestFunction"]["Properties"]["Environment"]["Variables"][
        "BATCH_REPORTS_PREFIX"
    ]

    assert by_sid["ReadDrops"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"]
    assert by_sid["ReadDrops"]["Resource"] == {"Fn::Sub": "${BatchDropBucket.Arn}/*"}
    assert by_sid["WriteReports"] == {
        "Sid": "WriteReports",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": {"Fn::Sub": "${BatchDropBucket.Arn}/" + prefix + "*"},
    }
    assert by_sid["ContinueOnQueue"]["Action"] == "sqs:SendMessage"
    assert by_sid["ContinueOnQueue"]["Resource"] == {"Fn::GetAtt": ["BatchQueue", "Arn"]}
    assert by_sid["WriteLedger"]["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert by_sid["WriteLedger"]["Resource"] == {"Fn::GetAtt": ["BatchLedgerTable", "Arn"]}
    assert by_sid["Idempotency"]["Resource"] == {"Fn::GetAtt": ["BatchIdempotencyTable", "Arn"]}
    s3_actions = {
        a
        for s in statements(role)
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        if a.startswith("s3:")
    }
    assert s3_actions == {"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:PutObject"}


def test_the_drop_bucket_and_queue_are_outputs(template):
    outputs = template["Outputs"]

    assert outputs["BatchDropBucketName"]["Value"] == {"Ref": "BatchDropBucket"}
    assert outputs["BatchQueueUrl"]["Value"] == {"Ref": "BatchQueue"}
