"""The record rules' fast paths give what the slow ones gave: the plain-record check against the pydantic
models, and the compact encoders against ``json.dumps``."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from aep import record_rules, strict_json
from aep.record_rules import RecordRefused, RecordRules, check_record, plainly_valid
from aep.streaming import encode

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DATASET = "65f0c0a1e4b0c1d2e3f40002"

TIMESTAMPS = [
    "2026-11-29T09:30:00Z",
    "2026-11-29T09:30:00.5Z",
    "2026-11-29T09:30:00.123456+05:30",
    "2026-11-29T09:30:00.1234567Z",  # more than microseconds: left to pydantic
    "2026-11-29t09:30:00z",  # lowercase: left to pydantic
    "2024-02-29T23:59:59-23:59",
    "2026-02-29T10:00:00Z",  # no such day
    "2026-13-01T10:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T10:60:00Z",
    "2026-01-01T10:00:60Z",
    "2026-01-01T10:00:00+24:00",
    "2026-01-01T10:00:00-00:00",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-01-01T10:00:00",  # no offset
    "2026-01-01",
    "1764408600",
    "٢٠٢٦-01-01T10:00:00Z",  # Arabic-Indic digits
    "2026-11-29T09:30:00Z ",
]
IDS = ["call-1", "é", "a\ud800b", 7, 1.5, True, [], {"x": 1}, " "]
ENTRIES = [
    {"id": "+14155550100", "primary": True},
    {"id": "+14155550100"},
    {"id": "x", "primary": False, "authenticatedState": "ambiguous"},
    {"id": "x", "primary": "true"},
    {"id": "x", "primary": 1},
    {"id": "x", "primary": None},
    {"id": 5},
    {"id": "jane\udc00@example.com"},
    {"primary": True},
    "x",
    None,
]
NAMESPACES = ["Phone", "Email", "\ud800", ""]


def record_variants(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out = []
    for _ in range(count):
        record: dict[str, Any] = {"eventType": "ivr.call"}
        if rng.random() < 0.9:
            record["timestamp"] = rng.choice([*TIMESTAMPS, None, 5])
        if rng.random() < 0.3:
            record["_id"] = rng.choice(IDS)
        shape = rng.random()
        if shape < 0.7:
            record["identityMap"] = {
                rng.choice(NAMESPACES): [rng.choice(ENTRIES) for _ in range(rng.randint(0, 2))]
                for _ in range(rng.randint(1, 2))
            }
        elif shape < 0.8:
            record["identityMap"] = rng.choice([[], "Phone", 3, {}, {"Phone": "x"}])
        if rng.random() < 0.05:
            record[rng.choice(["id", "identity_map"])] = rng.choice(IDS)
        out.append(record)
    return out


def models_answer(record: dict[str, Any], event: bool) -> tuple[datetime | None, bool] | str:
    try:
        return record_rules._validated(record, event=event)
    except RecordRefused as exc:
        return f"refused: {exc.reason}"


@pytest.mark.parametrize("event", [True, False])
def test_a_record_the_fast_check_accepts_is_one_the_models_accept_with_the_same_answer(event):
    taken = 0
    for record in record_variants(3_000):
        fast = plainly_valid(record, event=event)
        if fast is None:
            continue
        taken += 1
        assert fast == models_answer(record, event), record

    assert taken > 100  # the fast check is taken for the plain records, not never


@pytest.mark.parametrize("text", TIMESTAMPS)
def test_each_timestamp_is_read_as_the_models_read_it_or_left_to_them(text):
    record = {"timestamp": text, "identityMap": {"Phone": [{"id": "+14155550100"}]}}

    fast = plainly_valid(record, event=True)

    assert fast is None or fast == models_answer(record, True)


def test_a_plain_event_is_judged_without_the_models(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the models were asked")

    monkeypatch.setattr(record_rules._Event, "model_validate", refuse)
    record = {
        "timestamp": "2026-11-29T09:30:00Z",
        "identityMap": {"Phone": [{"id": "+14155550100", "primary": True}]},
        "_acme": {"call": {"durationSeconds": 30}},
    }

    checked = check_record(record, RecordRules(), dataset_id=DATASET, now=NOW)

    assert checked["identityMap"] == {"Phone": [{"id": "+14155550100", "primary": True}]}
    assert len(checked["_id"]) == 64


def test_a_plain_event_in_the_future_is_still_refused_as_such():
    record = {"timestamp": "2026-11-29T12:01:01Z", "identityMap": {"Phone": [{"id": "+14155550100"}]}}

    with pytest.raises(RecordRefused) as caught:
        check_record(record, RecordRules(), dataset_id=DATASET, now=NOW)

    assert (caught.value.field, caught.value.reason) == ("timestamp", "timestamp: is in the future")


def values(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.randint(-(10**25), 10**25)
    if kind == 1:
        return rng.choice([0.1, -0.0, 1e300, 5e-324, 2.5, 1e16, 123456.789])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind in (3, 4, 5):
        return "".join(rng.choice('ab"\\\n\t\x00\x1f/é\u2028\U0001f600<>&') for _ in range(rng.randint(0, 8)))
    if kind in (6, 7):
        return {
            "".join(rng.choice("zyxé_") for _ in range(rng.randint(0, 3))): values(rng, depth + 1)
            for _ in range(rng.randint(0, 4))
        }
    return [values(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def test_the_compact_encoders_write_what_json_dumps_writes():
    rng = random.Random(11)
    canonical = strict_json.compact_encoder(sort_keys=True)
    for _ in range(2_000):
        value = {"k": values(rng)}
        assert (
            encode(value)
            == json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        )
        assert canonical(value) == json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )


def test_the_wire_encoder_refuses_what_json_dumps_refuses():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
            encode({"x": bad})
    with pytest.raises(UnicodeEncodeError):
        encode({"x": "\ud800"})


def unavailable(*args: Any) -> Any:
    raise TypeError("c_make_encoder() takes other arguments")


def differing(*args: Any) -> Any:
    return lambda value, level: ["not", "json"]


@pytest.mark.parametrize("make", [None, unavailable, differing])
def test_without_a_usable_c_encoder_the_encoder_object_writes_the_same_text(monkeypatch, make):
    monkeypatch.setattr(strict_json, "_C_MAKE_ENCODER", make)
    value = {"z": [1, 2.5, "é"], "a": None}

    wire = strict_json.compact_encoder(allow_nan=False)
    canonical = strict_json.compact_encoder(sort_keys=True)

    assert wire(value) == '{"z":[1,2.5,"é"],"a":null}'
    assert canonical(value) == '{"a":null,"z":[1,2.5,"é"]}'
    with pytest.raises(ValueError, match="Out of range float"):
        wire({"x": float("nan")})
