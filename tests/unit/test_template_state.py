"""What holds records survives deploys: Retain policies, the FIFO pair added beside the standard pair (never a
toggle that replaces it), the dead-letter overflow bucket, FIFO's batch limit (items 23, 15, 16)."""

from __future__ import annotations

import pytest

from tests.support.template import cached_template, cached_translation, specialise

STATEFUL_TYPES = {
    "AWS::SQS::Queue",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
}
STANDARD_PAIR = ("StreamQueue", "StreamDeadLetterQueue")
FIFO_PAIR = ("StreamFifoQueue", "StreamFifoDeadLetterQueue")
DLQ_RETENTION_SECONDS = 1_209_600  # 14 days, SQS's maximum


@pytest.fixture(scope="module")
def template():
    return cached_template()


@pytest.fixture(scope="module")
def translated():
    return cached_translation()


def test_every_stateful_resource_is_retained_on_delete_and_on_replacement(template):
    stateful = {name: r for name, r in template["Resources"].items() if r["Type"] in STATEFUL_TYPES}

    assert set(stateful) == {
        "AepKey",
        "AepCredentialsSecret",
        "AepTokenSecret",
        *STANDARD_PAIR,
        *FIFO_PAIR,
        "DeadLetterOverflowBucket",
        "TenantsTable",
        "BatchDropBucket",
        "BatchQueue",
        "BatchDeadLetterQueue",
        "BatchLedgerTable",
        "BatchIdempotencyTable",
    }
    for name, resource in stateful.items():
        assert (name, resource.get("DeletionPolicy")) == (name, "Retain")
        assert (name, resource.get("UpdateReplacePolicy")) == (name, "Retain")


def test_retain_policies_survive_translation(translated):
    for name in (
        "AepKey",
        "AepCredentialsSecret",
        "AepTokenSecret",
        "TenantsTable",
        *STANDARD_PAIR,
        *FIFO_PAIR,
    ):
        assert translated["Resources"][name]["DeletionPolicy"] == "Retain"
        assert translated["Resources"][name]["UpdateReplacePolicy"] == "Retain"


def test_switching_fifo_on_or_off_changes_no_resource_that_exists_either_way(template):
    others = {"HasAlarmEmail": False, "UseAepSetup": False, "HasSetupS3Uri": False, "HasSetupStream": False}
    without = specialise(template, {"UseFifo": False, **others}, {"StreamUseFifo": "false"})
    with_fifo = specialise(template, {"UseFifo": True, **others}, {"StreamUseFifo": "true"})

    assert set(STANDARD_PAIR) <= set(without)
    assert set(without) < set(with_fifo)
    for name in without:
        assert (name, without[name]) == (name, with_fifo[name])


def test_the_standard_pair_is_standard_and_the_fifo_pair_is_fifo(template):
    resources = template["Resources"]

    for name in STANDARD_PAIR:
        assert "Condition" not in resources[name]
        assert "FifoQueue" not in resources[name]["Properties"]
    for name in FIFO_PAIR:
        assert resources[name]["Condition"] == "UseFifo"
        assert resources[name]["Properties"]["FifoQueue"] is True
    assert resources["StreamFifoQueue"]["Properties"]["ContentBasedDeduplication"] is True
    assert resources["StreamFifoQueue"]["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["StreamFifoDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "StreamMaxReceiveCount"},
    }
    assert template["Conditions"]["UseFifo"] == {"Fn::Equals": [{"Ref": "StreamUseFifo"}, "true"]}


@pytest.mark.parametrize("name", [*STANDARD_PAIR, *FIFO_PAIR])
def test_every_queue_is_encrypted_with_the_stack_key(template, name):
    properties = template["Resources"][name]["Properties"]

    assert properties["KmsMasterKeyId"] == {"Ref": "AepKey"}


def test_dead_letter_queues_keep_messages_for_the_sqs_maximum(template):
    for name in ("StreamDeadLetterQueue", "StreamFifoDeadLetterQueue"):
        assert template["Resources"][name]["Properties"]["MessageRetentionPeriod"] == DLQ_RETENTION_SECONDS


