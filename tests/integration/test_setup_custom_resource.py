"""The ``Custom::AepSetup`` handler driven as CloudFormation would: Create, Update, Delete, failures and the
timeout, with a local HTTP server as the pre-signed ResponseURL and the emulator as AEP. Every request is
answered exactly once (one PUT, empty content type) with the right status, PhysicalResourceId and Data."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import boto3
import pytest

from aep.setup import SetupApi, load
from aep.setup.__main__ import setup_api
from aep_emulator import Emulator
from aep_setup.converge import ATTRIBUTES, PENDING, converge
from aep_setup.resource import handle, physical_id
from aep_setup.response import Responder
from tests.integration.conftest import Admin
from tests.integration.test_setup_converge import EXAMPLE, FAST, env_of, platform_writes
from tests.support.fakes import FakeLambdaContext
from tests.support.lambdas import load_app
from tests.support.recorder import Recorder, Reply
from tests.support.template import cached_template

STACK_ID = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/aep-connector/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"
)
SECRET = "aep-connector/credentials"
INLET = "Call Center Setup Events Inlet"
EVENTS = "Call Center Setup Call Events"


def as_cloudformation_sends(value: Any) -> Any:
    """A template value as CloudFormation hands it to a custom resource: every scalar a string."""
    if isinstance(value, dict):
        return {k: as_cloudformation_sends(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_cloudformation_sends(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def template_properties() -> dict[str, Any]:
    """The template's AepSetup properties, intrinsic functions resolved as with the default parameters."""
    properties = cached_template()["Resources"]["AepSetup"]["Properties"]
    return {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:aep-connector-AepSetupFunction",
        "SandboxName": "prod",
        "PlatformUrl": "https://platform.adobe.io",
        "Revision": "1",
        "Setup": as_cloudformation_sends(properties["Setup"]),
    }


class CloudFormation:
    """Builds requests whose ResponseURL is the recorder, and reads the answers it received."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        recorder.on("PUT", r"/cfn/.*", Reply(200))
        self.sequence = 0

    def request(
        self, kind: str, properties: Mapping[str, Any] | None = None, physical: str | None = None
    ) -> dict[str, Any]:
        self.sequence += 1
        event: dict[str, Any] = {
            "RequestType": kind,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:aep-connector-AepSetupFunction",
            "ResponseURL": f"{self.recorder.url}/cfn/{self.sequence}?X-Amz-Signature=abc123",
            "StackId": STACK_ID,
            "RequestId": f"request-{self.sequence}",
            "LogicalResourceId": "AepSetup",
            "ResourceType": "Custom::AepSetup",
            "ResourceProperties": dict(properties if properties is not None else template_properties()),
        }
        if physical is not None:
            event["PhysicalResourceId"] = physical
        if kind == "Update":
            event["OldResourceProperties"] = template_properties()
        return event

    def answers(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        path = "/cfn/" + str(event["ResponseURL"]).split("/cfn/", 1)[1].split("?", 1)[0]
        calls = [c for c in self.recorder.calls("PUT") if c.path == path]
        for call in calls:
            assert call.headers.get("content-type") == ""
            assert call.param("X-Amz-Signature") == "abc123"
        return [c.json() for c in calls]

    def answer(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The one answer to ``event`` (fails when there are none or several)."""
        (only,) = self.answers(event)
        assert only["StackId"] == STACK_ID
        assert only["RequestId"] == event["RequestId"]
        assert only["LogicalResourceId"] == "AepSetup"
        return only


@pytest.fixture
def cfn(recorder: Recorder) -> CloudFormation:
    return CloudFormation(recorder)


