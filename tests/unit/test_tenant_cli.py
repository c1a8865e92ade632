"""``python -m aep.tenants``: add, list, show, disable, enable against moto's DynamoDB and Secrets Manager."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aep.tenants import Tenant, TenantRegistry, TenantStreaming, UnknownTenantError
from aep.tenants.cli import main
from tests.support.template import ROOT, cached_translation

TABLE = "aep-connector-tenants"
STACK = "aep-connector"
ORG_A = "AAAA0000000000000000AAAA@AdobeOrg"
ORG_B = "BBBB0000000000000000BBBB@AdobeOrg"
ROLE = "arn:aws:iam::123456789012:role/aep-connector-StreamIngestRole-1A2B3C"
FIFO_ROLE = "arn:aws:iam::123456789012:role/aep-connector-StreamFifoIngestRole-4D5E6F"
QUEUE_A = "arn:aws:sqs:us-east-1:123456789012:brand-a"
CLIENT_SECRET_VALUE = "p8e-BRAND-A-SECRET-never-printed"
ENV = {"AEP_TENANTS_TABLE": TABLE, "AEP_STACK_NAME": STACK}


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@pytest.fixture
def secretsmanager(aws: None) -> Any:
    client = boto3.client("secretsmanager")
    for brand in ("brand-a", "brand-b"):
        client.create_secret(
            Name=f"aep/{brand}/credentials",
            SecretString=json.dumps(
                {"client_id": brand, "client_secret": CLIENT_SECRET_VALUE, "org_id": ORG_A}
            ),
        )
        client.create_secret(Name=f"aep/{brand}/token", SecretString="{}")
    return client


@pytest.fixture
def cli(dynamodb: Any, secretsmanager: Any, capsys: pytest.CaptureFixture[str]) -> Any:
    """``cli(*argv)`` -> (exit code, stdout, stderr); no printed line ever holds the secret's value."""

    def run(*argv: str, env: dict[str, str] | None = None, stdin: str = "", clients: Any = None) -> Any:
        kwargs: dict[str, Any] = {"environ": ENV if env is None else env, "stdin": io.StringIO(stdin)}
        if clients is not None:
            kwargs["clients"] = clients
        code = main(list(argv), **kwargs)
        out, err = capsys.readouterr()
        assert CLIENT_SECRET_VALUE not in out + err
        return code, out, err

    return run


def add_a(*extra: str) -> list[str]:
    return [
        "add",
        "--tenant-id",
        "brand-a",
        "--org-id",
        ORG_A,
        "--sandbox",
        "dev",
        "--credentials-secret",
        "aep/brand-a/credentials",
        "--token-secret",
        "aep/brand-a/token",
        "--reader-role-arn",
        ROLE,
        *extra,
    ]


def add_b(*extra: str) -> list[str]:
    return [
        "add",
        "--tenant-id",
        "brand-b",
        "--org-id",
        ORG_B,
        "--credentials-secret",
        "aep/brand-b/credentials",
        "--token-secret",
        "aep/brand-b/token",
        "--reader-role-arn",
        ROLE,
        *extra,
    ]


def stored(dynamodb: Any, tenant_id: str) -> Any:
    """The raw DynamoDB item (attribute-value form), or None."""
    return dynamodb.get_item(TableName=TABLE, Key={"tenant_id": {"S": tenant_id}}).get("Item")


def tags_of(secretsmanager: Any, secret_id: str) -> dict[str, str]:
    described = secretsmanager.describe_secret(SecretId=secret_id)
    return {t["Key"]: t["Value"] for t in described.get("Tags", [])}


