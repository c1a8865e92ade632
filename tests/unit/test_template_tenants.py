"""The tenant registry in the template: the table, the functions' read of it, what reaches tenants' secrets
and queues."""

from __future__ import annotations

from typing import Any

import pytest

from aep.tenants.cli import KIND_TAG, STACK_TAG, TENANT_TAG, SecretGuard
from aep.tenants.registry import TABLE_VARIABLE
from stream_ingest.settings import ENVIRONMENT
from tests.support.template import cached_translation

STACK = "aep-connector"
ROLE = "arn:aws:iam::123456789012:role/aep-connector-StreamIngestRole-1A2B3C"
OTHER_SECRET = "a secret of the account, not the stack's"
OTHER_QUEUE = "a queue of the account, not the stack's"
PATTERNS = {
    OTHER_SECRET: "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*",
    OTHER_QUEUE: "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*",
}
QUEUES_VARIABLE = "STREAM_DEFAULT_TENANT_QUEUES"
CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility")


@pytest.fixture(scope="module")
def translated():
    return cached_translation()


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def roles(translated: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in translated["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement, both branches of a conditional one (``Fn::If``) included."""
    found = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    return [
        branch
        for s in found
        for branch in (s["Fn::If"][1:] if set(s) == {"Fn::If"} else [s])
        if branch != {"Ref": "AWS::NoValue"}
    ]


def secret_tags(kind: str) -> dict[str, str]:
    """The tags ``python -m aep.tenants add`` puts on a tenant's secret of this kind."""
    return {t["Key"]: t["Value"] for t in SecretGuard(STACK, (ROLE,)).tags("brand-a", kind)}


def grants(role: dict[str, Any], action: str, target: str, tags: dict[str, str]) -> bool:
    """Whether the role allows ``action`` on ``target`` (a resource of the stack by logical id, or
    ``OTHER_SECRET`` / ``OTHER_QUEUE``) carrying ``tags``, in stack ``STACK``.

    A small evaluator of exactly the forms the template's roles use (Allow; Ref, GetAtt .Arn or an
    account-wide ARN pattern; StringEquals on aws:ResourceTag): any other form fails the test."""
    for statement in statements(role):
        assert statement["Effect"] == "Allow"
        if action not in as_list(statement["Action"]):
            continue
        resources = as_list(statement["Resource"])
        if not any(
            resource in ({"Ref": target}, {"Fn::GetAtt": [target, "Arn"]}, {"Fn::Sub": PATTERNS.get(target)})
            for resource in resources
        ):
            for resource in resources:  # every other form must be a known one
                assert (
                    resource == "*" or "Ref" in resource or "Fn::GetAtt" in resource or "Fn::Sub" in resource
                )
            continue
        condition = statement.get("Condition", {})
        assert set(condition) <= {"StringEquals"}
        wanted = {
            key.removeprefix("aws:ResourceTag/"): STACK if value == {"Ref": "AWS::StackName"} else value
            for key, value in condition.get("StringEquals", {}).items()
        }
        assert all(key.startswith("aws:ResourceTag/") for key in condition.get("StringEquals", {}))
        if all(tags.get(key) == value for key, value in wanted.items()):
            return True
    return False


def test_the_registry_is_an_encrypted_recoverable_retained_pay_per_request_table(translated):
    table = translated["Resources"]["TenantsTable"]

    assert table["Type"] == "AWS::DynamoDB::Table"
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert "Condition" not in table
    assert table["Properties"] == {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "tenant_id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "tenant_id", "KeyType": "HASH"}],
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "AepKey"}},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    }


