"""``python -m aep.setup apply FILE --tenant-id ID``: a brand registered with ``python -m aep.tenants add``
is onboarded by one apply for its org; the outputs land in its registry item (moto), and only the fields
setup owns change, on a conditional write; nothing is written when nothing changed or drift is left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from aep.setup.__main__ import main
from aep.setup.model import load
from aep.tenants import TenantRegistry
from aep.tenants.cli import main as tenants_main
from aep_emulator import Emulator
from demo.resources import create_table, template_resources
from tests.integration.conftest import Admin
from tests.integration.test_setup_converge import EXAMPLE, env_of, platform_writes

TABLE = "aep-connector-tenants"
ROLE = "arn:aws:iam::123456789012:role/aep-connector-StreamIngestRole-1A2B3C"
IVR = "arn:aws:iam::123456789012:role/brand-b-ivr"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:aep-brand-b"
INLET = "Call Center Setup Events Inlet"
EVENTS = "Call Center Setup Call Events"


@pytest.fixture
def dynamodb(aws: None) -> Any:
    create_table(TABLE, "TenantsTable", template_resources())
    return boto3.client("dynamodb")


@pytest.fixture
def brand_b(emulator: Emulator, dynamodb: Any) -> str:
    """Brand B registered as a person onboarding it would (its org: the emulator's, sandbox prod)."""
    return register(emulator.config.org_id, emulator)


def register(org_id: str, emulator: Emulator, secret_org: str | None = None) -> str:
    secrets = boto3.client("secretsmanager")
    creds = emulator.config.clients[0]
    secrets.create_secret(
        Name="aep/brand-b/credentials",
        SecretString=json.dumps(
            {
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
                "org_id": secret_org or org_id,
            }
        ),
    )
    secrets.create_secret(Name="aep/brand-b/token", SecretString="{}")
    argv = [
        "add",
        "--tenant-id",
        "brand-b",
        "--org-id",
        org_id,
        "--credentials-secret",
        "aep/brand-b/credentials",
        "--token-secret",
        "aep/brand-b/token",
        "--allowed-namespaces",
        "Phone",
        "--default-phone-region",
        "GB",
        "--source-queue",
        QUEUE,
        "--principal",
        IVR,
        "--rate-ceiling",
        "50",
        "--reader-role-arn",
        ROLE,
    ]
    assert tenants_main(argv, environ={"AEP_TENANTS_TABLE": TABLE, "AEP_STACK_NAME": "aep-connector"}) == 0
    return "brand-b"


def item(dynamodb: Any) -> dict[str, Any]:
    from aep.setup.registry import _plain_item

    return _plain_item(dynamodb.get_item(TableName=TABLE, Key={"tenant_id": {"S": "brand-b"}})["Item"])


def platform_only(emulator: Emulator) -> dict[str, str]:
    """Where AEP is, and no credential: the tenant's own secret is used."""
    return {"AEP_IMS_URL": emulator.url, "AEP_PLATFORM_URL": emulator.url}


def run(argv: list[str], env: dict[str, str], capsys: Any, dynamodb: Any = None) -> tuple[int, Any, str]:
    kwargs: dict[str, Any] = {"environ": env}
    if dynamodb is not None:
        kwargs["dynamodb"] = lambda: dynamodb
    capsys.readouterr()  # what came before (the tenants CLI's lines)
    code = main(argv, **kwargs)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_one_apply_onboards_the_brand_and_writes_only_what_setup_owns(
    emulator: Emulator, admin: Admin, dynamodb: Any, brand_b: str, capsys: Any
) -> None:
    before = item(dynamodb)
    # When brand B's setup is applied with its tenant id (its credential read from its own secret)
    argv = ["apply", str(EXAMPLE), "--tenant-id", brand_b, "--tenant-table", TABLE]
    code, outputs, err = run(argv, platform_only(emulator), capsys)
    # Then AEP was converged and the item holds the outputs, one version later
    assert code == 0, err
    after = item(dynamodb)
    stream = outputs["streaming"][INLET]
    assert after["streaming"] == {
        "inlet_id": stream["inletId"],
        "dataset_id": stream["datasetId"],
        "schema_ref": outputs["schemas"][EVENTS]["id"],
        "flow_id": stream["flowId"],
        "inlet_authenticated": True,
        "allowed_namespaces": ["Phone"],  # setup's are set, the others kept
        "default_phone_region": "GB",
    }
    assert after["setup"]["aep_tenant"] == outputs["tenantId"]
    assert after["setup"]["stream"] == INLET
    assert after["setup"]["datasets"] == outputs["datasets"]
    assert after["setup"]["streaming"][INLET]["inlet_url"] == stream["inletUrl"]
    assert after["setup"]["schemas"][EVENTS] == {
        "id": outputs["schemas"][EVENTS]["id"],
        "alt_id": outputs["schemas"][EVENTS]["altId"],
    }
    assert after["version"] == before["version"] + 1
    untouched = {k: v for k, v in before.items() if k not in ("streaming", "version")}
    assert {k: after[k] for k in untouched} == untouched
    assert "outputs written (version 2; streaming targets: inlet_id, dataset_id, schema_ref" in err
    # and the functions' registry reads it as brand B's targets
    tenant = TenantRegistry(TABLE).get("brand-b")
    assert tenant.streaming.inlet_id == stream["inletId"]
    assert tenant.streaming.flow_id == stream["flowId"]
    assert tenant.principals == (IVR,)
    assert tenant.source_queues == (QUEUE,)
    # When applied again, Then neither AEP nor the item is written
    writes = len(platform_writes(admin))
    code, again, _ = run(argv, platform_only(emulator), capsys)
    assert code == 0
    assert again == outputs
    assert len(platform_writes(admin)) == writes
    assert item(dynamodb) == after


def test_the_table_may_come_from_the_environment(
    emulator: Emulator, dynamodb: Any, brand_b: str, capsys: Any
) -> None:
    env = {**platform_only(emulator), "AEP_TENANTS_TABLE": TABLE}
    code, outputs, err = run(["apply", str(EXAMPLE), "--tenant-id", brand_b], env, capsys)
    assert code == 0, err
    assert item(dynamodb)["streaming"]["flow_id"] == outputs["streaming"][INLET]["flowId"]


class ChangedMeanwhile:
    """A DynamoDB client through which an administrator changes the tenant's principals just before each of
    the first ``times`` conditional writes."""

    def __init__(self, real: Any, times: int) -> None:
        self._real = real
        self.times = times
        self.principals: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def update_item(self, **kwargs: Any) -> Any:
        if self.times > 0:
            self.times -= 1
            principal = f"arn:aws:iam::123456789012:role/admin-{self.times}"
            self.principals.append(principal)
            self._real.update_item(
                TableName=TABLE,
                Key={"tenant_id": {"S": "brand-b"}},
                UpdateExpression="SET principals = list_append(principals, :p), #v = #v + :one",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":p": {"L": [{"S": principal}]}, ":one": {"N": "1"}},
            )
        return self._real.update_item(**kwargs)