def test_add_from_flags_stores_a_tenant_the_registry_reads(cli, clock):
    code, out, err = cli(
        *add_a(
            "--inlet-id",
            "inlet-a",
            "--dataset-id",
            "ds-a",
            "--schema-ref",
            "https://ns.adobe.com/brand-a/schemas/1",
            "--flow-id",
            "flow-a",
            "--inlet-authenticated",
            "true",
            "--allowed-namespaces",
            "Phone, Email",
            "--default-phone-region",
            "GB",
            "--source-queue",
            QUEUE_A,
            "--source-queue",
            QUEUE_A + "-fifo.fifo",
            "--principal",
            "arn:aws:iam::123456789012:role/ivr-brand-a",
            "--api-key-id",
            "k1",
            "--api-key-id",
            "k2",
            "--rate-ceiling",
            "2.5",
        )
    )

    assert (code, err) == (0, "")
    assert "added tenant 'brand-a' (version 1)" in out
    assert TenantRegistry(TABLE, clock=clock).get("brand-a") == Tenant(
        tenant_id="brand-a",
        org_id=ORG_A,
        sandbox_name="dev",
        credentials_secret_id="aep/brand-a/credentials",
        token_secret_id="aep/brand-a/token",
        streaming=TenantStreaming(
            inlet_id="inlet-a",
            dataset_id="ds-a",
            schema_ref="https://ns.adobe.com/brand-a/schemas/1",
            flow_id="flow-a",
            inlet_authenticated=True,
            allowed_namespaces=("Phone", "Email"),
            default_phone_region="GB",
        ),
        source_queues=(QUEUE_A, QUEUE_A + "-fifo.fifo"),
        principals=("arn:aws:iam::123456789012:role/ivr-brand-a",),
        api_key_ids=("k1", "k2"),
        rate_ceiling=2.5,
        version=1,
    )


def test_show_prints_the_item_and_an_item_file_adds_the_same_tenant(cli, dynamodb, tmp_path, clock):
    assert cli(*add_a("--source-queue", QUEUE_A, "--rate-ceiling", "3"))[0] == 0
    code, shown, _ = cli("show", "brand-a")
    item = json.loads(shown)

    assert code == 0
    assert item == {
        "tenant_id": "brand-a",
        "org_id": ORG_A,
        "sandbox_name": "dev",
        "credentials_secret_id": "aep/brand-a/credentials",
        "token_secret_id": "aep/brand-a/token",
        "enabled": True,
        "streaming": {},
        "source_queues": [QUEUE_A],
        "principals": [],
        "api_key_ids": [],
        "rate_ceiling": 3,
        "version": 1,
    }
    # The same item under another id, from a file: the shown JSON is the input format.
    path = tmp_path / "brand-b.json"
    path.write_text(
        json.dumps(
            {
                **item,
                "tenant_id": "brand-b",
                "org_id": ORG_B,
                "credentials_secret_id": "aep/brand-b/credentials",
                "token_secret_id": "aep/brand-b/token",
                "version": 7,  # a new tenant starts at version 1 whatever the file says
            }
        )
    )
    code, out, _ = cli("add", "--item", str(path), "--reader-role-arn", ROLE)
    assert (code, out.startswith("added tenant 'brand-b' (version 1)")) == (0, True)
    tenant_b = TenantRegistry(TABLE, clock=clock).get("brand-b")
    assert (tenant_b.org_id, tenant_b.source_queues, tenant_b.rate_ceiling, tenant_b.version) == (
        ORG_B,
        (QUEUE_A,),
        3.0,
        1,
    )


def test_list_prints_id_org_sandbox_enabled_and_version(cli):
    cli(*add_b())
    cli(*add_a())
    cli("disable", "brand-b")

    code, out, _ = cli("list")

    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["tenant_id", "org_id", "sandbox", "enabled", "version"],
        ["brand-a", ORG_A, "dev", "true", "1"],
        ["brand-b", ORG_B, "prod", "false", "2"],
    ]


def test_list_of_an_empty_registry_prints_the_header_only(cli):
    assert cli("list") == (0, "tenant_id  org_id  sandbox  enabled  version\n", "")


def test_add_never_overwrites_without_replace_and_replace_bumps_the_version(cli, dynamodb):
    assert cli(*add_a())[0] == 0

    code, _, err = cli(*add_a("--sandbox", "prod"))
    assert (code, err) == (1, "error: tenant 'brand-a' exists: pass --replace to overwrite it\n")
    assert stored(dynamodb, "brand-a")["sandbox_name"] == {"S": "dev"}

    code, out, _ = cli(*add_a("--sandbox", "prod", "--replace"))
    assert (code, out.startswith("replaced tenant 'brand-a' (version 2)")) == (0, True)
    assert stored(dynamodb, "brand-a")["sandbox_name"] == {"S": "prod"}
    assert stored(dynamodb, "brand-a")["version"] == {"N": "2"}

    code, _, err = cli(*add_b("--replace"))
    assert (code, err) == (1, "error: tenant 'brand-b' does not exist: add it without --replace\n")
    assert stored(dynamodb, "brand-b") is None


