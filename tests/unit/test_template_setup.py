"""The AepSetup custom resource in the translated template: behind SetupAEP (default false), fed the
template's inline setup file (the call-center example), feeding the functions' streaming settings when
on, the hand-set parameters (required by a rule) when off; its function and least-privilege role."""

from __future__ import annotations

from typing import Any

import pytest

from aep.setup import load, parse
from tests.support.template import ROOT, cached_template, cached_translation, specialise

SETTINGS = {  # variable -> (the custom resource's attribute, the hand-set parameter)
    "STREAM_INLET_ID": ("InletId", "StreamInletId"),
    "STREAM_DATASET_ID": ("DatasetId", "StreamDatasetId"),
    "STREAM_SCHEMA_REF": ("SchemaRef", "StreamSchemaRef"),
    "STREAM_FLOW_ID": ("FlowId", "StreamFlowId"),
    "STREAM_INLET_AUTHENTICATED": ("InletAuthenticated", "StreamInletAuthenticated"),
    "STREAM_IDENTITY_FIELD": ("IdentityField", "StreamIdentityField"),
    "STREAM_IDENTITY_NAMESPACE": ("IdentityNamespace", "StreamIdentityNamespace"),
}
#: Other functions' settings fed by the custom resource: function -> variable -> (attribute, parameter)
OTHER_SETTINGS = {
    "BatchIngestFunction": {"BATCH_ROUTES": ("BatchRoutes", "BatchRoutes")},
    "ProfileLookupFunction": {"LOOKUP_IDENTITY_NAMESPACE": ("IdentityNamespace", "StreamIdentityNamespace")},
}
STREAM_FUNCTIONS = ("StreamIngestFunction", "StreamFifoIngestFunction")
SETUP_RESOURCES = {"AepSetup", "AepSetupFunction", "AepSetupRole", "AepSetupLogGroup"}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return cached_translation()


def conditions(setup: bool, s3: bool = False) -> dict[str, bool]:
    return {
        "UseFifo": True,
        "HasAlarmEmail": False,
        "UseAepSetup": setup,
        "HasSetupS3Uri": setup and s3,
        "HasSetupStream": False,
    }