@pytest.fixture
def stack(emulator: Emulator, aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function's environment as the template gives it, the credential put in the stack's secret."""
    creds = emulator.config.clients[0]
    boto3.client("secretsmanager").create_secret(
        Name=SECRET,
        SecretString=json.dumps(
            {
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
                "org_id": emulator.config.org_id,
            }
        ),
    )
    for name, value in {
        "AEP_CREDENTIALS_SECRET_ID": SECRET,
        "AEP_IMS_URL": emulator.url,
        "AEP_PLATFORM_URL": emulator.url,
        "AEP_SANDBOX_NAME": "prod",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def api(emulator: Emulator) -> SetupApi:
    return setup_api(env_of(emulator), FAST)


def invoke(event: Mapping[str, Any], remaining_ms: int = 900_000) -> None:
    """The deployed handler, as Lambda calls it."""
    assert load_app("aep_setup").lambda_handler(event, FakeLambdaContext(remaining_ms=remaining_ms)) is None


def test_create_converges_aep_and_answers_success_once_with_the_ids(
    cfn: CloudFormation, stack: None, api: SetupApi, admin: Admin
) -> None:
    # Given the template's own properties, When CloudFormation creates the resource
    event = cfn.request("Create")
    invoke(event)
    # Then it answered SUCCESS once, Data naming what AEP now holds
    answer = cfn.answer(event)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == physical_id(event)
    data = answer["Data"]
    assert set(data) == set(ATTRIBUTES)
    assert data["DatasetId"] in api.datasets_named(EVENTS)
    (base,) = api.flow_items("connections", f"name=={INLET}")
    assert data["InletId"] == base["auth"]["params"]["inletId"]
    assert data["InletUrl"] == base["auth"]["params"]["inletUrl"]
    (flow,) = api.flow_items(
        "flows", f"sourceConnectionIds[]=={api.flow_items('sourceConnections')[0]['id']}"
    )
    assert data["FlowId"] == flow["id"]
    schema = api.find_titled("schemas", EVENTS)
    assert schema is not None
    assert data["SchemaRef"] == schema["$id"]
    assert data["SchemaAltId"] == schema["meta:altId"]
    assert data["TenantId"] == api.tenant_id()
    assert data["InletAuthenticated"] == "true"
    assert data["Stream"] == INLET
    assert data["Changes"] == "15"
    assert data["Status"] == answer["Reason"] == "converged"
    assert len(platform_writes(admin)) == 15
    # and the settings that follow: the stream's identity, the batch routes with the datasets' ids
    tenant = api.tenant_id()
    assert (data["IdentityField"], data["IdentityNamespace"]) == (f"_{tenant}.phone", "Phone")
    routes = json.loads(data["BatchRoutes"])
    (callers,) = api.datasets_named("Call Center Setup Callers")
    assert [(r["prefix"], r["dataset_id"], r["record_class"]) for r in routes] == [
        ("callers/", callers, "profile"),
        ("calls/", data["DatasetId"], "experienceevent"),
    ]
    assert routes[0]["mapping"]["columns"]["tier"] == f"_{tenant}.tier"
    assert {r["default_phone_region"] for r in routes} == {"US"}


def test_without_a_batch_section_or_identity_the_hand_set_settings_are_the_attributes(
    cfn: CloudFormation, stack: None
) -> None:
    # Given a setup file without batch routes whose streamed schema has no primary identity
    properties = template_properties()
    setup = properties["Setup"]
    del setup["batch"]
    events = next(s for s in setup["schemas"] if s["title"] == EVENTS)
    del events["primaryIdentity"]
    events["profile"] = "false"
    next(d for d in setup["datasets"] if d["name"] == EVENTS).update(profile="false")
    hand_set = {"BatchRoutes": '[{"prefix": "x/", "dataset_id": "' + "a" * 24 + '"}]'}
    hand_set |= {"IdentityField": "person.email", "IdentityNamespace": "Email", "DefaultPhoneRegion": "FR"}
    event = cfn.request("Create", {**properties, **hand_set})
    invoke(event)
    answer = cfn.answer(event)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    data = answer["Data"]
    # Then the hand-set parameters the template passes along are the attributes
    assert (data["BatchRoutes"], data["IdentityField"], data["IdentityNamespace"]) == (
        hand_set["BatchRoutes"],
        "person.email",
        "Email",
    )


def test_update_keeps_the_physical_id_writes_nothing_and_answers_the_same_ids(
    cfn: CloudFormation, stack: None, admin: Admin
) -> None:
    created = cfn.request("Create")
    invoke(created)
    first = cfn.answer(created)
    writes = len(platform_writes(admin))
    # When the stack is updated (a new Revision)
    update = cfn.request("Update", {**template_properties(), "Revision": "2"}, first["PhysicalResourceId"])
    invoke(update)
    # Then the same resource, the same ids, and no write reached AEP
    answer = cfn.answer(update)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert {k: v for k, v in answer["Data"].items() if k != "Changes"} == {
        k: v for k, v in first["Data"].items() if k != "Changes"
    }
    assert answer["Data"]["Changes"] == "0"
    assert len(platform_writes(admin)) == writes


@pytest.mark.parametrize(
    "properties",
    [
        pytest.param(None, id="the template's"),
        pytest.param({"Setup": "not json"}, id="a broken setup file"),
        pytest.param({}, id="no properties"),
    ],
)
def test_delete_answers_success_and_never_calls_aep(
    cfn: CloudFormation, stack: None, admin: Admin, properties: dict[str, Any] | None
) -> None:
    event = cfn.request("Delete", properties, physical="aep-setup-AepSetup-0f1e2d3c")
    invoke(event)
    answer = cfn.answer(event)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "aep-setup-AepSetup-0f1e2d3c"
    assert answer["Data"] == {}
    assert admin.requests() == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param(
            {"Setup": {"schemas": [{"title": "x"}]}}, "Setup: schemas[0].class: Field required", id="bad file"
        ),
        pytest.param({"Setup": "{"}, "Setup: not valid JSON", id="not json"),
        pytest.param({"Setup": None}, "give the setup file as the Setup property", id="no file"),
        pytest.param(
            {"Stream": "Nope"}, "--stream 'Nope' is not a streaming connection", id="unknown stream"
        ),
        pytest.param({"SetupS3Uri": "s3://missing-bucket/setup.json"}, "cannot read", id="missing object"),
    ],
)
def test_a_bad_request_answers_failed_with_the_reason(
    cfn: CloudFormation, stack: None, admin: Admin, change: dict[str, Any], reason: str
) -> None:
    event = cfn.request("Create", {**template_properties(), **change})
    invoke(event)
    answer = cfn.answer(event)
    assert answer["Status"] == "FAILED"
    assert reason in answer["Reason"]
    assert answer["PhysicalResourceId"] == physical_id(event)
    assert platform_writes(admin) == []


def test_aep_refusing_a_call_answers_failed_naming_the_call(
    cfn: CloudFormation, stack: None, admin: Admin
) -> None:
    admin.faults({"path": "/catalog/dataSets$", "method": "POST", "status": 400})
    event = cfn.request("Create")
    invoke(event)
    answer = cfn.answer(event)
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("AepValidationError: create dataset")
    # and an Update after the fault is gone completes it
    admin.faults()
    update = cfn.request("Update", physical=answer["PhysicalResourceId"])
    invoke(update)
    assert cfn.answer(update)["Status"] == "SUCCESS"


def test_an_unexpected_exception_answers_failed(cfn: CloudFormation, stack: None) -> None:
    def broken(properties: Mapping[str, Any]) -> dict[str, str]:
        raise KeyError("boom")

    event = cfn.request("Update", physical="aep-setup-AepSetup-0f1e2d3c")
    handle(event, FakeLambdaContext(), run=broken)
    answer = cfn.answer(event)
    assert answer["Status"] == "FAILED"
    assert answer["Reason"] == "KeyError (see the function's log)"
    assert answer["PhysicalResourceId"] == "aep-setup-AepSetup-0f1e2d3c"


def test_an_unknown_request_type_answers_failed(cfn: CloudFormation, stack: None) -> None:
    event = cfn.request("Replace")
    invoke(event)
    assert cfn.answer(event)["Status"] == "FAILED"


def test_a_setup_that_cannot_finish_in_time_is_answered_failed_before_the_deadline_once(
    cfn: CloudFormation, stack: None, admin: Admin
) -> None:
    # Given AEP answers its first call only after a long while, and little time is left
    admin.faults({"path": "/schemaregistry/stats$", "kind": "latency", "latency_ms": 4000, "first": 1})
    finished = threading.Event()

    def tracked(properties: Mapping[str, Any]) -> dict[str, str]:
        try:
            return converge(properties)
        finally:
            finished.set()

    event = cfn.request("Create")
    # When the handler runs with 0.2 s of budget before its margin
    handle(event, FakeLambdaContext(remaining_ms=10_200), run=tracked, margin=10.0)
    # Then FAILED was answered before the work finished
    answer = cfn.answer(event)
    assert answer["Status"] == "FAILED"
    assert "did not finish 10 s before the function's timeout" in answer["Reason"]
    assert not finished.is_set()
    # and when the work does finish, nothing more is sent
    assert finished.wait(timeout=60)
    assert len(cfn.answers(event)) == 1


def test_a_delete_with_no_time_left_still_answers_success(cfn: CloudFormation, stack: None) -> None:
    event = cfn.request("Delete", physical="aep-setup-AepSetup-0f1e2d3c")
    handle(event, FakeLambdaContext(remaining_ms=0))
    assert cfn.answer(event)["Status"] == "SUCCESS"


def test_without_a_credential_yet_it_answers_success_pending_and_calls_no_aep(
    cfn: CloudFormation, stack: None, admin: Admin
) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=SECRET, SecretString="{}")
    event = cfn.request("Create")
    invoke(event)
    answer = cfn.answer(event)
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"] == {
        **dict.fromkeys(ATTRIBUTES, ""),
        "BatchRoutes": "[]",  # the BatchRoutes parameter's default: a batch function that starts
        "Stream": INLET,
        "Status": PENDING,
    }
    assert admin.requests() == []


def test_the_setup_file_may_be_an_s3_object(cfn: CloudFormation, stack: None, api: SetupApi) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="partner-setup")
    setup = load(EXAMPLE).model_dump(mode="json", by_alias=True, exclude_none=True)  # JSON's own types
    setup["datasets"][1]["name"] = "Calls From S3"
    setup["streaming"][0]["dataset"] = "Calls From S3"
    setup["batch"][1]["dataset"] = "Calls From S3"
    s3.put_object(Bucket="partner-setup", Key="aep/setup.json", Body=json.dumps(setup).encode())
    event = cfn.request(
        "Create", {**template_properties(), "SetupS3Uri": "s3://partner-setup/aep/setup.json"}
    )
    invoke(event)
    answer = cfn.answer(event)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert list(api.datasets_named("Calls From S3")) == [answer["Data"]["DatasetId"]]


def test_a_response_url_failing_once_is_put_again_and_answered_once(
    cfn: CloudFormation, recorder: Recorder, stack: None
) -> None:
    # Given S3 refuses the first PUT (503)
    recorder.on("PUT", r"/cfn/1", Reply(503), Reply(200))
    event = cfn.request("Delete", physical="aep-setup-AepSetup-0f1e2d3c")
    waits: list[float] = []
    responder = Responder(event, physical_id(event), sleep=waits.append)
    handle(event, FakeLambdaContext(), responder=responder)
    # Then the same answer was put again, once, after a pause
    assert [p["Status"] for p in cfn.answers(event)] == ["SUCCESS", "SUCCESS"]
    assert waits == [0.5]
    # and a second send of the same request is refused
    assert responder.send("FAILED", "late") is False
    assert len(cfn.answers(event)) == 2
