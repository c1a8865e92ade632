"""CSV mapping: the model a route names, and how one row's cells become an XDM object."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from batch_ingest import csv_mapping
from batch_ingest.csv_mapping import CsvMapping, FieldError

EVENT = {"timestamp": {"column": "ts"}}


def mapping(**fields: Any) -> CsvMapping:
    return CsvMapping.model_validate({**EVENT, **fields})


def build(cells: dict[str, str], **fields: Any) -> dict[str, Any]:
    return mapping(**fields).build(cells)


def cell_error(cells: dict[str, str], **fields: Any) -> FieldError:
    with pytest.raises(FieldError) as caught:
        build(cells, **fields)
    return caught.value


def test_the_documented_form_is_a_valid_mapping():
    doc = csv_mapping.__doc__ or ""
    example = doc.split("Its form, with every option::", 1)[1].split("\n\nTypes:", 1)[0]

    loaded = CsvMapping.model_validate(yaml.safe_load(example))

    assert loaded.record_class == "experienceevent"
    assert loaded.columns["caller_name"].path == "_acme.caller.name"
    assert loaded.columns["started"].timezone == "Europe/Paris"
    assert [identity.namespace for identity in loaded.identities] == ["Phone", "CRMID"]
    assert loaded.timestamp is not None
    assert loaded.timestamp.format == "epoch-millis"


def test_a_row_becomes_nested_xdm_with_identities_id_and_timestamp():
    row = {
        "name": "Ada",
        "n": "42",
        "phone": "+15551234567",
        "crm": "C-1",
        "call": "c1",
        "ts": "1764408600000",
    }

    record = build(
        row,
        columns={"name": "_acme.caller.name", "n": {"path": "_acme.call.count", "type": "integer"}},
        identities=[
            {"column": "phone", "namespace": "Phone", "primary": True},
            {"column": "crm", "namespace": "CRMID"},
        ],
        id_column="call",
        timestamp={"column": "ts", "format": "epoch-millis"},
    )

    assert record == {
        "_acme": {"caller": {"name": "Ada"}, "call": {"count": 42}},
        "identityMap": {"Phone": [{"id": "+15551234567", "primary": True}], "CRMID": [{"id": "C-1"}]},
        "_id": "c1",
        "timestamp": "2025-11-29T09:30:00.000Z",
    }


@pytest.mark.parametrize("cell", ["+15551234567", "=SUM(A1:A3)", "-2+3", "@handle", "+1 (555) 123-4567"])
def test_formula_looking_cells_are_data_and_go_unchanged(cell):
    record = build(
        {"x": cell, "p": cell, "ts": "2026-01-01T00:00:00Z"},
        columns={"x": "_acme.note"},
        identities=[{"column": "p", "namespace": "Phone"}],
    )

    assert record["_acme"]["note"] == cell
    assert record["identityMap"]["Phone"] == [{"id": cell}]


def test_empty_and_blank_cells_are_left_out():
    record = build(
        {"a": "", "b": "   ", "c": "kept", "n": "", "p": " ", "id": "", "ts": ""},
        columns={"a": "_x.a", "b": "_x.b", "c": "_x.c", "n": {"path": "_x.n", "type": "integer"}},
        identities=[{"column": "p", "namespace": "Phone"}],
        id_column="id",
    )

    assert record == {"_x": {"c": "kept"}}


def test_string_cells_keep_their_spaces():
    assert build({"a": "  two words ", "ts": "2026-01-01T00:00:00Z"}, columns={"a": "_x.a"})["_x"]["a"] == (
        "  two words "
    )


@pytest.mark.parametrize(
    ("kind", "cell", "value"),
    [
        ("integer", "42", 42),
        ("integer", " -7 ", -7),
        ("integer", "+3", 3),
        ("integer", "123456789012345678901234567890", 123456789012345678901234567890),
        ("number", "1.5", 1.5),
        ("number", "-0.25e2", -25.0),
        ("number", ".5", 0.5),
        ("number", "10", 10),
        ("boolean", "TRUE", True),
        ("boolean", "yes", True),
        ("boolean", "Y", True),
        ("boolean", "1", True),
        ("boolean", "false", False),
        ("boolean", "No", False),
        ("boolean", "n", False),
        ("boolean", "0", False),
        ("phone", "(415) 555-0100", "+14155550100"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("email", " Ada@Example.com ", "Ada@Example.com"),
        ("date-time", "2026-11-29T09:30:00+01:00", "2026-11-29T09:30:00+01:00"),
    ],
)
def test_typed_cells_are_converted(kind, cell, value):
    record = build({"c": cell, "ts": "2026-01-01T00:00:00Z"}, columns={"c": {"path": "_x.v", "type": kind}})

    assert record["_x"]["v"] == value
    assert type(record["_x"]["v"]) is type(value)


@pytest.mark.parametrize(
    ("kind", "cell", "reason"),
    [
        ("integer", "4.2", "not an integer"),
        ("integer", "12abc", "not an integer"),
        ("integer", "1e3", "not an integer"),
        ("number", "1,5", "not a number"),
        ("number", "NaN", "not a number"),
        ("number", "Infinity", "not a number"),
        ("number", "1e999", "a number too large for a double"),
        ("boolean", "maybe", "not a boolean"),
        ("phone", "call me", "phone number has characters other than digits"),
        ("phone", "123", "phone number"),
        ("email", "no-at-sign", "not an e-mail address"),
        ("email", "a@b@c", "not an e-mail address"),
        ("date-time", "2026-11-29 09:30", "not an RFC 3339 date-time"),
        ("date-time", "2026-11-29T09:31:00", "not an RFC 3339 date-time"),
    ],
)
def test_a_cell_of_the_wrong_type_is_the_rows_error_naming_the_column(kind, cell, reason):
    error = cell_error(
        {"amount": cell, "ts": "2026-01-01T00:00:00Z"}, columns={"amount": {"path": "_x.v", "type": kind}}
    )

    assert error.field == "amount"
    assert error.reason.startswith(reason)
    assert cell.strip() not in error.reason


@pytest.mark.parametrize(
    ("rule", "cell", "expected"),
    [
        ({"format": "rfc3339"}, "2026-11-29T09:30:00.5Z", "2026-11-29T09:30:00.5Z"),
        ({"format": "epoch-millis"}, "0", "1970-01-01T00:00:00.000Z"),
        ({"format": "epoch-millis"}, "1764408600123", "2025-11-29T09:30:00.123Z"),
        ({"format": "epoch-seconds"}, "1764408600", "2025-11-29T09:30:00Z"),
        (
            {"format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"},
            "29/11/2026 09:30",
            "2026-11-29T09:30:00+01:00",
        ),
        (
            {"format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"},
            "29/07/2026 09:30",
            "2026-07-29T09:30:00+02:00",
        ),
        ({"format": "%Y-%m-%d %H:%M:%S", "timezone": "UTC"}, "2026-11-29 09:30:00", "2026-11-29T09:30:00Z"),
        ({"format": "%Y-%m-%d %H:%M:%S%z"}, "2026-11-29 09:30:00-0500", "2026-11-29T09:30:00-05:00"),
    ],
)
def test_timestamp_formats_become_rfc3339(rule, cell, expected):
    record = build({"when": cell}, timestamp={"column": "when", **rule}, columns={"when": "_x.raw"})

    assert record["timestamp"] == expected
    assert record["_x"]["raw"] == cell


@pytest.mark.parametrize(
    ("rule", "cell"),
    [
        ({"format": "epoch-millis"}, "1764408600.5"),
        ({"format": "epoch-millis"}, "9" * 30),
        ({"format": "epoch-seconds"}, "yesterday"),
        ({"format": "%d/%m/%Y", "timezone": "UTC"}, "2026-11-29"),
        ({"format": "rfc3339"}, "29/11/2026"),
    ],
)
def test_a_bad_timestamp_is_the_rows_error(rule, cell):
    error = cell_error({"when": cell}, timestamp={"column": "when", **rule}, columns={"x": "_x.x"})

    assert error.field == "when"
    assert cell not in error.reason


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timestamp": None, "columns": {"a": "_x.a"}}, "needs a timestamp rule"),
        ({"record_class": "profile", "columns": {"a": "_x.a"}}, "experienceevent mappings only"),
        ({"columns": {}}, "needs columns or identities"),
        ({"columns": {"a": "_id"}}, "set by its own rule"),
        ({"columns": {"a": "timestamp"}}, "set by its own rule"),
        ({"columns": {"a": "identityMap.Phone"}}, "set by its own rule"),
        ({"columns": {"a": "_x..a"}}, "dotted XDM field names"),
        ({"columns": {"a": "_x.a-b"}}, "dotted XDM field names"),
        ({"columns": {"a": "_x.a", "b": "_x.a"}}, "two columns write to _x.a"),
        ({"columns": {"a": "_x.a", "b": "_x.a.b"}}, "two columns write to _x.a"),
        ({"columns": {"a": {"path": "_x.a", "type": "text"}}}, "type"),
        ({"columns": {"a": {"path": "_x.a", "format": "%Y"}}}, "only to a date-time column"),
        ({"columns": {"a": {"path": "_x.a", "type": "date-time", "format": "%Y-%m-%d"}}}, "needs a timezone"),
        ({"columns": {"a": {"path": "_x.a", "type": "date-time", "format": "YYYY"}}}, "strptime format"),
        (
            {"columns": {"a": {"path": "_x.a", "type": "date-time", "timezone": "UTC"}}},
            "timezone applies only",
        ),
        ({"timestamp": {"column": "t", "format": "%H", "timezone": "Mars/Olympus"}}, "unknown timezone"),
        ({"columns": {"a": "_x.a"}, "delimiter": "|"}, "delimiter"),
        ({"columns": {"a": "_x.a"}, "phone_region": "usa"}, "phone_region"),
        ({"columns": {"a": "_x.a"}, "columns_typo": {}}, "columns_typo"),
        ({"identities": [{"column": "p"}]}, "namespace"),
    ],
)
def test_a_bad_mapping_is_refused_when_loaded(fields, message):
    with pytest.raises(ValidationError, match=message):
        CsvMapping.model_validate({**EVENT, **fields})


def test_a_profile_mapping_needs_no_timestamp():
    profile = CsvMapping.model_validate(
        {
            "record_class": "profile",
            "identities": [{"column": "email", "namespace": "Email", "primary": True}],
        }
    )

    assert profile.build({"email": "Ada@Example.com"}) == {
        "identityMap": {"Email": [{"id": "Ada@Example.com", "primary": True}]}
    }


def test_needed_columns_are_every_column_read_once():
    loaded = mapping(
        columns={"a": "_x.a", "p": {"path": "_x.p", "type": "phone"}},
        identities=[{"column": "p", "namespace": "Phone"}, {"column": "e", "namespace": "Email"}],
        id_column="id",
    )

    assert loaded.needed_columns() == ["a", "p", "e", "id", "ts"]


def test_a_phone_column_uses_the_mappings_region():
    record = build(
        {"p": "020 7946 0958", "ts": "2026-01-01T00:00:00Z"},
        columns={"p": {"path": "_x.p", "type": "phone"}},
        phone_region="GB",
    )

    assert record["_x"]["p"] == "+442079460958"