def variables(resources: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(resources[name]["Properties"]["Environment"]["Variables"])


def as_cloudformation_sends(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: as_cloudformation_sends(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_cloudformation_sends(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_with_setup_on_the_functions_take_their_targets_from_the_custom_resource(translated):
    resources = specialise(translated, conditions(setup=True), {})
    assert set(resources) >= SETUP_RESOURCES
    assert resources["AepSetup"]["Type"] == "Custom::AepSetup"
    assert resources["AepSetup"]["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["AepSetupFunction", "Arn"]}
    for function in STREAM_FUNCTIONS:
        env = variables(resources, function)
        for variable, (attribute, _) in SETTINGS.items():
            assert env[variable] == {"Fn::GetAtt": ["AepSetup", attribute]}, (function, variable)
    follow = variables(resources, "BatchFollowFunction")
    assert follow["STREAM_DATASET_ID"] == {"Fn::GetAtt": ["AepSetup", "DatasetId"]}
    for function, settings in OTHER_SETTINGS.items():
        env = variables(resources, function)
        for variable, (attribute, _) in settings.items():
            assert env[variable] == {"Fn::GetAtt": ["AepSetup", attribute]}, (function, variable)


def test_the_custom_resource_gets_the_hand_set_settings_it_falls_back_to(translated):
    resources = specialise(translated, conditions(setup=True), {})
    properties = resources["AepSetup"]["Properties"]
    assert {k: properties[k] for k in ("BatchRoutes", "IdentityField", "IdentityNamespace")} == {
        "BatchRoutes": {"Ref": "BatchRoutes"},
        "IdentityField": {"Ref": "StreamIdentityField"},
        "IdentityNamespace": {"Ref": "StreamIdentityNamespace"},
    }
    assert properties["DefaultPhoneRegion"] == {"Ref": "DefaultPhoneRegion"}


def test_with_setup_off_the_functions_take_the_parameters_and_nothing_of_setup_is_deployed(translated):
    resources = specialise(translated, conditions(setup=False), {})
    assert not SETUP_RESOURCES & set(resources)
    for function in STREAM_FUNCTIONS:
        env = variables(resources, function)
        for variable, (_, parameter) in SETTINGS.items():
            assert env[variable] == {"Ref": parameter}, (function, variable)
    assert variables(resources, "BatchFollowFunction")["STREAM_DATASET_ID"] == {"Ref": "StreamDatasetId"}
    for function, settings in OTHER_SETTINGS.items():
        env = variables(resources, function)
        for variable, (_, parameter) in settings.items():
            assert env[variable] == {"Ref": parameter}, (function, variable)
    outputs = translated["Outputs"]
    assert {name for name, o in outputs.items() if o.get("Condition") == "UseAepSetup"} == {
        "AepSetupFunctionName",
        "AepSetupRoleArn",
        "AepSetupStatus",
        "AepSetupDatasetId",
        "AepSetupInletUrl",
        "AepSetupFlowId",
        "AepSetupSchemaRef",
    }


def test_setup_is_off_by_default_and_the_hand_set_targets_are_then_required_by_a_rule(translated):
    parameters = translated["Parameters"]
    assert parameters["SetupAEP"]["Default"] == "false"
    assert translated["Conditions"]["UseAepSetup"] == {"Fn::Equals": [{"Ref": "SetupAEP"}, "true"]}
    rule = translated["Rules"]["HandSetStreamingTargets"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "SetupAEP"}, "false"]}
    required = [a["Assert"] for a in rule["Assertions"]]
    assert required == [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": name}, ""]}]}
        for name in ("StreamInletId", "StreamDatasetId", "StreamFlowId")
    ]


def test_the_inline_setup_file_is_the_call_center_example_as_cloudformation_hands_it_over():
    inline = cached_template()["Resources"]["AepSetup"]["Properties"]["Setup"]
    parsed = parse(as_cloudformation_sends(inline), "Setup", from_cloudformation=True)
    assert parsed == load(ROOT / "setup" / "callcenter.yaml")


def test_the_setup_function_is_python313_arm64_on_the_layer_built_by_its_makefile(translated):
    template = cached_template()["Resources"]["AepSetupFunction"]
    assert template["Metadata"]["BuildMethod"] == "makefile"
    function = translated["Resources"]["AepSetupFunction"]["Properties"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Layers"] == [
        {"Ref": next(n for n in translated["Resources"] if n.startswith("AepLayer"))}
    ]
    assert function["Handler"] == "app.lambda_handler"
    assert function["Timeout"] == 900
    assert function["ReservedConcurrentExecutions"] == 1
    makefile = (ROOT / "functions" / "aep_setup" / "Makefile").read_text()
    assert "build-AepSetupFunction:" in makefile
    assert translated["Resources"]["AepSetup"]["Properties"]["ServiceTimeout"] > function["Timeout"]


@pytest.mark.parametrize("s3", [False, True])
def test_the_setup_role_reads_the_credential_and_nothing_else_of_the_stack(translated, s3):
    resources = specialise(translated, conditions(setup=True, s3=s3), {})
    (policy,) = resources["AepSetupRole"]["Properties"]["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    expected = ["ReadCredentials", "UseConnectorKey", "WriteLogs", "Tracing"]
    if s3:
        expected.insert(2, "ReadSetupFile")
    assert list(statements) == expected
    assert statements["ReadCredentials"]["Action"] == "secretsmanager:GetSecretValue"
    assert statements["ReadCredentials"]["Resource"] == {"Ref": "AepCredentialsSecret"}
    assert statements["UseConnectorKey"]["Action"] == "kms:Decrypt"
    assert statements["WriteLogs"]["Resource"] == {"Fn::GetAtt": ["AepSetupLogGroup", "Arn"]}
    assert [s["Sid"] for s in statements.values() if s["Resource"] == "*"] == ["Tracing"]
    if s3:
        assert statements["ReadSetupFile"]["Action"] == "s3:GetObject"
        path = statements["ReadSetupFile"]["Resource"]["Fn::Sub"][1]["Path"]
        assert path == {"Fn::Select": [1, {"Fn::Split": ["s3://", {"Ref": "SetupS3Uri"}]}]}
    # the function's role is its own: not the token secret, not the registry, not a queue
    text = str(policy)
    for other in ("AepTokenSecret", "TenantsTable", "sqs:", "dynamodb:"):
        assert other not in text
    assert resources["AepSetupFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["AepSetupRole", "Arn"]}


def test_a_change_of_sandbox_platform_or_revision_runs_setup_again(translated):
    properties = translated["Resources"]["AepSetup"]["Properties"]
    assert properties["SandboxName"] == {"Ref": "SandboxName"}
    assert properties["PlatformUrl"] == {"Ref": "PlatformUrl"}
    assert properties["Revision"] == {"Ref": "SetupRevision"}
    assert properties["Stream"] == {
        "Fn::If": ["HasSetupStream", {"Ref": "SetupStream"}, {"Ref": "AWS::NoValue"}]
    }