def test_every_function_is_told_the_registry(translated):
    functions = {n: r for n, r in translated["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}

    assert set(functions) == {
        "StreamIngestFunction",
        "StreamFifoIngestFunction",
        "BatchIngestFunction",
        "BatchFollowFunction",
        "ProfileLookupFunction",
        "AepSetupFunction",  # told by Globals, never granted a read (test_template_setup)
    }
    for function in functions.values():
        assert function["Properties"]["Environment"]["Variables"][TABLE_VARIABLE] == {"Ref": "TenantsTable"}


def test_dynamodb_is_batch_get_item_on_the_registry_only(translated):
    # The streaming functions resolve an invocation's tenants with BatchGetItem (aep.tenants.registry),
    # nothing else (the batch follow-up's grants: test_template_batch_follow). The batch function also
    # writes its own ledger and idempotency tables (test_batch_template).
    own_tables = [{"Fn::GetAtt": [t, "Arn"]} for t in ("BatchLedgerTable", "BatchIdempotencyTable")]
    for name, role in roles(translated).items():
        if name in ("BatchFollowRole", "AepSetupRole"):  # AepSetupRole: none (test_template_setup)
            continue
        dynamodb = [
            s
            for s in statements(role)
            if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
            and s["Resource"] not in own_tables
        ]
        assert dynamodb == [
            {
                "Sid": "ReadTenants",
                "Effect": "Allow",
                "Action": "dynamodb:BatchGetItem",
                "Resource": {"Fn::GetAtt": ["TenantsTable", "Arn"]},
            }
        ], name
        assert grants(role, "dynamodb:BatchGetItem", "TenantsTable", {})
        for action in (
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:Scan",
            "dynamodb:Query",
        ):
            assert not grants(role, action, "TenantsTable", {}), (name, action)


def test_each_function_admits_the_default_tenant_from_the_stacks_own_queues_only(translated):
    assert ENVIRONMENT[QUEUES_VARIABLE] == "default_tenant_queues"
    functions = {n: r for n, r in translated["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    variables = {n: f["Properties"]["Environment"]["Variables"] for n, f in functions.items()}

    assert variables["StreamIngestFunction"][QUEUES_VARIABLE] == {"Fn::GetAtt": ["StreamQueue", "Arn"]}
    assert variables["StreamFifoIngestFunction"][QUEUES_VARIABLE] == {
        "Fn::Join": [
            ",",
            [{"Fn::GetAtt": ["StreamQueue", "Arn"]}, {"Fn::GetAtt": ["StreamFifoQueue", "Arn"]}],
        ]
    }
    # and those are the queues the functions' own event sources read
    mappings = [r for r in translated["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    sources = {m["Properties"]["FunctionName"]["Ref"]: m["Properties"]["EventSourceArn"] for m in mappings}
    assert sources == {
        "StreamIngestFunction": {"Fn::GetAtt": ["StreamQueue", "Arn"]},
        "StreamFifoIngestFunction": {"Fn::GetAtt": ["StreamFifoQueue", "Arn"]},
        "BatchIngestFunction": {"Fn::GetAtt": ["BatchQueue", "Arn"]},
    }


@pytest.mark.parametrize("role_name", ["StreamIngestRole", "StreamFifoIngestRole", "ProfileLookupRole"])
@pytest.mark.parametrize(
    ("target", "tags", "readable", "writable"),
    [
        # The secrets `python -m aep.tenants add` secures, with the tags it writes:
        (OTHER_SECRET, secret_tags("credentials"), True, False),
        (OTHER_SECRET, secret_tags("token"), True, True),
        # Secrets of another stack, untagged, with the kind alone, or a kind spelt otherwise:
        (OTHER_SECRET, {STACK_TAG: "another-stack", TENANT_TAG: "brand-a", KIND_TAG: "token"}, False, False),
        (OTHER_SECRET, {STACK_TAG: STACK.upper(), KIND_TAG: "token"}, False, False),
        (OTHER_SECRET, {}, False, False),
        (OTHER_SECRET, {KIND_TAG: "token", TENANT_TAG: "brand-a"}, False, False),
        (OTHER_SECRET, {STACK_TAG: STACK, KIND_TAG: "Token"}, True, False),
        # The stack's own default-tenant secrets, as before:
        ("AepCredentialsSecret", {}, True, False),
        ("AepTokenSecret", {}, True, True),
    ],
)
def test_a_function_reaches_a_tenant_secret_only_through_its_stack_tag(
    translated, role_name, target, tags, readable, writable
):
    role = roles(translated)[role_name]

    assert grants(role, "secretsmanager:GetSecretValue", target, tags) is readable
    assert grants(role, "secretsmanager:PutSecretValue", target, tags) is writable
    for action in (
        "secretsmanager:DeleteSecret",
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:TagResource",
    ):
        assert not grants(role, action, target, {**tags, STACK_TAG: STACK})


@pytest.mark.parametrize("role_name", ["StreamIngestRole", "StreamFifoIngestRole"])
@pytest.mark.parametrize(
    ("tags", "consumable"),
    [
        ({STACK_TAG: STACK}, True),
        ({STACK_TAG: "another-stack"}, False),
        ({}, False),
        ({TENANT_TAG: "brand-a"}, False),
    ],
)
def test_a_function_consumes_a_brand_queue_only_when_tagged_with_its_stack(
    translated, role_name, tags, consumable
):
    role = roles(translated)[role_name]

    for action in CONSUME:
        assert grants(role, action, OTHER_QUEUE, tags) is consumable
    for action in ("sqs:SendMessage", "sqs:PurgeQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes"):
        assert not grants(role, action, OTHER_QUEUE, {STACK_TAG: STACK})


def test_every_function_and_its_role_is_an_output_and_so_is_the_table(translated):
    outputs = translated["Outputs"]
    resources = translated["Resources"]
    named = {
        (o["Value"].get("Ref") or o["Value"]["Fn::GetAtt"][0]): o.get("Condition")
        for o in outputs.values()
        if isinstance(o["Value"], dict) and {"Ref", "Fn::GetAtt"} & set(o["Value"])
    }
    wanted = {
        name: r.get("Condition")
        for name, r in resources.items()
        if r["Type"] in {"AWS::IAM::Role", "AWS::Lambda::Function", "AWS::DynamoDB::Table"}
    }

    assert wanted.items() <= named.items()
    assert outputs["StreamIngestRoleArn"]["Value"] == {"Fn::GetAtt": ["StreamIngestRole", "Arn"]}
    assert outputs["StreamFifoIngestRoleArn"]["Value"] == {"Fn::GetAtt": ["StreamFifoIngestRole", "Arn"]}
    assert outputs["StreamIngestFunctionName"]["Value"] == {"Ref": "StreamIngestFunction"}
    assert outputs["TenantsTableName"]["Value"] == {"Ref": "TenantsTable"}
    assert outputs["ProfileLookupRoleArn"]["Value"] == {"Fn::GetAtt": ["ProfileLookupRole", "Arn"]}


@pytest.mark.parametrize(
    ("name", "kind"), [("AepCredentialsSecret", "credentials"), ("AepTokenSecret", "token")]
)
def test_the_stacks_own_secrets_are_tagged_as_the_default_tenants(translated, name, kind):
    """So that ``python -m aep.tenants add`` refuses them for a registry tenant (see test_tenant_cli)."""
    tags = translated["Resources"][name]["Properties"]["Tags"]

    assert tags == [
        {"Key": STACK_TAG, "Value": {"Ref": "AWS::StackName"}},
        {"Key": TENANT_TAG, "Value": "default"},
        {"Key": KIND_TAG, "Value": kind},
    ]
    # These tags grant the functions nothing they did not have: read both, write the token only, whether
    # a statement names the secret or the account's secrets by tag.
    as_tagged = {STACK_TAG: STACK, TENANT_TAG: "default", KIND_TAG: kind}
    for role_name, role in roles(translated).items():
        if role_name == "AepSetupRole":  # the stack's credential, by name, and nothing else
            assert grants(role, "secretsmanager:GetSecretValue", name, as_tagged) is (kind == "credentials")
            assert not grants(role, "secretsmanager:GetSecretValue", OTHER_SECRET, as_tagged)
            assert not grants(role, "secretsmanager:PutSecretValue", name, as_tagged)
            continue
        for target in (name, OTHER_SECRET):
            assert grants(role, "secretsmanager:GetSecretValue", target, as_tagged)
            assert grants(role, "secretsmanager:PutSecretValue", target, as_tagged) is (kind == "token")