def test_fifo_queue_feeds_its_own_function_with_at_most_ten_records_and_no_batching_window(translated):
    resources = translated["Resources"]
    mappings = {name: r for name, r in resources.items() if r["Type"] == "AWS::Lambda::EventSourceMapping"}
    fifo_size = translated["Parameters"]["StreamFifoBatchSize"]

    assert set(mappings) == {
        "StreamIngestFunctionRecords",
        "StreamFifoIngestFunctionRecords",
        "BatchIngestFunctionDrops",
    }
    fifo = mappings["StreamFifoIngestFunctionRecords"]
    assert fifo["Condition"] == "UseFifo"
    assert fifo["Properties"] == {
        "BatchSize": {"Ref": "StreamFifoBatchSize"},
        "EventSourceArn": {"Fn::GetAtt": ["StreamFifoQueue", "Arn"]},
        "FunctionName": {"Ref": "StreamFifoIngestFunction"},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": {"Ref": "StreamMaxConcurrency"}},
    }
    assert (fifo_size["MinValue"], fifo_size["MaxValue"], fifo_size["Default"]) == (1, 10, 10)
    assert resources["StreamFifoIngestFunction"]["Condition"] == "UseFifo"


def test_each_function_dead_letters_to_the_dlq_of_its_own_queue(template):
    resources = template["Resources"]
    standard = resources["StreamIngestFunction"]["Properties"]["Environment"]["Variables"]
    fifo = resources["StreamFifoIngestFunction"]["Properties"]["Environment"]["Variables"]
    # each its own DLQ and service name; the stack's queues (test_template_tenants) include the FIFO one
    own = {"STREAM_DLQ_URL", "POWERTOOLS_SERVICE_NAME", "STREAM_DEFAULT_TENANT_QUEUES"}

    assert standard["STREAM_DLQ_URL"] == {"Ref": "StreamDeadLetterQueue"}
    assert fifo["STREAM_DLQ_URL"] == {"Ref": "StreamFifoDeadLetterQueue"}
    assert {k: v for k, v in fifo.items() if k not in own} == {
        k: v for k, v in standard.items() if k not in own
    }


def test_overflow_bucket_is_private_encrypted_and_expires_dead_letters(template):
    bucket = template["Resources"]["DeadLetterOverflowBucket"]["Properties"]
    days = template["Parameters"]["DeadLetterOverflowExpirationDays"]

    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {
                "ServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": {"Fn::GetAtt": ["AepKey", "Arn"]},
                },
                "BucketKeyEnabled": True,
            }
        ]
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert bucket["VersioningConfiguration"] == {"Status": {"Ref": "DeadLetterOverflowVersioning"}}
    assert template["Parameters"]["DeadLetterOverflowVersioning"]["AllowedValues"] == ["Enabled", "Suspended"]
    assert bucket["LifecycleConfiguration"] == {
        "Rules": [
            {
                "Id": "ExpireDeadLetters",
                "Status": "Enabled",
                "ExpirationInDays": {"Ref": "DeadLetterOverflowExpirationDays"},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }
        ]
    }
    # No pointer in the DLQ may outlive the object it points to.
    assert days["Default"] == days["MinValue"] == DLQ_RETENTION_SECONDS // 86_400
    assert days["MaxValue"] == 365


def test_functions_are_told_the_overflow_bucket_and_the_allowed_namespaces(template):
    for name in ("StreamIngestFunction", "StreamFifoIngestFunction"):
        variables = template["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["STREAM_DLQ_OVERFLOW_BUCKET"] == {"Ref": "DeadLetterOverflowBucket"}
        assert variables["STREAM_ALLOWED_NAMESPACES"] == {"Ref": "AllowedNamespaces"}
        assert variables["STREAM_FLOW_ID"] == {
            "Fn::If": ["UseAepSetup", {"Fn::GetAtt": ["AepSetup", "FlowId"]}, {"Ref": "StreamFlowId"}]
        }
    assert template["Parameters"]["AllowedNamespaces"]["Default"] == ""
    assert template["Parameters"]["AllowedNamespaces"]["Type"] == "String"


def test_flow_id_is_required(template):
    # Without the AepSetup custom resource, by the rule (an empty flow id is refused)
    rule = template["Rules"]["HandSetStreamingTargets"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "SetupAEP"}, "false"]}
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "StreamFlowId"}, ""]}]} in [
        a["Assert"] for a in rule["Assertions"]
    ]
