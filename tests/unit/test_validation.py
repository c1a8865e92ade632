"""aep.validation: a record checked against an xed-full schema is refused with its field's path and the
reason (never the value); valid records pass; aep.xdm_schema writes the same rules as closed JSON Schema."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aep.record_rules import RecordRefused
from aep.validation import HIDDEN_KEY, compile_schema
from aep.xdm_schema import to_json_schema

SCHEMA: dict[str, Any] = {
    "$id": "https://ns.adobe.com/acme/schemas/calls",
    "type": "object",
    "meta:extensible": False,
    "properties": {
        "_id": {"type": "string", "format": "uri-reference"},
        "timestamp": {"type": "string", "format": "date-time"},
        "eventType": {"type": "string"},
        "_acme": {
            "type": "object",
            "properties": {
                "phone": {"type": "string", "minLength": 4, "maxLength": 20},
                "email": {"type": "string", "format": "email"},
                "site": {"type": "string", "format": "uri"},
                "born": {"type": "string", "format": "date"},
                "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "score": {"type": "number", "minimum": 0, "exclusiveMaximum": 10},
                "vip": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "call": {
                    "type": "object",
                    "properties": {
                        "direction": {"type": "string", "enum": ["inbound", "outbound"]},
                        "durationSeconds": {"type": "integer", "minimum": 0.0},
                    },
                    "required": ["direction"],
                },
                "free": {"type": "object"},
            },
        },
        "identityMap": {
            "type": "object",
            "meta:xdmType": "map",
            "additionalProperties": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "primary": {"type": "boolean"}},
                },
            },
        },
    },
    "required": ["_id", "timestamp"],
}

VALID: dict[str, Any] = {
    "_id": "call-0001",
    "timestamp": "2026-11-29T09:30:00Z",
    "identityMap": {"Phone": [{"id": "+14155550100", "primary": True}]},
    "_acme": {
        "phone": "+14155550100",
        "email": "caller@example.com",
        "site": "https://example.com/a",
        "born": "1990-02-28",
        "code": "ABC",
        "score": 9.5,
        "vip": True,
        "tags": ["a", "b"],
        "call": {"direction": "inbound", "durationSeconds": 30},
        "free": {"anything": {"goes": 1}},
    },
}


def refusal(record: dict[str, Any]) -> RecordRefused:
    with pytest.raises(RecordRefused) as caught:
        compile_schema(SCHEMA)(record)
    return caught.value


def changed(path: str, value: Any) -> dict[str, Any]:
    record = copy.deepcopy(VALID)
    *parents, leaf = path.split(".")
    node = record
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(leaf) if isinstance(node, list) else leaf
    if value is KeyError:
        del node[key]
    else:
        node[key] = value
    return record


def test_a_valid_record_passes_and_is_left_unchanged() -> None:
    # Given a record the schema accepts, When it is checked
    record = copy.deepcopy(VALID)
    result = compile_schema(SCHEMA)(record)
    # Then nothing is raised and nothing written into it (no defaults)
    assert result is None
    assert record == VALID


@pytest.mark.parametrize(
    ("path", "value", "field", "reason"),
    [
        ("_acme.call.durationSeconds", "30", "_acme.call.durationSeconds", "must be an integer"),
        ("_acme.call.durationSeconds", 30.0, "_acme.call.durationSeconds", "must be an integer"),
        ("_acme.call.durationSeconds", True, "_acme.call.durationSeconds", "must be an integer"),
        ("_acme.call.durationSeconds", -1, "_acme.call.durationSeconds", "must be at least 0"),
        ("_acme.score", 10, "_acme.score", "must be less than 10"),
        ("_acme.score", "9", "_acme.score", "must be a number"),
        ("_acme.vip", "yes", "_acme.vip", "must be true or false"),
        ("_acme.call.direction", "sideways", "_acme.call.direction", "must be one of inbound, outbound"),
        ("_acme.phone", "123", "_acme.phone", "must be at least 4 characters long"),
        ("_acme.phone", "1" * 21, "_acme.phone", "must be at most 20 characters long"),
        ("_acme.email", "caller.example.com", "_acme.email", "must be an e-mail address"),
        ("_acme.site", "example.com/a", "_acme.site", "must be a URI with a scheme"),
        ("_acme.born", "1990-02-30", "_acme.born", "must be a date (YYYY-MM-DD)"),
        ("_acme.code", "abcd", "_acme.code", "must match the pattern ^[A-Z]{3}$"),
        ("timestamp", "2026-11-29T09:30:00", "timestamp", "must be an RFC 3339 date-time with a timezone"),
        ("timestamp", "2026-13-29T09:30:00Z", "timestamp", "must be an RFC 3339 date-time with a timezone"),
        ("_id", "call 0001", "_id", "must be a URI reference (RFC 3986)"),
        ("_acme.tags", ["a", "b", "c"], "_acme.tags", "must hold at most 2 items"),
        ("_acme.tags.1", 7, "_acme.tags.1", "must be a string"),
        ("_acme.call", "inbound", "_acme.call", "must be an object"),
        ("identityMap.Phone.0.primary", "yes", "identityMap.Phone.0.primary", "must be true or false"),
    ],
)
def test_a_wrong_value_is_refused_with_its_path_and_reason(
    path: str, value: Any, field: str, reason: str
) -> None:
    # Given the valid record with one value wrong, When it is checked
    refused = refusal(changed(path, value))
    # Then the refusal names the field and says why
    assert refused.field == field
    assert refused.reason.startswith(f"{field}: {reason}")


def test_a_missing_required_field_is_refused_at_the_root_and_under_a_present_object() -> None:
    assert refusal(changed("timestamp", KeyError)).reason == "timestamp: is required"
    assert refusal(changed("_acme.call.direction", KeyError)).reason == "_acme.call.direction: is required"


def test_a_required_field_of_an_absent_object_is_not_asked_for() -> None:
    # the nested object is optional: its own required fields apply only when it is there
    compile_schema(SCHEMA)(changed("_acme.call", KeyError))


def test_fields_the_schema_does_not_have_are_refused_at_the_root_and_below_it() -> None:
    assert refusal(changed("workEmail", "x")).reason == "workEmail: is not a field of the schema"
    refused = refusal(changed("_acme.call.unknownField", "x"))
    assert (refused.field, refused.reason) == (
        "_acme.call.unknownField",
        "_acme.call.unknownField: is not a field of the schema",
    )
    assert refusal(changed("identityMap.Phone.0.note", "x")).field == "identityMap.Phone.0.note"


def test_maps_and_objects_without_properties_are_open() -> None:
    record = changed("identityMap.Email", [{"id": "caller@example.com"}])
    record["_acme"]["free"] = {"whatever": [1, "two"]}
    compile_schema(SCHEMA)(record)


def test_a_reason_never_quotes_the_value_nor_a_key_that_is_not_a_field_name() -> None:
    refused = refusal(changed("_acme.email", "jane.doe.example.com"))
    assert "jane" not in refused.reason
    record = copy.deepcopy(VALID)
    record["_acme"]["jane@example.com"] = "x"
    refused = refusal(record)
    assert "jane" not in refused.reason
    assert refused.field == f"_acme.{HIDDEN_KEY}"
    record = copy.deepcopy(VALID)
    record["identityMap"]["jane@example.com"] = [{"id": 1}]
    refused = refusal(record)
    assert "jane" not in (refused.field or "")
    assert refused.field == f"identityMap.{HIDDEN_KEY}.0.id"


def test_the_first_problem_found_is_the_one_reported() -> None:
    record = changed("_acme.call.direction", "sideways")
    record["_acme"]["call"]["durationSeconds"] = -5
    assert refusal(record).field == "_acme.call.direction"


def test_the_json_schema_is_closed_at_every_object_with_properties_and_open_at_maps() -> None:
    closed = to_json_schema(SCHEMA)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["_acme"]["additionalProperties"] is False
    assert closed["properties"]["_acme"]["properties"]["call"]["additionalProperties"] is False
    assert "additionalProperties" not in closed["properties"]["_acme"]["properties"]["free"]
    item = closed["properties"]["identityMap"]["additionalProperties"]["items"]
    assert item["additionalProperties"] is False
    assert "meta:extensible" not in closed
