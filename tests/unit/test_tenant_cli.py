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

from aep.tenants import Tenant, TenantRegistry, TenantStreaming, UnknownTenantError
from aep.tenants.cli import main
from tests.support.template import ROOT

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


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("--org-id", "p8e-looks-like-a-secret"), "org_id"),
        (("--sandbox", "Prod-P8E-SECRETLIKE"), "sandbox_name"),
        (("--sandbox", "dev\n"), "sandbox_name"),
        (("--default-phone-region", "gbx-secretish"), "streaming.default_phone_region"),
        (("--rate-ceiling", "-1"), "rate_ceiling"),
        (("--rate-ceiling", "fast-secretish"), "rate_ceiling"),
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
