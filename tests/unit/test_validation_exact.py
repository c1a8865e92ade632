"""aep.validation, exactly: the reasons of a type the connector cannot check, of a number's bounds and enum
and of an array's minimum count; a date that is not YYYY-MM-DD; the field an array item's pattern is logged
under (found missing by `make mutate`)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aep.record_rules import RecordRefused
from aep.validation import compile_schema


def refusal(spec: dict[str, Any], value: Any) -> str | None:
    """The reason ``value`` is refused as field ``f`` of a schema with ``spec`` (None: it passes)."""
    validator = compile_schema({"properties": {"f": spec}})
    try:
        validator({"f": value})
    except RecordRefused as refused:
        return str(refused)
    return None


def test_a_field_of_a_type_the_connector_cannot_check_is_refused_naming_the_type() -> None:
    assert refusal({"type": "tuple"}, "x") == "f: has a type the connector cannot check (tuple)"


@pytest.mark.parametrize("text", ["20260101", "2026-1-01", "01/01/2026", "2026-01-01T00:00:00Z"])
def test_a_date_that_is_not_written_yyyy_mm_dd_is_refused(text: str) -> None:
    assert refusal({"type": "string", "format": "date"}, text) == "f: must be a date (YYYY-MM-DD)"


def test_a_date_written_yyyy_mm_dd_passes() -> None:
    assert refusal({"type": "string", "format": "date"}, "2026-01-01") is None


@pytest.mark.parametrize(
    ("spec", "value", "reason"),
    [
        ({"type": "number", "minimum": 0.0}, -1, "f: must be at least 0"),
        ({"type": "number", "exclusiveMaximum": 2.5}, 2.5, "f: must be less than 2.5"),
        ({"type": "integer", "maximum": 7.0}, 8, "f: must be at most 7"),
        ({"type": "number", "exclusiveMinimum": -0.25}, -1, "f: must be more than -0.25"),
    ],
)
def test_a_numeric_bound_is_shown_as_written_and_a_whole_one_without_decimals(
    spec: dict[str, Any], value: float, reason: str
) -> None:
    assert refusal(spec, value) == reason


def test_a_number_field_is_not_held_to_the_xdm_integer_ranges() -> None:
    assert refusal({"type": "number"}, 1e300) is None
    assert refusal({"type": "number"}, -(2**60)) is None
    assert refusal({"type": "integer"}, 2**60) == (
        "f: must be between -9007199254740991 and 9007199254740991 (XDM long)"
    )


@pytest.mark.parametrize("kind", ["integer", "number"])
def test_a_numeric_enum_admits_its_values_only(kind: str) -> None:
    spec = {"type": kind, "enum": [1, 2]}
    assert refusal(spec, 1) is None
    assert refusal(spec, 2) is None
    assert refusal(spec, 3) == "f: must be one of 1, 2"


def test_an_array_shorter_than_its_min_items_is_refused() -> None:
    spec = {"type": "array", "items": {"type": "string"}, "minItems": 2}
    assert refusal(spec, ["a"]) == "f: must hold at least 2 items"
    assert refusal(spec, []) == "f: must hold at least 2 items"
    assert refusal(spec, ["a", "b"]) is None


def test_an_empty_array_is_refused_when_one_item_is_the_minimum() -> None:
    spec = {"type": "array", "minItems": 1}
    assert refusal(spec, []) == "f: must hold at least 1 items"
    assert refusal(spec, ["a"]) is None


def test_a_min_items_that_is_not_an_integer_is_not_checked() -> None:
    assert refusal({"type": "array", "minItems": "2"}, ["a"]) is None
    assert refusal({"type": "array", "minItems": 2.0}, ["a"]) is None


def test_a_pattern_of_array_items_that_is_not_checked_is_logged_under_the_items_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = {
        "properties": {
            "_acme": {
                "type": "object",
                "properties": {
                    "tags": {"type": "array", "items": {"type": "string", "pattern": r"^\p{L}+$"}}
                },
            }
        }
    }
    with caplog.at_level(logging.WARNING, logger="aep.validation"):
        compile_schema(schema)
    (logged,) = [r for r in caplog.records if r.name == "aep.validation"]
    assert logged.__dict__["field"] == "_acme.tags[]"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-29T09:30:00Z",
        "2026-11-29t09:30:00z",
        "2026-11-29T09:30:00.125+01:00",
        "2026-11-29T09:30:00-05:00",
    ],
)
def test_an_rfc_3339_date_time_passes_in_either_case_with_z_or_an_offset(text: str) -> None:
    assert refusal({"type": "string", "format": "date-time"}, text) is None
