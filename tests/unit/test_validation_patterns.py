"""aep.validation's ``pattern`` read as JSON Schema reads it (ECMA-262, aep.ecma_regex) and XDM's integer
ranges: what AEP refuses is refused, what it accepts passes; a pattern Python cannot match faithfully is
skipped for its field only (logged with the field and the pattern), never the whole schema."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aep.ecma_regex import MAX_PATTERN_INPUT, PatternError, compile_pattern, translate
from aep.record_rules import RecordRefused
from aep.validation import XDM_INTEGER_RANGES, compile_schema

LONG = 9_007_199_254_740_991


def field(spec: dict[str, Any]) -> Any:
    return compile_schema({"properties": {"f": spec}})


def passes(spec: dict[str, Any], value: Any) -> bool:
    try:
        field(spec)({"f": value})
    except RecordRefused:
        return False
    return True


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        # $ is the very end: Python's $ would also match before a final newline
        ("^[0-9]+$", "123", True),
        ("^[0-9]+$", "123\n", False),
        ("[$]", "a$b", True),  # a literal $ in a class stays one
        (r"^a\$$", "a$", True),
        # \d, \w and \b are ASCII in ECMA
        (r"^\d{3}$", "415", True),
        (r"^\d{3}$", "\u0664\u0661\u0665", False),  # Arabic-Indic digits
        (r"^\w+$", "abc_9", True),
        (r"^\w+$", "zoë", False),
        (r"\bb", "\u00e9b", True),  # é is not a word character: a boundary before b
        # \s is Unicode white space and line terminators in ECMA
        (r"^\s$", "\u00a0", True),
        (r"^\s$", "\u2028", True),
        (r"^\S+$", "a\u3000b", False),
        (r"^[\s,]+$", " ,\u00a0", True),
        # . excludes the four ECMA line terminators
        ("^.$", "\r", False),
        ("^.$", "\u2029", False),
        ("^.$", "é", True),
        # named groups and their back references
        (r"^(?<y>\d{4})-\k<y>$", "2026-2026", True),
        (r"^(?<y>\d{4})-\k<y>$", "2026-2027", False),
        # lookbehind keeps its meaning
        (r"(?<=\$)\d+", "$15", True),
        (r"(?<!\$)\b\d+$", "$15", False),
        # [] matches nothing, [^] anything
        ("a[]", "a", False),
        ("^[^]$", "\n", True),
        # unanchored: searched, not matched whole
        ("[0-9]", "call-7", True),
        ("^[0-9]", "call-7", False),
        # characters Python reads as set operations or escapes are literal in ECMA classes
        ("^[a&~|]+$", "&~|a", True),
    ],
)
def test_a_pattern_is_matched_as_json_schema_does(pattern: str, value: str, matches: bool) -> None:
    assert passes({"type": "string", "pattern": pattern}, value) is matches


def test_a_refusal_names_the_pattern_as_the_schema_writes_it() -> None:
    with pytest.raises(RecordRefused, match=r"^f: must match the pattern \^\[0-9\]\+\$$"):
        field({"type": "string", "pattern": "^[0-9]+$"})({"f": "12\n"})


@pytest.mark.parametrize(
    "pattern",
    [
        r"^\p{L}+$",  # Unicode property escape
        r"^\P{Lu}$",
        r"^\cJ$",  # control escape
        r"^[\S]+$",  # \S inside a class
        r"(?<=a+)b",  # variable-width lookbehind
        "^(a+)+$",  # nested unbounded quantifiers: exponential backtracking
        r"^(\w+\s?)*$",
        r"^(?:(ab)*c)+$",
        "^([a-z]{2,})*$",
    ],
)
def test_a_pattern_python_cannot_match_faithfully_skips_that_field_only(
    pattern: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a schema with that pattern on one field and a checked pattern on another
    schema = {
        "properties": {
            "_acme": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": pattern, "maxLength": 40},
                    "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
                },
            }
        }
    }
    # When it is compiled
    with caplog.at_level(logging.WARNING, logger="aep.validation"):
        validator = compile_schema(schema)
    # Then the field's other rules and the other field's pattern are checked; the pattern itself is not
    validator({"_acme": {"name": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", "code": "ABC"}})
    with pytest.raises(RecordRefused, match=r"^_acme.name: must be at most 40 characters long$"):
        validator({"_acme": {"name": "x" * 41}})
    with pytest.raises(RecordRefused, match=r"^_acme.code: must match the pattern"):
        validator({"_acme": {"code": "abc"}})
    # and it was logged once, naming the field and the pattern
    (logged,) = [r for r in caplog.records if r.name == "aep.validation"]
    assert logged.levelno == logging.WARNING
    assert (logged.__dict__["field"], logged.__dict__["pattern"]) == ("_acme.name", pattern)
    with pytest.raises(PatternError):
        compile_pattern(pattern)


@pytest.mark.parametrize("pattern", ["^(ab)+$", "^(a|b)*$", r"^[a-z]+(\.[a-z]+)?$", "^(x{2}){3}$"])
def test_quantified_groups_without_nested_unbounded_quantifiers_are_checked(pattern: str) -> None:
    compile_pattern(pattern)
    assert not passes({"type": "string", "pattern": pattern}, "#")


def test_a_string_longer_than_the_pattern_limit_is_not_matched() -> None:
    spec = {"type": "string", "pattern": "^[a-z]+$"}
    assert not passes(spec, "a" * (MAX_PATTERN_INPUT - 1) + "A")
    assert passes(spec, "a" * MAX_PATTERN_INPUT + "A")


def test_translate_writes_the_python_spelling() -> None:
    assert translate(r"^(?<n>\d+)\k<n>$") == r"^(?P<n>\d+)(?P=n)\Z"
    assert translate("[$^]$") == r"[$^]\Z"
    assert translate(r"\A\Z") == "AZ"  # identity escapes in ECMA, anchors in Python


@pytest.mark.parametrize(
    ("spec", "value", "ok"),
    [
        ({"type": "integer", "minimum": 0}, 10**30, False),
        ({"type": "integer"}, LONG, True),
        ({"type": "integer"}, LONG + 1, False),
        ({"type": "integer"}, -LONG, True),
        ({"type": "integer"}, -LONG - 1, False),
        ({"type": "integer", "meta:xdmType": "long"}, LONG + 1, False),
        ({"type": "integer", "meta:xdmType": "int"}, 2_147_483_648, True),
        ({"type": "integer", "meta:xdmType": "int"}, 2_147_483_649, False),
        ({"type": "integer", "meta:xdmType": "short"}, -32_768, True),
        ({"type": "integer", "meta:xdmType": "short"}, 32_768, False),
        ({"type": "integer", "meta:xdmType": "byte"}, -129, False),
        ({"type": "integer", "meta:xdmType": "unknown"}, LONG + 1, False),  # an unknown name: Long
        ({"type": "number"}, 10**30, True),  # a double, not an XDM integer
    ],
)
def test_an_integer_is_held_to_its_xdm_type(spec: dict[str, Any], value: int, ok: bool) -> None:
    assert passes(spec, value) is ok


def test_an_integer_outside_its_xdm_type_is_refused_with_the_range() -> None:
    low, high = XDM_INTEGER_RANGES["short"]
    with pytest.raises(RecordRefused, match=rf"^f: must be between {low} and {high} \(XDM short\)$"):
        field({"type": "integer", "meta:xdmType": "short"})({"f": high + 1})
    # and a bound of the schema's own is reported first
    with pytest.raises(RecordRefused, match=r"^f: must be at most 10$"):
        field({"type": "integer", "maximum": 10})({"f": 10**30})