def test_a_change_made_meanwhile_is_kept_never_clobbered(
    emulator: Emulator, dynamodb: Any, brand_b: str, capsys: Any
) -> None:
    meanwhile = ChangedMeanwhile(dynamodb, times=2)
    argv = ["apply", str(EXAMPLE), "--tenant-id", brand_b, "--tenant-table", TABLE]
    code, outputs, err = run(argv, platform_only(emulator), capsys, meanwhile)
    assert code == 0, err
    after = item(dynamodb)
    assert after["principals"] == [IVR, *meanwhile.principals]
    assert after["streaming"]["flow_id"] == outputs["streaming"][INLET]["flowId"]
    assert after["version"] == 4  # added at 1, changed twice meanwhile, then setup's write


def test_a_tenant_that_keeps_changing_is_not_written_and_says_so(
    emulator: Emulator, dynamodb: Any, brand_b: str, capsys: Any
) -> None:
    meanwhile = ChangedMeanwhile(dynamodb, times=3)
    argv = ["apply", str(EXAMPLE), "--tenant-id", brand_b, "--tenant-table", TABLE]
    code, outputs, err = run(argv, platform_only(emulator), capsys, meanwhile)
    assert code == 1
    assert outputs["streaming"][INLET]["flowId"]  # AEP was converged; its outputs are printed
    assert "changed 3 times while being written" in err
    assert "setup" not in item(dynamodb)


