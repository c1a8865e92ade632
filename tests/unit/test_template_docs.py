"""What a person deploying needs is written down: required parameters in samconfig.toml and docs/deploy.md,
every variable the template sets in docs/configuration.md's tables, the queues and the
bucket as outputs (item 25)."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.support.template import DOCS, SAMCONFIG, cached_template, documentation


@pytest.fixture(scope="module")
def template():
    return cached_template()


def required_parameters(template) -> list[str]:
    """The parameters without a default, and those a rule requires (the streaming ids, unless SetupAEP)."""
    ruled = [
        assertion["Assert"]["Fn::Not"][0]["Fn::Equals"][0]["Ref"]
        for rule in template.get("Rules", {}).values()
        for assertion in rule["Assertions"]
    ]
    return [name for name, p in template["Parameters"].items() if "Default" not in p or name in ruled]


def doc_section(name: str, title: str) -> str:
    """A top-level section of docs/<name>.md (its ``# title`` up to the next ``# ``)."""
    text = "\n" + (DOCS / f"{name}.md").read_text()
    start = text.index(f"\n# {title}\n")
    end = text.find("\n# ", start + 1)
    return text[start : end if end != -1 else len(text)]


def environment_variables(template) -> set[str]:
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            names |= set(resource["Properties"].get("Environment", {}).get("Variables", {}))
    return names


def test_the_required_parameters_are_the_streaming_ids(template):
    assert required_parameters(template) == ["StreamInletId", "StreamDatasetId", "StreamFlowId"]


def test_every_required_parameter_is_a_commented_placeholder_in_samconfig(template):
    text = SAMCONFIG.read_text()
    overrides = tomllib.loads(text)["default"]["deploy"]["parameters"]["parameter_overrides"]
    placeholders = re.findall(r'^\s*#\s*"(\w+)=<[^>]+>",?\s*$', text, flags=re.MULTILINE)

    assert isinstance(overrides, list)
    for name in required_parameters(template):
        assert name in placeholders
    # Every active override names a parameter of the template and is a value it accepts.
    for entry in overrides:
        name, value = entry.split("=", 1)
        parameter = template["Parameters"][name]
        if "AllowedValues" in parameter:
            assert value in parameter["AllowedValues"]
        if "AllowedPattern" in parameter:
            assert re.fullmatch(parameter["AllowedPattern"], value)


def test_every_required_parameter_is_explained_in_the_readme_deploy_section(template):
    deploy = doc_section("deploy", "Deploy")

    for name in required_parameters(template):
        assert f"`{name}`" in deploy


def test_every_variable_the_template_sets_is_in_the_readme_configuration_tables(template):
    configuration = doc_section("configuration", "Configuration")
    first_cells = re.findall(r"^\| ([^|]+) \|", configuration, flags=re.MULTILINE)
    documented = {name for cell in first_cells for name in re.findall(r"`([A-Z0-9_]+)`", cell)}

    assert {name for name in environment_variables(template) if name.startswith("POWERTOOLS_")} == {
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_SERVICE_NAME",
    }
    assert environment_variables(template) - documented == set()


def test_every_parameter_is_named_in_the_documentation(template):
    text = documentation()

    for name in template["Parameters"]:
        assert f"`{name}`" in text, name


def test_the_queues_and_the_overflow_bucket_are_outputs(template):
    outputs = template["Outputs"]
    values = {name: (o["Value"], o.get("Condition")) for name, o in outputs.items()}

    assert {
        "StreamQueueUrl": ({"Ref": "StreamQueue"}, None),
        "StreamQueueArn": ({"Fn::GetAtt": ["StreamQueue", "Arn"]}, None),
        "StreamDeadLetterQueueUrl": ({"Ref": "StreamDeadLetterQueue"}, None),
        "StreamDeadLetterQueueArn": ({"Fn::GetAtt": ["StreamDeadLetterQueue", "Arn"]}, None),
        "StreamFifoQueueUrl": ({"Ref": "StreamFifoQueue"}, "UseFifo"),
        "StreamFifoQueueArn": ({"Fn::GetAtt": ["StreamFifoQueue", "Arn"]}, "UseFifo"),
        "StreamFifoDeadLetterQueueUrl": ({"Ref": "StreamFifoDeadLetterQueue"}, "UseFifo"),
        "StreamFifoDeadLetterQueueArn": ({"Fn::GetAtt": ["StreamFifoDeadLetterQueue", "Arn"]}, "UseFifo"),
        "DeadLetterOverflowBucketName": ({"Ref": "DeadLetterOverflowBucket"}, None),
    }.items() <= values.items()


def test_every_output_is_named_in_the_readme_deploy_section(template):
    deploy = doc_section("deploy", "Deploy")

    for name in template["Outputs"]:
        assert f"`{name}`" in deploy, name
