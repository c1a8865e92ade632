"""Least privilege, TLS only, checked parameters (item 24), on the template SAM would deploy."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.template import cached_template, cached_translation

# AWS requires "*" for these: X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level
# permissions (Tracing: Active). Nothing else may use a wildcard resource.
WILDCARD_RESOURCE_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
ALARMS_OF_THIS_ACCOUNT = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
SECRETS_OF_THIS_ACCOUNT = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"


@pytest.fixture(scope="module")
def template():
    return cached_template()


@pytest.fixture(scope="module")
def translated():
    return cached_translation()


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement, both branches of a conditional one (``Fn::If``) included."""
    statements = [
        s for policy in role["Properties"].get("Policies", []) for s in policy["PolicyDocument"]["Statement"]
    ]
    return [
        branch
        for s in statements
        for branch in (s["Fn::If"][1:] if set(s) == {"Fn::If"} else [s])
        if branch != {"Ref": "AWS::NoValue"}
    ]


def roles(translated: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in translated["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def deny_plain_http(action: str, resource: Any) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_the_functions_run_with_roles_of_our_own_and_no_managed_policy(translated):
    resources = translated["Resources"]

    assert set(roles(translated)) == {
        "StreamIngestRole",
        "StreamFifoIngestRole",
        "BatchIngestRole",
        "BatchFollowRole",
        "ProfileLookupRole",
        "AepSetupRole",
    }
    for role in roles(translated).values():
        assert role["Properties"].get("ManagedPolicyArns", []) == []
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    assert resources["StreamIngestFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["StreamIngestRole", "Arn"]
    }
    assert resources["StreamFifoIngestFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["StreamFifoIngestRole", "Arn"]
    }
    assert resources["ProfileLookupFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["ProfileLookupRole", "Arn"]
    }
    assert resources["StreamFifoIngestRole"]["Condition"] == "UseFifo"
    assert resources["BatchFollowFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["BatchFollowRole", "Arn"]
    }


def test_no_statement_uses_a_wildcard_resource_except_where_aws_requires_it(translated):
    for name, role in roles(translated).items():
        for statement in role_statements(role):
            actions = set(as_list(statement["Action"]))
            assert not any("*" in action for action in actions), (name, statement)
            if "*" in as_list(statement["Resource"]):
                assert actions == WILDCARD_RESOURCE_ACTIONS, (name, statement)


@pytest.mark.parametrize(
    ("role", "queue", "dlq", "log_group", "policy_name"),
    [
        ("StreamIngestRole", "StreamQueue", "StreamDeadLetterQueue", "StreamIngestLogGroup", "stream-ingest"),
        (
            "StreamFifoIngestRole",
            "StreamFifoQueue",
            "StreamFifoDeadLetterQueue",
            "StreamFifoIngestLogGroup",
            "stream-fifo-ingest",
        ),
    ],
)
def test_a_function_role_holds_exactly_what_its_function_does(
    translated, role, queue, dlq, log_group, policy_name
):
    policies = translated["Resources"][role]["Properties"]["Policies"]

    assert [p["PolicyName"] for p in policies] == [policy_name]
    assert role_statements(translated["Resources"][role]) == [
        {
            "Sid": "ConsumeQueue",
            "Effect": "Allow",
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ChangeMessageVisibility",
            ],
            "Resource": {"Fn::GetAtt": [queue, "Arn"]},
        },
        {
            "Sid": "DeadLetterRejects",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"],
            "Resource": {"Fn::GetAtt": [dlq, "Arn"]},
        },
        {
            "Sid": "DeadLetterOverflow",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": {"Fn::Sub": "${DeadLetterOverflowBucket.Arn}/dead-letters/*"},
        },
        {
            "Sid": "ReadCredentials",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Ref": "AepCredentialsSecret"},
        },
        {
            "Sid": "ShareToken",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
            "Resource": {"Ref": "AepTokenSecret"},
        },
        {
            "Sid": "ReadTenants",
            "Effect": "Allow",
            "Action": "dynamodb:BatchGetItem",
            "Resource": {"Fn::GetAtt": ["TenantsTable", "Arn"]},
        },
        {
            "Sid": "ConsumeTenantQueues",
            "Effect": "Allow",
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ChangeMessageVisibility",
            ],
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*"},
            "Condition": {"StringEquals": {"aws:ResourceTag/aep:stack": {"Ref": "AWS::StackName"}}},
        },
        {
            "Sid": "ReadTenantSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Fn::Sub": SECRETS_OF_THIS_ACCOUNT},
            "Condition": {"StringEquals": {"aws:ResourceTag/aep:stack": {"Ref": "AWS::StackName"}}},
        },
        {
            "Sid": "ShareTenantTokens",
            "Effect": "Allow",
            "Action": "secretsmanager:PutSecretValue",
            "Resource": {"Fn::Sub": SECRETS_OF_THIS_ACCOUNT},
            "Condition": {
                "StringEquals": {
                    "aws:ResourceTag/aep:stack": {"Ref": "AWS::StackName"},
                    "aws:ResourceTag/aep:secret-kind": "token",
                }
            },
        },
        {
            "Sid": "UseConnectorKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": {"Fn::GetAtt": ["AepKey", "Arn"]},
        },
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
        },
        {
            "Sid": "Tracing",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",
        },
    ]


@pytest.mark.parametrize(
    ("function", "log_group", "name"),
    [
        ("StreamIngestFunction", "StreamIngestLogGroup", "/aws/lambda/${AWS::StackName}/stream-ingest"),
        (
            "StreamFifoIngestFunction",
            "StreamFifoIngestLogGroup",
            "/aws/lambda/${AWS::StackName}/stream-fifo-ingest",
        ),
        ("BatchFollowFunction", "BatchFollowLogGroup", "/aws/lambda/${AWS::StackName}/batch-follow"),
        ("ProfileLookupFunction", "ProfileLookupLogGroup", "/aws/lambda/${AWS::StackName}/profile-lookup"),
    ],
)
def test_each_function_logs_to_its_encrypted_log_group(translated, function, log_group, name):
    resources = translated["Resources"]

    assert resources[function]["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": log_group}}
    assert resources[log_group]["Properties"] == {
        "LogGroupName": {"Fn::Sub": name},
        "RetentionInDays": 30,
        "KmsKeyId": {"Fn::GetAtt": ["AepKey", "Arn"]},
    }
    assert resources[function]["Properties"]["TracingConfig"] == {"Mode": "Active"}


@pytest.mark.parametrize(
    ("policy", "queue"),
    [
        ("StreamQueuePolicy", "StreamQueue"),
        ("StreamDeadLetterQueuePolicy", "StreamDeadLetterQueue"),
        ("StreamFifoQueuePolicy", "StreamFifoQueue"),
        ("StreamFifoDeadLetterQueuePolicy", "StreamFifoDeadLetterQueue"),
    ],
)
def test_every_queue_refuses_plain_http(template, policy, queue):
    resources = template["Resources"]

    assert resources[policy]["Type"] == "AWS::SQS::QueuePolicy"
    assert resources[policy].get("Condition") == resources[queue].get("Condition")
    assert resources[policy]["Properties"] == {
        "Queues": [{"Ref": queue}],
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [deny_plain_http("sqs:*", {"Fn::GetAtt": [queue, "Arn"]})],
        },
    }


def test_every_queue_has_a_policy(template):
    resources = template["Resources"]
    queues = {name for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    covered = {
        q["Ref"]
        for r in resources.values()
        if r["Type"] == "AWS::SQS::QueuePolicy"
        for q in r["Properties"]["Queues"]
    }

    assert covered == queues


def test_the_alarm_topic_refuses_plain_http_and_takes_alarms_of_this_account_only(template):
    resources = template["Resources"]
    topics = {name for name, r in resources.items() if r["Type"] == "AWS::SNS::Topic"}

    assert topics == {"AlarmTopic"}
    assert resources["AlarmTopicPolicy"]["Properties"] == {
        "Topics": [{"Ref": "AlarmTopic"}],
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": {"Ref": "AlarmTopic"},
                    "Condition": {"ArnLike": {"aws:SourceArn": {"Fn::Sub": ALARMS_OF_THIS_ACCOUNT}}},
                },
                deny_plain_http("sns:Publish", {"Ref": "AlarmTopic"}),
            ],
        },
    }


def test_the_overflow_bucket_refuses_plain_http(template):
    assert template["Resources"]["DeadLetterOverflowBucketPolicy"]["Properties"] == {
        "Bucket": {"Ref": "DeadLetterOverflowBucket"},
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                deny_plain_http(
                    "s3:*",
                    [
                        {"Fn::GetAtt": ["DeadLetterOverflowBucket", "Arn"]},
                        {"Fn::Sub": "${DeadLetterOverflowBucket.Arn}/*"},
                    ],
                )
            ],
        },
    }


def test_the_key_lets_cloudwatch_logs_use_it_for_this_account_s_log_groups_only(template):
    statements = template["Resources"]["AepKey"]["Properties"]["KeyPolicy"]["Statement"]
    logs = [s for s in statements if s["Sid"] == "EncryptedLogGroups"]

    assert logs == [
        {
            "Sid": "EncryptedLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}},
            "Action": [
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": {
                        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
                    }
                }
            },
        }
    ]


def allowed(template: dict[str, Any], parameter: str, value: str) -> bool:
    """CloudFormation's AllowedPattern must match the whole value."""
    return re.fullmatch(template["Parameters"][parameter]["AllowedPattern"], value) is not None


URLS = ("ImsUrl", "PlatformUrl", "StreamingUrl")


@pytest.mark.parametrize("parameter", URLS)
@pytest.mark.parametrize(
    "value",
    [
        "https://ims-na1.adobelogin.com",
        "https://platform.adobe.io",
        "https://dcs.adobedc.net",
        "https://dcs-int.adobedc.net/",
        "https://platform.adobe.io:443",
    ],
)
def test_url_parameters_accept_an_https_host(template, parameter, value):
    assert allowed(template, parameter, value)
    assert allowed(template, parameter, template["Parameters"][parameter]["Default"])


@pytest.mark.parametrize("parameter", URLS)
@pytest.mark.parametrize(
    "value",
    [
        "http://platform.adobe.io",
        "http://127.0.0.1:8787",
        "https://",
        "platform.adobe.io",
        "https://evil.example\\@platform.adobe.io",
        "https://user:pass@platform.adobe.io",
        "https://platform.adobe.io/data/foundation",
        "https://platform.adobe.io?x=1",
        "https://platform.adobe.io#frag",
        "https://-platform.adobe.io",
        "https://platform.adobe.io.",
        "https://platform.adobe.io:443443",
        " https://platform.adobe.io",
        "https://platform.adobe.io\n",
        "HTTPS://platform.adobe.io",
        "",
    ],
)
def test_url_parameters_refuse_anything_but_an_https_host(template, parameter, value):
    assert not allowed(template, parameter, value)


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [
        (
            "StreamInletId",
            ["", "667b41cf2dbf3509927da1ebf7e93c20afa727cc8d8373e51da18b62e1b985ec"],
            [
                "667b41cf2dbf3509927da1ebf7e93c20afa727cc8d8373e51da18b62e1b985e",
                "667b41cf2dbf3509927da1ebf7e93c20afa727cc8d8373e51da18b62e1b985ec0",
                "667B41CF2DBF3509927DA1EBF7E93C20AFA727CC8D8373E51DA18B62E1B985EC",
                "667b41cf2dbf3509927da1ebf7e93c20afa727cc8d8373e51da18b62e1b985eg",
                "https://dcs.adobedc.net/collection/667b41cf2dbf3509927da1ebf7e93c20afa727cc8d8373e51da18b62e1b985ec",
            ],
        ),
        (
            "StreamDatasetId",
            ["", "5da9452f7de80400007jc52a", "62a31e96ba86e52a2f729a8d", "65f0c0a1e4b0c1d2e3f40002"],
            [
                "5da9452f7de80400007jc52",
                "5da9452f7de80400007jc52a0",
                "5da9452f7de8-400007jc52a",
                " " * 24,
            ],
        ),
        (
            "StreamFlowId",
            ["", "69f188b6-af07-4587-8061-e94d34637b41", "d8a6f005-0000-4000-8000-00000000c411"],
            [
                "69f188b6af074587806le94d34637b41",
                "69f188b6-af07-4587-8061-e94d34637b4",
                "69f188b6-af07-4587-8061-e94d34637b41a",
                "69F188B6-AF07-4587-8061-E94D34637B41",
                "{69f188b6-af07-4587-8061-e94d34637b41}",
            ],
        ),
        (
            "StreamSchemaRef",
            ["", "https://ns.adobe.com/acme/schemas/274f17bc5807ff307a046bab1489fb18"],
            [
                "http://ns.adobe.com/acme/schemas/1",
                "https://ns.adobe.com/",
                "_acme.schemas.274f17bc",
                "https://x.io/a",
            ],
        ),
        (
            "AlarmEmail",
            ["", "ops@example.com", "on-call+aep@ops.example.co.uk"],
            ["ops", "ops@example", "ops@@example.com", "ops @example.com", "a@b.com,c@d.com", "@example.com"],
        ),
    ],
)
def test_id_parameters_follow_their_documented_formats(template, parameter, good, bad):
    # An empty streaming id passes its pattern: the HandSetStreamingTargets rule refuses it unless SetupAEP.
    for value in good:
        assert allowed(template, parameter, value), value
    for value in bad:
        assert not allowed(template, parameter, value), value


def test_ids_without_a_default_must_be_given(template):
    # Every parameter has a default; the streaming ids' is empty, which the rule refuses unless the
    # AepSetup custom resource gives them (SetupAEP=true, tests/unit/test_template_setup.py).
    parameters = template["Parameters"]
    rule = template["Rules"]["HandSetStreamingTargets"]

    assert {name for name, p in parameters.items() if "Default" not in p} == set()
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "SetupAEP"}, "false"]}
    assert {a["Assert"]["Fn::Not"][0]["Fn::Equals"][0]["Ref"] for a in rule["Assertions"]} == {
        "StreamInletId",
        "StreamDatasetId",
        "StreamFlowId",
    }


def test_an_alarm_email_subscribes_only_when_given(template):
    resources = template["Resources"]

    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert resources["AlarmEmailSubscription"] == {
        "Type": "AWS::SNS::Subscription",
        "Condition": "HasAlarmEmail",
        "Properties": {
            "TopicArn": {"Ref": "AlarmTopic"},
            "Protocol": "email",
            "Endpoint": {"Ref": "AlarmEmail"},
        },
    }


def test_the_overflow_grant_covers_exactly_the_keys_the_function_writes(translated):
    from stream_ingest.dead_letters import OverflowStore

    key = OverflowStore("bucket", lambda: None).key_for("a/b message")
    granted = [
        s["Resource"]["Fn::Sub"]
        for s in role_statements(translated["Resources"]["StreamIngestRole"])
        if s["Sid"] == "DeadLetterOverflow"
    ]

    assert granted == ["${DeadLetterOverflowBucket.Arn}/dead-letters/*"]
    assert key.startswith("dead-letters/")
    assert "/" not in key.removeprefix("dead-letters/")
