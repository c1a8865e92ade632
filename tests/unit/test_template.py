from __future__ import annotations

import pytest

from tests.support.template import TEMPLATE, load_template, transform


@pytest.fixture(scope="module")
def template():
    return load_template()


@pytest.fixture(scope="module")
def translated(template):
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template)


def test_cfn_lint_reports_no_error_or_warning():
    from cfnlint.api import lint_all

    matches = lint_all(TEMPLATE.read_text())

    assert [str(m) for m in matches if m.rule.id[0] in "EW"] == []


def test_layer_is_built_for_python313_arm64_with_makefile(template):
    layer = template["Resources"]["AepLayer"]

    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert template["Globals"]["Function"]["Runtime"] == "python3.13"
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]


def test_secrets_are_encrypted_with_the_stack_key(translated):
    resources = translated["Resources"]
    secrets = {name: r for name, r in resources.items() if r["Type"] == "AWS::SecretsManager::Secret"}

    assert set(secrets) == {"AepCredentialsSecret", "AepTokenSecret"}
    for secret in secrets.values():
        assert secret["Properties"]["KmsKeyId"] == {"Ref": "AepKey"}
    assert resources["AepKey"]["Properties"]["EnableKeyRotation"] is True


def test_every_aep_variable_reaches_the_functions(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    for name in (
        "AEP_CREDENTIALS_SECRET_ID",
        "AEP_TOKEN_SECRET_ID",
        "AEP_SANDBOX_NAME",
        "AEP_IMS_URL",
        "AEP_PLATFORM_URL",
        "AEP_STREAMING_URL",
    ):
        assert name in variables


def test_template_transforms_to_cloudformation(translated):
    types = {r["Type"] for r in translated["Resources"].values()}

    assert "AWS::Lambda::LayerVersion" in types
    assert "Transform" not in translated