def test_disable_keeps_the_item_and_enable_restores_it_each_bumping_the_version(cli, dynamodb, clock):
    cli(*add_a())

    assert cli("disable", "brand-a") == (0, "tenant 'brand-a' disabled (version 2)\n", "")
    assert cli("disable", "brand-a") == (0, "tenant 'brand-a' is already disabled\n", "")
    item = stored(dynamodb, "brand-a")
    assert (item["enabled"], item["version"], item["org_id"]) == ({"BOOL": False}, {"N": "2"}, {"S": ORG_A})
    with pytest.raises(UnknownTenantError, match="tenant 'brand-a' is disabled"):
        TenantRegistry(TABLE, clock=clock).get("brand-a")

    assert cli("enable", "brand-a") == (0, "tenant 'brand-a' enabled (version 3)\n", "")
    assert TenantRegistry(TABLE, clock=clock).get("brand-a").version == 3


def test_an_edit_of_a_stale_copy_is_refused(cli, dynamodb):
    """Two administrators show version 1; the second one's replace, from its stale copy, is refused."""
    cli(*add_a())
    first_copy = json.loads(cli("show", "brand-a")[1])
    second_copy = json.loads(cli("show", "brand-a")[1])

    first = json.dumps({**first_copy, "sandbox_name": "prod"})
    assert cli("add", "--item", "-", "--replace", "--reader-role-arn", ROLE, stdin=first)[0] == 0
    second = json.dumps({**second_copy, "rate_ceiling": 9})
    code, _, err = cli("add", "--item", "-", "--replace", "--reader-role-arn", ROLE, stdin=second)

    assert code == 1
    assert err == "error: tenant 'brand-a' is at version 2, not 1: someone changed it; show it again\n"
    item = stored(dynamodb, "brand-a")
    assert (item["sandbox_name"], item["version"], "rate_ceiling" in item) == (
        {"S": "prod"},
        {"N": "2"},
        False,
    )
    # --expect-version says the same for flags and for disable / enable.
    assert cli(*add_a("--replace", "--expect-version", "1"))[0] == 1
    assert cli("disable", "brand-a", "--expect-version", "1")[0] == 1
    assert stored(dynamodb, "brand-a")["enabled"] == {"BOOL": True}
    assert cli("disable", "brand-a", "--expect-version", "2")[0] == 0


