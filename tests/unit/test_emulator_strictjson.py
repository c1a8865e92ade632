"""The emulator's strict JSON: what AEP's parsers refuse, refused (pure functions, no network)."""

from __future__ import annotations

from typing import Any

import pytest

from aep_emulator.strictjson import Invalid, first_invalid, loads, loads_marked


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("NaN", "NaN is not allowed"),
        ('{"a": [1, Infinity]}', "Infinity is not allowed"),
        ('[{"b": -Infinity}]', "-Infinity is not allowed"),
        ('{"a": 1, "a": 1}', "duplicate key 'a'"),
        ('{"outer": {"k": 1, "k": 2}}', "duplicate key 'k'"),
        ("{" + f'"{"x" * 150}": 1, "{"x" * 150}": 2' + "}", f"duplicate key {'x' * 100!r}"),
    ],
)
def test_loads_refuses_constants_and_duplicate_keys(text, reason):
    with pytest.raises(ValueError, match="^" + reason.replace("[", r"\[") + "$"):
        loads(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            '{"a": 1.5e3, "b": [true, null, "NaN"], "c": {"a": 1}}',
            {"a": 1500.0, "b": [True, None, "NaN"], "c": {"a": 1}},
        ),
        (b'{"caf\xc3\xa9": "\xe2\x80\xa8"}', {"café": "\u2028"}),
        ("[]", []),
    ],
)
def test_loads_accepts_strict_json(text, value):
    assert loads(text) == value


def test_loads_refuses_bad_syntax_and_non_utf8_bytes():
    with pytest.raises(ValueError, match="Expecting property name"):
        loads("{")
    with pytest.raises(UnicodeDecodeError):
        loads(b'"\xff"')


def test_loads_marked_keeps_the_good_parts_and_marks_the_bad():
    value = loads_marked('{"messages": [{"a": 1}, {"b": NaN}, {"c": 1, "c": 2}]}')

    good, constant, duplicate = value["messages"]
    assert good == {"a": 1}
    assert isinstance(constant["b"], Invalid)
    assert constant["b"].reason == "NaN is not allowed"
    assert isinstance(duplicate, Invalid)
    assert duplicate.reason == "duplicate key 'c'"
    assert repr(duplicate) == "Invalid(\"duplicate key 'c'\")"


def test_first_invalid_is_depth_first_in_document_order():
    first, second = Invalid("first"), Invalid("second")

    assert first_invalid({"a": [1, {"b": first}], "c": second}) is first
    assert first_invalid([[second], first]) is second
    assert first_invalid({"a": [1, {"b": 2}], "c": "x"}) is None
    assert first_invalid(first) is first


def test_first_invalid_walks_deep_values_without_recursion():
    deep: Any = Invalid("bottom")
    for _ in range(50_000):
        deep = [deep]

    found = first_invalid({"x": deep})

    assert found is not None
    assert found.reason == "bottom"
