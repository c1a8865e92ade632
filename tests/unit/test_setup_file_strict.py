"""The setup file is read strictly: a key twice in one mapping, an enum value or a bound of another type
than its field, a primary identity naming no field of the schema are refused at load time with their
path; only CloudFormation's all-string properties are coerced to the field's type, where unambiguous."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aep.setup import SetupFileError, load, parse
from aep.setup.model import cloudformation_values

EXAMPLE = Path(__file__).resolve().parents[2] / "setup" / "callcenter.yaml"
PHONE_LINE = "      phone: {type: string, title: Phone number}"


def written(tmp_path: Path, text: str, name: str = "setup.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def minimal(field: dict[str, Any], identity: str = "/_tenant/phone") -> dict[str, Any]:
    return {
        "fieldGroups": [
            {"title": "G", "extends": ["profile"], "fields": {"phone": {"type": "string"}, "f": field}}
        ],
        "schemas": [
            {
                "title": "S",
                "class": "profile",
                "fieldGroups": ["G"],
                "primaryIdentity": {"field": identity, "namespace": "Phone"},
                "profile": True,
            }
        ],
        "datasets": [{"name": "D", "schema": "S", "profile": True}],
    }


def test_a_yaml_key_twice_in_one_mapping_is_refused_with_its_line(tmp_path: Path) -> None:
    # Given the example with the phone field defined a second time (a retype by typo)
    text = EXAMPLE.read_text()
    assert PHONE_LINE in text
    path = written(tmp_path, text.replace(PHONE_LINE, PHONE_LINE + "\n      phone: {type: integer}"))
    # When it is loaded, Then it is refused, naming the key and where it is
    with pytest.raises(SetupFileError, match=r"found the key 'phone' twice") as refused:
        load(path)
    line = text.splitlines().index(PHONE_LINE) + 2  # 1-based, the duplicate's line
    assert f"line {line}" in str(refused.value)


def test_the_same_key_in_two_different_mappings_is_fine(tmp_path: Path) -> None:
    # the example holds "title" and "description" in many mappings: only a repeat within one counts
    assert load(written(tmp_path, EXAMPLE.read_text())) == load(EXAMPLE)


def test_a_json_key_twice_in_one_object_is_refused(tmp_path: Path) -> None:
    text = json.dumps(minimal({"type": "string"})).replace(
        '"profile": true}]}', '"profile": true, "profile": false}]}'
    )
    assert text.count('"profile": false') == 1
    with pytest.raises(SetupFileError, match="same key twice"):
        load(written(tmp_path, text, "setup.json"))


def test_yaml_booleans_as_the_enum_of_a_string_field_are_refused_with_the_path(tmp_path: Path) -> None:
    path = written(tmp_path, EXAMPLE.read_text().replace("enum: [gold, silver, bronze]", "enum: [yes, no]"))
    with pytest.raises(SetupFileError) as refused:
        load(path)
    assert (
        "fieldGroups[2].fields.tier: Value error, enum values [True, False] are not of the field's type"
        in str(refused.value)
    )


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ({"type": "integer", "enum": [1, "2"]}, "enum values ['2'] are not of the field's type integer"),
        ({"type": "integer", "enum": [1, True]}, "enum values [True] are not of the field's type integer"),
        ({"type": "number", "enum": [1.5, False]}, "enum values [False] are not of the field's type number"),
        ({"type": "boolean", "enum": [True, 0]}, "enum values [0] are not of the field's type boolean"),
        ({"type": "string", "enum": ["a", 1]}, "enum values [1] are not of the field's type string"),
        ({"type": "integer", "minimum": True}, "minimum: Input should be a valid number"),
        ({"type": "integer", "maximum": "9"}, "maximum: Input should be a valid number"),
        ({"type": "string", "maxLength": "3"}, "maxLength: Input should be a valid integer"),
        ({"type": "string", "minimum": 1}, "minimum / maximum are for integer and number fields"),
        ({"type": "integer", "maxLength": 3}, "minLength / maxLength are for string fields"),
    ],
)
def test_a_value_of_another_type_than_its_field_is_refused(field: dict[str, Any], problem: str) -> None:
    with pytest.raises(SetupFileError, match=r"fieldGroups\[0\]\.fields\.f") as refused:
        parse(minimal(field))
    assert problem in str(refused.value)


@pytest.mark.parametrize(
    "field",
    [
        {"type": "integer", "enum": [1, 2], "minimum": 0, "maximum": 9},
        {"type": "number", "enum": [1, 2.5], "minimum": -0.5},
        {"type": "boolean", "enum": [True]},
        {"type": "string", "enum": ["yes", "no"], "minLength": 1, "maxLength": 3},
    ],
)
def test_values_of_their_fields_type_are_accepted(field: dict[str, Any]) -> None:
    parsed = parse(minimal(field)).field_groups[0].fields["f"]
    assert parsed.xdm("f") == {"title": "f", **field}


def test_cloudformation_strings_become_the_fields_type_where_unambiguous() -> None:
    # Given fields as CloudFormation hands them to the custom resource: every scalar a string
    fields = {
        "i": {"type": "integer", "enum": ["1", "-2"], "minimum": "0", "maximum": "10"},
        "n": {"type": "number", "enum": ["1.5", "2"], "minimum": "-0.5"},
        "b": {"type": "boolean", "enum": ["true", "false"]},
        "s": {"type": "string", "enum": ["1", "true"], "minLength": "1", "maxLength": "3"},
        "o": {"type": "object", "properties": {"x": {"type": "integer", "enum": ["7"]}}},
        "a": {"type": "array", "items": {"type": "integer", "maximum": "5"}},
    }
    data = minimal({"type": "string"})
    data["fieldGroups"][0]["fields"] = {"phone": {"type": "string"}, **fields}
    # When coerced, Then each value has its field's type, and strings stay strings on string fields
    coerced = cloudformation_values(data)["fieldGroups"][0]["fields"]
    assert coerced["i"] == {"type": "integer", "enum": [1, -2], "minimum": 0, "maximum": 10}
    assert coerced["n"] == {"type": "number", "enum": [1.5, 2], "minimum": -0.5}
    assert coerced["b"] == {"type": "boolean", "enum": [True, False]}
    assert coerced["s"] == {"type": "string", "enum": ["1", "true"], "minLength": 1, "maxLength": 3}
    assert coerced["o"]["properties"]["x"]["enum"] == [7]
    assert coerced["a"]["items"]["maximum"] == 5
    # and the setup parses from CloudFormation's form, not from the plain one
    parse(data, "Setup", from_cloudformation=True)
    with pytest.raises(SetupFileError):
        parse(data, "Setup")


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ({"type": "integer", "enum": ["1.5"]}, "enum values ['1.5'] are not of the field's type integer"),
        ({"type": "boolean", "enum": ["yes"]}, "enum values ['yes'] are not of the field's type boolean"),
        ({"type": "number", "minimum": "ten"}, "minimum: Input should be a valid number"),
    ],
)
def test_cloudformation_strings_that_are_not_of_the_fields_type_are_refused(
    field: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SetupFileError, match=r"fieldGroups\[0\]\.fields\.f") as refused:
        parse(minimal(field), "Setup", from_cloudformation=True)
    assert problem in str(refused.value)


@pytest.mark.parametrize("identity", ["/_tenant/phne", "/_tenant", "/_tenant/phone/digits", "/_tenant/f/x"])
def test_a_primary_identity_naming_no_field_of_the_schema_is_refused_at_load(identity: str) -> None:
    data = minimal({"type": "object", "properties": {"y": {"type": "string"}}}, identity)
    with pytest.raises(SetupFileError) as refused:
        parse(data)
    assert f"schema 'S': primaryIdentity.field {identity} is not a field of its field groups" in str(
        refused.value
    )


def test_a_primary_identity_in_a_field_group_the_schema_does_not_use_is_refused() -> None:
    data = minimal({"type": "string"}, "/_tenant/other")
    data["fieldGroups"].append(
        {"title": "H", "extends": ["profile"], "fields": {"other": {"type": "string"}}}
    )
    with pytest.raises(SetupFileError, match="/_tenant/other is not a field of its field groups"):
        parse(data)
    data["schemas"][0]["fieldGroups"].append("H")
    assert parse(data).schemas[0].primary_identity is not None


def test_a_primary_identity_nested_in_an_object_or_outside_the_tenant_object_is_accepted() -> None:
    nested = minimal({"type": "object", "properties": {"y": {"type": "string"}}}, "/_tenant/f/y")
    assert parse(nested).schemas[0].primary_identity is not None
    # a standard field (a class or standard field group's): only AEP knows it, setup leaves it to AEP
    standard = minimal({"type": "string"}, "/personalEmail/address")
    assert parse(standard).schemas[0].primary_identity is not None


def test_a_primary_identity_on_a_field_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(
        SetupFileError, match=r"primaryIdentity\.field /_tenant/f is integer; identities are strings"
    ):
        parse(minimal({"type": "integer"}, "/_tenant/f"))