class ConcurrentAdmin:
    """A DynamoDB client through which, just before our write, another administrator changes the tenant."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _meanwhile(self) -> None:
        self._real.update_item(
            TableName=TABLE,
            Key={"tenant_id": {"S": "brand-a"}},
            UpdateExpression="SET #v = #v + :one, sandbox_name = :s",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":s": {"S": "theirs"}},
        )

    def put_item(self, **kwargs: Any) -> Any:
        self._meanwhile()
        return self._real.put_item(**kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        self._meanwhile()
        return self._real.update_item(**kwargs)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(add_a("--sandbox", "mine", "--replace"), id="replace"),
        pytest.param(
            ["add", "--tenant-id", "brand-a", "--rate-ceiling", "50", "--replace", "--reader-role-arn", ROLE],
            id="replace some fields",
        ),
        pytest.param(["disable", "brand-a"], id="disable"),
    ],
)
def test_a_change_between_read_and_write_is_never_silently_overwritten(cli, dynamodb, secretsmanager, argv):
    cli(*add_a())
    concurrent = ConcurrentAdmin(dynamodb)

    code, _, err = cli(*argv, clients=lambda s: concurrent if s == "dynamodb" else secretsmanager)

    assert code == 1
    assert "was changed by someone else meanwhile; show it again and repeat" in err
    item = stored(dynamodb, "brand-a")
    assert (item["sandbox_name"], item["version"], item["enabled"]) == (
        {"S": "theirs"},
        {"N": "2"},
        {"BOOL": True},
    )
    assert "rate_ceiling" not in item


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("--org-id", "p8e-looks-like-a-secret"), "org_id"),
        (("--sandbox", "Prod-P8E-SECRETLIKE"), "sandbox_name"),
        (("--sandbox", "dev\n"), "sandbox_name"),
        (("--default-phone-region", "gbx-secretish"), "streaming.default_phone_region"),
        (("--rate-ceiling", "-1"), "rate_ceiling"),
        (("--rate-ceiling", "fast-secretish"), "rate_ceiling"),
        (("--rate-ceiling", "1e300"), "rate_ceiling"),  # decimal.Overflow in DynamoDB's context
        (("--rate-ceiling", "1e-300"), "rate_ceiling"),  # decimal.Underflow
        (("--rate-ceiling", "inf"), "rate_ceiling"),  # TypeError in boto3's serializer
        (("--rate-ceiling", "Infinity"), "rate_ceiling"),
        (("--rate-ceiling", "NaN"), "rate_ceiling"),
        (("--rate-ceiling", "10001"), "rate_ceiling"),
        (("--source-queue", "https://sqs.us-east-1.amazonaws.com/123456789012/brand-a"), "source_queues"),
        (("--principal", "brand-h-ivr please"), "principals"),
        (("--api-key-id", ""), "api_key_ids"),
        (("--inlet-id", "  "), "streaming.inlet_id"),
        (("--credentials-secret", "aep/brand-a/credentials secretish"), "credentials_secret_id"),
        (("--tenant-id", "Brand_A-secretish"), "tenant_id"),
    ],
)
def test_an_invalid_tenant_exits_2_naming_the_field_never_the_value(
    cli, dynamodb, secretsmanager, change, field
):
    argv = add_a()
    index = argv.index(change[0]) if change[0] in argv else len(argv)
    argv[index : index + 2] = change

    code, out, err = cli(*argv)

    assert (code, out) == (2, "")
    assert err.startswith("error: ")
    assert f"is invalid: {field}: " in err
    if change[1].strip():
        assert change[1] not in err
    assert dynamodb.scan(TableName=TABLE)["Items"] == []
    assert tags_of(secretsmanager, "aep/brand-a/credentials") == {}


def test_an_item_file_with_unknown_fields_or_bad_json_exits_2_without_echoing_it(cli, dynamodb, tmp_path):
    item = {
        "tenant_id": "brand-a",
        "org_id": ORG_A,
        "credentials_secret_id": "aep/brand-a/credentials",
        "token_secret_id": "aep/brand-a/token",
        "client_secret": CLIENT_SECRET_VALUE,  # pasted by mistake: refused, never printed (see the fixture)
    }
    code, _, err = cli("add", "--item", "-", "--reader-role-arn", ROLE, stdin=json.dumps(item))
    assert (code, err) == (
        2,
        "error: tenant 'brand-a' is invalid: client_secret: Extra inputs are not permitted\n",
    )

    code, _, err = cli(
        "add", "--item", "-", "--reader-role-arn", ROLE, stdin='{"tenant_id": "x",\n' + CLIENT_SECRET_VALUE
    )
    assert (code, err) == (2, "error: - is not JSON (line 2)\n")
    code, _, err = cli("add", "--item", str(tmp_path / "missing.json"), "--reader-role-arn", ROLE)
    assert (code, err) == (2, f"error: cannot read {tmp_path / 'missing.json'}: No such file or directory\n")
    assert cli("add", "--item", "-", "--reader-role-arn", ROLE, stdin="[1]")[0] == 2
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["add", "--tenant-id", "default"],
            "'default' is the implicit tenant of the stack's AEP_* variables",
        ),
        (["show", "default"], "'default' is the implicit tenant of the stack's AEP_* variables"),
        (["disable", "default"], "'default' is the implicit tenant of the stack's AEP_* variables"),
        (["enable", "default"], "'default' is the implicit tenant of the stack's AEP_* variables"),
        (
            [*add_a(), "--item", "x.json"],
            "give the tenant either as --item or as flags, not both",
        ),
        (add_a("--expect-version", "1"), "--expect-version only applies with --replace"),
        (
            [*add_a()[:10], "aep/brand-a/credentials", *add_a()[11:]],
            "the credentials secret and the token secret must be two different secrets",
        ),
        (add_a("--stack", "9-not-a-stack"), "--stack is not a CloudFormation stack name"),
        (
            add_a("--reader-role-arn", "arn:aws:iam::123456789012:user/admin"),
            "--reader-role-arn number 2 is not",
        ),
        (add_a()[:-2], "no --reader-role-arn: give each function role of the stack"),
    ],
)
def test_wrong_commands_exit_2_and_change_nothing(cli, dynamodb, secretsmanager, argv, message):
    code, out, err = cli(*argv)

    assert (code, out) == (2, "")
    assert err.startswith(f"error: {message}")
    assert dynamodb.scan(TableName=TABLE)["Items"] == []
    assert tags_of(secretsmanager, "aep/brand-a/token") == {}


def test_the_table_and_the_stack_come_from_flags_or_the_environment(cli, dynamodb, secretsmanager):
    assert cli("list", env={}) == (2, "", "error: no table: pass --table or set AEP_TENANTS_TABLE\n")
    code, _, err = cli(*add_a(), env={"AEP_TENANTS_TABLE": TABLE})
    assert (code, err.startswith("error: no stack: pass --stack or set AEP_STACK_NAME")) == (2, True)

    assert cli(*add_a("--table", TABLE, "--stack", "other-stack"), env={})[0] == 0
    assert tags_of(secretsmanager, "aep/brand-a/token")["aep:stack"] == "other-stack"
    assert cli("show", "brand-a", "--table", "no-such-table")[:2] == (1, "")
    assert cli("show", "brand-a", "--table", "no-such-table")[2] == (
        "error: cannot read tenant 'brand-a': table 'no-such-table' not found\n"
    )
    assert cli("show", "brand-z") == (1, "", "error: unknown tenant 'brand-z'\n")
    assert cli("enable", "brand-z") == (1, "", "error: unknown tenant 'brand-z'\n")


def test_add_tags_both_secrets_and_lets_only_the_stack_roles_read_them(cli, secretsmanager):
    assert cli(*add_a("--reader-role-arn", FIFO_ROLE, "--reader-role-arn", ROLE))[0] == 0

    for kind, actions in (
        ("credentials", ["secretsmanager:GetSecretValue"]),
        ("token", ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]),
    ):
        secret_id = f"aep/brand-a/{kind}"
        assert tags_of(secretsmanager, secret_id) == {
            "aep:stack": STACK,
            "aep:tenant": "brand-a",
            "aep:secret-kind": kind,
        }
        policy = json.loads(secretsmanager.get_resource_policy(SecretId=secret_id)["ResourcePolicy"])
        assert policy == {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyTheStackFunctions",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": actions,
                    "Resource": "*",
                    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [ROLE, FIFO_ROLE]}},
                }
            ],
        }
    # The other brand's secrets are untouched.
    assert tags_of(secretsmanager, "aep/brand-b/credentials") == {}


def test_a_secret_of_another_tenant_or_stack_or_a_missing_one_is_refused(cli, dynamodb, secretsmanager):
    assert cli(*add_a())[0] == 0
    borrowed = [*add_b()[:6], "aep/brand-a/credentials", *add_b()[7:]]

    code, _, err = cli(*borrowed)
    assert (code, err) == (
        2,
        "error: the credentials secret 'aep/brand-a/credentials' is tagged aep:tenant=brand-a, not brand-b: "
        "each tenant needs two secrets of its own\n",
    )
    assert stored(dynamodb, "brand-b") is None
    assert tags_of(secretsmanager, "aep/brand-a/credentials")["aep:tenant"] == "brand-a"
    assert tags_of(secretsmanager, "aep/brand-b/token") == {}  # checked both before securing either

    secretsmanager.tag_resource(SecretId="aep/brand-b/token", Tags=[{"Key": "aep:stack", "Value": "another"}])
    code, _, err = cli(*add_b())
    assert code == 2
    assert "'aep/brand-b/token' is tagged aep:stack=another, not aep-connector" in err

    swapped = [*add_b()[:6], "aep/brand-b/token", "--token-secret", "aep/brand-b/credentials", *add_b()[9:]]
    secretsmanager.untag_resource(SecretId="aep/brand-b/token", TagKeys=["aep:stack"])
    assert cli(*add_b())[0] == 0
    assert cli(*swapped, "--replace")[2].startswith(
        "error: the credentials secret 'aep/brand-b/token' is tagged aep:secret-kind=token, not credentials"
    )

    missing = [*add_a()[:10], "aep/brand-c/token", *add_a()[11:]]
    code, _, err = cli(*missing, "--replace")
    assert (code, err) == (2, "error: the token secret 'aep/brand-c/token' does not exist: create it first\n")


def test_python_dash_m_runs_the_cli():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEP_")}
    env["PYTHONPATH"] = str(ROOT / "layers" / "aep")
    done = subprocess.run(
        [sys.executable, "-m", "aep.tenants", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(ROOT),
        check=False,
    )

    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "error: no table: pass --table or set AEP_TENANTS_TABLE\n",
    )


# -- add --replace with flags changes only the fields given -------------------------------------------------

PRINCIPAL_A = "arn:aws:iam::123456789012:role/ivr-brand-a"


def full_a() -> list[str]:
    return add_a(
        "--inlet-id",
        "inlet-a",
        "--dataset-id",
        "ds-a",
        "--allowed-namespaces",
        "Phone,Email",
        "--source-queue",
        QUEUE_A,
        "--principal",
        PRINCIPAL_A,
        "--api-key-id",
        "a1b2c3d4e5",
        "--rate-ceiling",
        "3",
    )


def change_a(*flags: str) -> list[str]:
    """``add --replace`` naming brand A and only the fields to change."""
    return ["add", "--tenant-id", "brand-a", *flags, "--replace", "--reader-role-arn", ROLE]


def test_replace_with_flags_changes_only_the_fields_given_on_top_of_the_item_as_read(cli, dynamodb):
    assert cli(*full_a())[0] == 0
    before = json.loads(cli("show", "brand-a")[1])

    code, out, err = cli(*change_a("--rate-ceiling", "50", "--flow-id", "flow-a"))

    assert (code, err) == (0, "")
    assert out.startswith("replaced tenant 'brand-a' (version 2)")
    after = json.loads(cli("show", "brand-a")[1])
    assert after == {
        **before,
        "rate_ceiling": 50,
        "streaming": {**before["streaming"], "flow_id": "flow-a"},
        "version": 2,
    }
    assert (after["source_queues"], after["principals"], after["api_key_ids"]) == (
        [QUEUE_A],
        [PRINCIPAL_A],
        ["a1b2c3d4e5"],
    )


def test_clear_resets_a_field_explicitly_and_a_list_given_replaces_the_list(cli):
    assert cli(*full_a())[0] == 0
    before = json.loads(cli("show", "brand-a")[1])
    other_queue = QUEUE_A + "-2"

    code, _, err = cli(
        *change_a(
            "--clear",
            "principals",
            "--clear",
            "rate_ceiling",
            "--clear",
            "allowed_namespaces",
            "--source-queue",
            other_queue,
        )
    )

    assert (code, err) == (0, "")
    after = json.loads(cli("show", "brand-a")[1])
    expected = {
        **before,
        "principals": [],
        "source_queues": [other_queue],
        "streaming": {"inlet_id": "inlet-a", "dataset_id": "ds-a"},
        "version": 2,
    }
    del expected["rate_ceiling"]
    assert after == expected


def test_replace_from_an_item_file_writes_the_whole_item(cli, dynamodb):
    """``--item --replace`` keeps its whole-item semantics: a field the file leaves out is dropped."""
    assert cli(*full_a())[0] == 0
    item = json.loads(cli("show", "brand-a")[1])
    del item["principals"]
    del item["streaming"]

    code, _, _ = cli("add", "--item", "-", "--replace", "--reader-role-arn", ROLE, stdin=json.dumps(item))

    assert code == 0
    after = json.loads(cli("show", "brand-a")[1])
    assert (after["principals"], after["streaming"], after["source_queues"], after["version"]) == (
        [],
        {},
        [QUEUE_A],
        2,
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (add_a("--clear", "principals"), "--clear only applies with --replace and flags"),
        (
            ["add", "--item", "-", "--replace", "--clear", "principals", "--reader-role-arn", ROLE],
            "--clear only applies with --replace and flags",
        ),
        (
            change_a("--clear", "source_queues", "--source-queue", QUEUE_A),
            "--clear source_queues and a value for it",
        ),
        (change_a("--clear", "inlet_id", "--inlet-id", "x"), "--clear inlet_id and a value for it"),
        (change_a("--rate-ceiling", "inf"), "tenant 'brand-a' is invalid: rate_ceiling: "),
        (change_a("--principal", "brand-a-ivr please"), "tenant 'brand-a' is invalid: principals: "),
        (["add", "--rate-ceiling", "5", "--replace", "--reader-role-arn", ROLE], "the tenant id is missing"),
    ],
)
def test_a_wrong_replace_exits_2_and_changes_nothing(cli, dynamodb, secretsmanager, argv, message):
    assert cli(*full_a())[0] == 0
    before = stored(dynamodb, "brand-a")
    secretsmanager.untag_resource(SecretId="aep/brand-a/token", TagKeys=["aep:stack"])

    code, out, err = cli(*argv, stdin=json.dumps(json.loads(cli("show", "brand-a")[1])))

    assert (code, out) == (2, "")
    assert err.startswith(f"error: {message}")
    assert stored(dynamodb, "brand-a") == before
    assert "aep:stack" not in tags_of(secretsmanager, "aep/brand-a/token")


def test_clear_names_only_fields_that_have_a_default(cli, dynamodb):
    assert cli(*add_a())[0] == 0

    code, _, err = cli(*change_a("--clear", "org_id"))

    assert code == 2
    assert "argument --clear: invalid choice: 'org_id'" in err
    assert stored(dynamodb, "brand-a")["org_id"] == {"S": ORG_A}


def test_a_replace_of_an_item_invalid_since_it_was_written_names_the_field_and_clear_mends_it(cli, dynamodb):
    """An item written before a field was checked (a queue URL) is refused by any change that keeps it."""
    assert cli(*add_a())[0] == 0
    dynamodb.update_item(
        TableName=TABLE,
        Key={"tenant_id": {"S": "brand-a"}},
        UpdateExpression="SET source_queues = :q",
        ExpressionAttributeValues={":q": {"L": [{"S": "https://sqs.us-east-1.amazonaws.com/1/brand-a"}]}},
    )

    code, _, err = cli(*change_a("--rate-ceiling", "5"))
    assert (code, err.startswith("error: tenant 'brand-a' is invalid: source_queues: ")) == (2, True)
    assert "sqs.us-east-1.amazonaws.com" not in err

    assert cli(*change_a("--rate-ceiling", "5", "--clear", "source_queues"))[0] == 0
    assert stored(dynamodb, "brand-a")["source_queues"] == {"L": []}


# -- a failure after the secrets were secured says which ones ---------------------------------------------


class Refusing:
    """A boto3 client whose ``operation`` fails with an AWS error code; everything else is the real one's."""

    def __init__(self, real: Any, operation: str, code: str, *, only: str | None = None) -> None:
        self._real = real
        self._operation = operation
        self._code = code
        self._only = only  # fail only for this SecretId
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._real, name)
        if name != self._operation:
            return real

        def refuse(**kwargs: Any) -> Any:
            if self._only is not None and kwargs.get("SecretId") != self._only:
                return real(**kwargs)
            self.calls += 1
            raise ClientError({"Error": {"Code": self._code, "Message": "no"}}, name)

        return refuse