def test_drift_left_writes_nothing_into_the_item(
    emulator: Emulator, dynamodb: Any, brand_b: str, capsys: Any, tmp_path: Path
) -> None:
    argv = ["apply", str(EXAMPLE), "--tenant-id", brand_b, "--tenant-table", TABLE]
    assert run(argv, platform_only(emulator), capsys)[0] == 0
    written = item(dynamodb)
    data = load(EXAMPLE).model_dump(by_alias=True, exclude_none=True)
    data["fieldGroups"][1]["fields"]["call"]["properties"]["durationSeconds"] = {"type": "string"}
    retyped = tmp_path / "retyped.json"
    retyped.write_text(json.dumps(data))
    code, _, err = run(["apply", str(retyped), *argv[2:]], platform_only(emulator), capsys)
    assert code == 2
    assert "tenant 'brand-b': outputs not written (drift left)" in err
    assert item(dynamodb) == written


def test_a_credential_of_another_org_is_refused_before_aep_is_called(
    emulator: Emulator, admin: Admin, dynamodb: Any, capsys: Any
) -> None:
    # Given brand B's item names another org than its secret's credential (the emulator's)
    register("BBBB0000000000000000BBBB@AdobeOrg", emulator, secret_org=emulator.config.org_id)
    before = item(dynamodb)
    argv = ["apply", str(EXAMPLE), "--tenant-id", "brand-b", "--tenant-table", TABLE]
    for env in (platform_only(emulator), env_of(emulator)):  # its own secret, or a credential given
        code, _, err = run(argv, env, capsys)
        assert code == 1
        assert "the credential is not of tenant 'brand-b''s org" in err
    assert platform_writes(admin) == []
    assert item(dynamodb) == before


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        (["--tenant-id", "brand-x", "--tenant-table", TABLE], {}, "'brand-x' is not in table"),
        (["--tenant-id", "default", "--tenant-table", TABLE], {}, "must name a registry tenant"),
        (["--tenant-id", "brand-b"], {}, "--tenant-id needs --tenant-table or AEP_TENANTS_TABLE"),
        (["--stream", INLET], {}, "--stream and --tenant-table go with --tenant-id"),
        (["--tenant-id", "brand-b", "--tenant-table", TABLE, "--stream", "Nope"], {}, "'Nope' is not"),
        (
            ["--tenant-id", "brand-b", "--tenant-table", TABLE],
            {"AEP_SANDBOX_NAME": "dev"},
            "AEP_SANDBOX_NAME is not tenant 'brand-b''s sandbox",
        ),
        (["--tenant-id", "brand-b", "--tenant-table", "missing"], {}, "ResourceNotFoundException"),
    ],
)
def test_a_wrong_tenant_command_fails_before_aep_is_written(
    emulator: Emulator,
    admin: Admin,
    dynamodb: Any,
    brand_b: str,
    capsys: Any,
    extra: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    before = item(dynamodb)
    code, _, err = run(["apply", str(EXAMPLE), *extra], {**platform_only(emulator), **env}, capsys)
    assert code == 1
    assert message in err
    assert platform_writes(admin) == []
    assert item(dynamodb) == before


def test_a_file_with_several_streams_needs_the_one_to_write(
    emulator: Emulator, admin: Admin, dynamodb: Any, brand_b: str, capsys: Any, tmp_path: Path
) -> None:
    data = load(EXAMPLE).model_dump(by_alias=True, exclude_none=True)
    data["streaming"].append({"name": "Callers Inlet", "dataset": "Call Center Setup Callers"})
    two = tmp_path / "two.json"
    two.write_text(json.dumps(data))
    argv = ["apply", str(two), "--tenant-id", brand_b, "--tenant-table", TABLE]
    code, _, err = run(argv, platform_only(emulator), capsys)
    assert code == 1
    assert "2 streaming connections: name the tenant's with --stream" in err
    assert platform_writes(admin) == []
    code, outputs, err = run([*argv, "--stream", "Callers Inlet"], platform_only(emulator), capsys)
    assert code == 0, err
    written = item(dynamodb)
    assert written["streaming"]["dataset_id"] == outputs["datasets"]["Call Center Setup Callers"]
    assert written["streaming"]["schema_ref"] == outputs["schemas"]["Call Center Setup Callers"]["id"]
    assert written["setup"]["stream"] == "Callers Inlet"
    assert set(written["setup"]["streaming"]) == {INLET, "Callers Inlet"}
