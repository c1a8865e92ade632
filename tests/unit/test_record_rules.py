"""aep.record_rules and aep.strict_json: how a record is judged, whichever function reads it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from aep import strict_json
from aep.record_rules import (
    MAX_RECORD_BYTES,
    NOT_AN_OBJECT,
    TOO_DEEP,
    RecordRefused,
    RecordRules,
    check_record,
    check_size,
    deterministic_id,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DATASET = "65f0c0a1e4b0c1d2e3f40002"


def event(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timestamp": "2026-11-29T09:30:00Z",
        "identityMap": {"Phone": [{"id": "(555) 123-4567", "primary": True}]},
    }
    record.update(fields)
    return record


def refusal(entity: Any, rules: RecordRules | None = None) -> tuple[str | None, str]:
    with pytest.raises(RecordRefused) as caught:
        check_record(entity, rules or RecordRules(), dataset_id=DATASET, now=NOW)
    return caught.value.field, caught.value.reason


def test_an_event_is_cleaned_normalised_and_given_a_deterministic_id():
    record = check_record(event(note="", extra=None), RecordRules(), dataset_id=DATASET, now=NOW)

    assert record["identityMap"] == {"Phone": [{"id": "+15551234567", "primary": True}]}
    assert "note" not in record
    assert "extra" not in record
    without_id = {k: v for k, v in record.items() if k != "_id"}
    assert record["_id"] == deterministic_id(without_id, DATASET)


@pytest.mark.parametrize("value", [42, 0, -7, 12345678901234567890123456789])
def test_an_integer_id_becomes_its_exact_decimal_string(value):
    record = check_record(event(_id=value), RecordRules(), dataset_id=DATASET, now=NOW)

    assert record["_id"] == str(value)


@pytest.mark.parametrize("value", [42.0, True, False, ["a"], {"a": 1}])
def test_any_other_id_type_is_refused(value):
    field, reason = refusal(event(_id=value))

    assert field == "_id"
    assert reason.startswith("_id: ")


def test_an_integer_id_of_a_profile_is_converted_too():
    rules = RecordRules(record_class="profile")

    record = check_record(
        {"_id": 7, "identityMap": {"Email": [{"id": "A@B.co"}]}}, rules, dataset_id="d", now=NOW
    )

    assert record == {"_id": "7", "identityMap": {"Email": [{"id": "a@b.co"}]}}


@pytest.mark.parametrize("entity", [[1], "text", 3, None, True])
def test_a_value_that_is_no_object_is_refused(entity):
    assert refusal(entity) == (None, NOT_AN_OBJECT)


def test_a_record_deeper_than_python_can_recurse_is_refused_not_raised():
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    node["b"] = 1

    assert refusal(event(deep=deep)) == (None, TOO_DEEP)


def test_an_identity_only_in_nulls_is_missing():
    assert refusal(event(identityMap={"Phone": [{"id": None}]}))[0] == "identityMap"


def test_size_is_checked_in_bytes_at_the_limit():
    check_size(b"x" * MAX_RECORD_BYTES)
    with pytest.raises(RecordRefused) as caught:
        check_size(b"x" * (MAX_RECORD_BYTES + 1))

    assert caught.value.status == 413
    assert caught.value.reason == "the record is 1000001 bytes; AEP accepts at most 1 MB per record"


def test_rules_from_configuration_add_the_identity_namespace_to_the_defaults():
    rules = RecordRules.build(identity_field="_acme.crm", identity_namespace="CRMID", record_class="profile")

    assert rules.namespaces == frozenset({"phone", "email", "ecid", "crmid"})
    assert rules.identity_field == "_acme.crm"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"identity_field": "_acme.crm"}, "go together"),
        ({"identity_namespace": "CRMID"}, "go together"),
        ({"allowed": ["Phone"], "identity_field": "x", "identity_namespace": "CRMID"}, "must include CRMID"),
        ({"default_phone_region": "us"}, "two capital letters"),
    ],
)
def test_rules_that_do_not_fit_together_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RecordRules.build(**kwargs)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": 1, "a": 2}', strict_json.DUPLICATE_KEY),
        ('{"x": {"jane@example.com": 1, "jane@example.com": 2}}', strict_json.DUPLICATE_KEY),
        ('{"a": NaN}', strict_json.NON_JSON_CONSTANT),
        ('{"a": 1e999}', strict_json.OUT_OF_RANGE),
        ('{"_id": ' + "9" * 5000 + "}", strict_json.TOO_MANY_DIGITS),  # Python's own limit: 4,300
        ('{"_id": -' + "9" * 4301 + "}", strict_json.TOO_MANY_DIGITS),
    ],
)
def test_strict_json_refuses_what_aep_refuses_without_quoting_the_text(text, reason):
    with pytest.raises(strict_json.StrictJsonError) as caught:
        strict_json.loads(text)

    assert str(caught.value) == reason
    assert "jane" not in str(caught.value)


def test_strict_json_reads_utf8_bytes_and_refuses_other_bytes():
    assert strict_json.loads('{"n": "é"}'.encode()) == {"n": "é"}
    with pytest.raises(ValueError, match="utf-8"):
        strict_json.loads('{"n": "é"}'.encode("latin-1"))


def test_integers_up_to_pythons_digit_limit_are_read_exactly():
    assert strict_json.loads("[-" + "9" * 4300 + "]") == [-int("9" * 4300)]
    assert strict_json.loads('{"n": 12}') == {"n": 12}


def test_same_key_in_different_objects_is_fine():
    assert strict_json.loads(json.dumps({"a": {"k": 1}, "b": {"k": 2}})) == {"a": {"k": 1}, "b": {"k": 2}}


def test_rules_from_configuration_keep_every_setting_and_default_to_sixty_seconds_of_skew():
    rules = RecordRules.build(
        record_class="profile",
        allowed=["Phone", "CRMID"],
        identity_field="_acme.crm",
        identity_namespace="CRMID",
        default_phone_region="GB",
    )

    assert rules == RecordRules(
        record_class="profile",
        namespaces=frozenset({"phone", "crmid"}),
        identity_field="_acme.crm",
        identity_namespace="CRMID",
        default_phone_region="GB",
        max_clock_skew_seconds=60.0,
    )
    assert RecordRules.build(max_clock_skew_seconds=5).max_clock_skew_seconds == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"identity_field": "x"}, "an identity field and its namespace go together (set both or neither)"),
        (
            {"default_phone_region": "gb"},
            "the default phone region must be two capital letters (ISO 3166), such as US",
        ),
    ],
)
def test_rules_that_do_not_fit_say_exactly_why(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        RecordRules.build(**kwargs)

    assert str(caught.value) == message


def test_empty_strings_nulls_and_emptied_containers_inside_arrays_are_dropped_too():
    from aep.record_rules import clean

    assert clean({"tags": ["", "vip", None, {}, [], {"a": ""}, 0, False]}) == {"tags": ["vip", 0, False]}