def test_a_write_refused_after_the_secrets_were_secured_says_which_secrets_changed(
    cli, dynamodb, secretsmanager
):
    refusing = Refusing(dynamodb, "put_item", "AccessDeniedException")

    code, out, err = cli(*add_a(), clients=lambda s: refusing if s == "dynamodb" else secretsmanager)

    assert (code, out, refusing.calls) == (1, "", 1)
    assert err == (
        "error: cannot write tenant 'brand-a': AccessDeniedException. The item was not written, but its "
        "secrets were already secured for tenant 'brand-a' of stack 'aep-connector' (tagged, readable only "
        "by the --reader-role-arn roles): the credentials secret 'aep/brand-a/credentials' and the token "
        "secret 'aep/brand-a/token'\n"
    )
    assert stored(dynamodb, "brand-a") is None
    assert tags_of(secretsmanager, "aep/brand-a/credentials")["aep:tenant"] == "brand-a"
    assert tags_of(secretsmanager, "aep/brand-a/token")["aep:tenant"] == "brand-a"
    # What it says is true: the same add again completes (the tags are its own).
    assert cli(*add_a())[0] == 0


def test_a_second_secret_that_cannot_be_secured_says_the_first_one_was(cli, dynamodb, secretsmanager):
    refusing = Refusing(
        secretsmanager, "put_resource_policy", "AccessDeniedException", only="aep/brand-a/token"
    )

    code, _, err = cli(*add_a(), clients=lambda s: dynamodb if s == "dynamodb" else refusing)

    assert code == 1
    assert err == (
        "error: cannot secure the token secret 'aep/brand-a/token': AccessDeniedException (it may be tagged "
        "already); already secured for it: the credentials secret 'aep/brand-a/credentials'; the item was "
        "not written\n"
    )
    assert stored(dynamodb, "brand-a") is None
    assert secretsmanager.get_resource_policy(SecretId="aep/brand-a/credentials").get("ResourcePolicy")


