"""The emulator's schema checks (aep_emulator.conformance): formats are never passed unchecked for want of
a package, and each channel checks what AEP's does."""

from __future__ import annotations

import pytest
from jsonschema import FormatChecker

from aep_emulator import conformance
from aep_emulator.conformance import SchemaCheck

SCHEMA = {
    "properties": {
        "contact": {
            "type": "object",
            "properties": {
                "email": {"type": "string", "format": "email"},
                "site": {"type": "string", "format": "uri"},
                "code": {"type": "string", "pattern": "^C[0-9]+$"},
                "since": {"type": "string", "format": "date-time"},
            },
        },
        "identityMap": {"type": "object", "meta:xdmType": "map", "additionalProperties": {"type": "array"}},
    }
}


@pytest.mark.parametrize("channel", ["streaming", "batch"])
def test_a_format_whose_package_is_missing_stops_the_emulator(monkeypatch, channel):
    # Given jsonschema without its date-time checker (rfc3339-validator not installed)
    monkeypatch.setattr(conformance, "_CHECKERS", {})
    without = {k: v for k, v in FormatChecker.checkers.items() if k != "date-time"}
    monkeypatch.setattr(FormatChecker, "checkers", without)

    # When a schema is compiled, then it refuses, naming the format and the package
    with pytest.raises(RuntimeError, match=r"date-time \(rfc3339-validator\)"):
        SchemaCheck(SCHEMA, channel)


@pytest.mark.parametrize(
    ("field", "value", "streaming", "batch"),
    [
        ("email", "someone@example.com", None, None),
        ("email", "someone@localhost", "format", None),
        ("email", "someone", "format", None),
        ("site", "https://example.com/a", None, None),
        ("site", "no scheme", "format", None),
        ("code", "X1", "pattern", None),
        ("since", "2026-01-02T03:04:05+01:00", None, None),
        ("since", "2026-01-02 03:04", "format", "format"),
        ("nickname", "x", "additionalProperties", "additionalProperties"),
    ],
)
def test_each_channel_checks_what_aep_checks(field, value, streaming, batch):
    record = {"contact": {field: value}, "identityMap": {"AnyNamespace": [{"id": "1"}]}}

    found = {
        channel: [(v.path, v.keyword) for v in SchemaCheck(SCHEMA, channel).violations(record)]
        for channel in ("streaming", "batch")
    }

    assert found["streaming"] == ([(f"contact.{field}", streaming)] if streaming else [])
    assert found["batch"] == ([(f"contact.{field}", batch)] if batch else [])
