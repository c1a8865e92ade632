"""The local stack reads template.yaml as CloudFormation does: parameters, conditions, intrinsic functions."""

from __future__ import annotations

from typing import Any

import pytest

from stack.template import NO_VALUE, Template, TemplateError, load, rate_seconds

BODY: dict[str, Any] = {
    "Parameters": {
        "Name": {"Type": "String", "Default": "calls"},
        "Size": {"Type": "Number", "Default": 100},
        "Fifo": {"Type": "String", "Default": "false"},
        "Required": {"Type": "String"},
    },
    "Conditions": {
        "UseFifo": {"Fn::Equals": [{"Ref": "Fifo"}, "true"]},
        "NoFifo": {"Fn::Not": [{"Condition": "UseFifo"}]},
    },
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "FifoQueue": {"Type": "AWS::SQS::Queue", "Condition": "UseFifo"},
    },
}


def template(**parameters: str) -> tuple[Template, list[tuple[str, str | None]]]:
    asked: list[tuple[str, str | None]] = []

    def physical(logical_id: str, attribute: str | None) -> str:
        asked.append((logical_id, attribute))
        return f"{logical_id}:{attribute or 'ref'}"

    values = {"Required": "given", **parameters}
    return Template(BODY, values, stack_name="s1", physical=physical), asked


def test_parameters_take_their_default_unless_overridden():
    t, _ = template(Size="7")

    assert t.parameters == {"Name": "calls", "Size": "7", "Fifo": "false", "Required": "given"}


def test_a_parameter_without_default_or_value_and_an_unknown_one_are_refused():
    with pytest.raises(TemplateError, match="parameters without a value: Required"):
        Template(BODY, {}, stack_name="s", physical=lambda *_: "")
    with pytest.raises(TemplateError, match="no such parameter in the template: Nope"):
        template(Nope="1")


def test_refs_and_get_atts_of_resources_ask_for_their_physical_value():
    t, asked = template()

    assert t.resolve({"Ref": "Queue"}) == "Queue:ref"
    assert t.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "Queue:Arn"
    assert t.resolve({"Fn::Sub": "${Queue.Arn}/x/${Name}/${AWS::Region}/${!Literal}"}) == (
        "Queue:Arn/x/calls/us-east-1/${Literal}"
    )
    assert asked == [("Queue", None), ("Queue", "Arn"), ("Queue", "Arn")]


def test_conditions_decide_which_resources_exist_and_which_branch_if_takes():
    off, _ = template()
    on, _ = template(Fifo="true")

    assert (off.exists("FifoQueue"), on.exists("FifoQueue")) == (False, True)
    assert off.resolve({"Fn::If": ["NoFifo", "standard", "fifo"]}) == "standard"
    assert on.resolve({"Fn::If": ["NoFifo", "standard", "fifo"]}) == "fifo"
    with pytest.raises(TemplateError, match="not a resource or parameter of this stack"):
        off.resolve({"Ref": "FifoQueue"})


def test_join_select_split_and_the_stack_id_resolve_as_cloudformation_does():
    t, _ = template()
    bucket = {"Fn::Join": ["", ["drop-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]]}

    assert t.resolve(bucket) == "drop-local-s1"
    assert t.resolve({"Fn::Join": [",", ["a", {"Ref": "AWS::NoValue"}, "b"]]}) == "a,b"
    assert t.resolve(["x", {"Ref": "AWS::NoValue"}]) == ["x"]
    assert t.resolve({"k": {"Ref": "AWS::NoValue"}, "j": 1}) == {"j": 1}
    assert t.pseudo("AWS::NoValue") is NO_VALUE


def test_the_short_forms_of_the_real_template_are_read_as_their_long_forms():
    body = load()
    env = body["Resources"]["StreamIngestFunction"]["Properties"]["Environment"]["Variables"]

    assert env["STREAM_DLQ_URL"] == {"Ref": "StreamDeadLetterQueue"}
    assert env["STREAM_DEFAULT_TENANT_QUEUES"] == {"Fn::GetAtt": ["StreamQueue", "Arn"]}


def test_rate_expressions_become_seconds_and_cron_is_refused():
    assert rate_seconds("rate(5 minutes)") == 300.0
    assert rate_seconds("rate(1 hour)") == 3600.0
    with pytest.raises(TemplateError, match="only rate"):
        rate_seconds("cron(0 12 * * ? *)")