def test_a_tenant_that_cannot_be_stored_touches_no_secret(cli, dynamodb, secretsmanager, monkeypatch):
    """Built before the secrets are secured: should the item not serialise, nothing has changed."""
    from aep.tenants import cli as module

    def unserialisable(item: Any) -> Any:
        raise TypeError("Infinity is not supported")

    monkeypatch.setattr(module, "_to_dynamodb", unserialisable)

    code, _, err = cli(*add_a())

    assert (code, err) == (2, "error: tenant 'brand-a' cannot be stored: TypeError\n")
    assert tags_of(secretsmanager, "aep/brand-a/credentials") == {}
    assert tags_of(secretsmanager, "aep/brand-a/token") == {}


# -- secret ids, tenant ids: checked before AWS, never echoed when invalid -------------------------------


def test_a_credential_pasted_as_a_secret_id_is_refused_without_echoing_it(cli, dynamodb, secretsmanager):
    pasted = json.dumps({"client_id": "brand-a", "client_secret": CLIENT_SECRET_VALUE, "org_id": ORG_A})
    argv = add_a()
    argv[argv.index("--credentials-secret") + 1] = pasted

    code, out, err = cli(*argv)  # the fixture asserts the secret's value is printed nowhere

    assert (code, out) == (2, "")
    assert err.startswith("error: tenant 'brand-a' is invalid: credentials_secret_id: must be a Secrets")
    assert "client_id" not in err
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


def test_a_secret_arn_is_accepted(cli, secretsmanager):
    arn = secretsmanager.describe_secret(SecretId="aep/brand-a/credentials")["ARN"]
    argv = add_a()
    argv[argv.index("--credentials-secret") + 1] = arn

    assert cli(*argv)[0] == 0
    assert tags_of(secretsmanager, "aep/brand-a/credentials")["aep:secret-kind"] == "credentials"


class NoAws:
    """Clients for a command that must be refused before it calls AWS."""

    def __call__(self, service: str) -> Any:
        return self

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"AWS was called: {name}")


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["disable", ""], id="disable empty"),
        pytest.param(["enable", "Brand-A"], id="enable capitals"),
        pytest.param(["show", "x" * 3000], id="show 3000 characters"),
        pytest.param(["show", "brand-a\n"], id="show a newline"),
        pytest.param(["show", "../brand-a"], id="show a path"),
        pytest.param(
            ["add", "--tenant-id", "Brand_A", "--rate-ceiling", "5", "--replace", "--reader-role-arn", ROLE],
            id="replace",
        ),
    ],
)
def test_an_invalid_tenant_id_exits_2_before_aws_and_is_not_echoed(cli, argv):
    code, out, err = cli(*argv, clients=NoAws())

    assert (code, out) == (2, "")
    assert err == (
        "error: the tenant id is missing or invalid: 1 to 63 lowercase letters, digits and hyphens, "
        "starting with a letter or a digit\n"
    )


# -- the stack's own secrets ---------------------------------------------------------------------------


def test_the_stacks_own_secrets_as_the_template_tags_them_cannot_be_claimed_by_a_tenant(
    cli, dynamodb, secretsmanager
):
    resources = cached_translation()["Resources"]
    for logical_id, name in (
        ("AepCredentialsSecret", "stack/credentials"),
        ("AepTokenSecret", "stack/token"),
    ):
        tags = [
            {"Key": t["Key"], "Value": STACK if t["Value"] == {"Ref": "AWS::StackName"} else t["Value"]}
            for t in resources[logical_id]["Properties"]["Tags"]
        ]
        secretsmanager.create_secret(Name=name, SecretString="{}", Tags=tags)
    claim = add_a()
    claim[claim.index("--credentials-secret") + 1] = "stack/credentials"
    claim[claim.index("--token-secret") + 1] = "stack/token"

    code, _, err = cli(*claim)

    assert code == 2
    assert err.startswith(
        "error: the credentials secret 'stack/credentials' is tagged aep:tenant=default, not brand-a: "
    )
    assert stored(dynamodb, "brand-a") is None
    assert tags_of(secretsmanager, "stack/token") == {
        "aep:stack": STACK,
        "aep:tenant": "default",
        "aep:secret-kind": "token",
    }
    assert "ResourcePolicy" not in secretsmanager.get_resource_policy(SecretId="stack/token")


def test_a_replace_of_an_item_whose_streaming_is_not_a_map_names_streaming(cli, dynamodb):
    assert cli(*add_a())[0] == 0
    dynamodb.update_item(
        TableName=TABLE,
        Key={"tenant_id": {"S": "brand-a"}},
        UpdateExpression="SET streaming = :s",
        ExpressionAttributeValues={":s": {"S": "inlet-a"}},
    )

    for change in (("--inlet-id", "inlet-b"), ("--clear", "inlet_id"), ("--rate-ceiling", "5")):
        code, _, err = cli(*change_a(*change))
        assert (code, err.startswith("error: tenant 'brand-a' is invalid: streaming: ")) == (2, True)
    assert stored(dynamodb, "brand-a")["version"] == {"N": "1"}
