"""plan and apply against the emulator compare every rule of an existing field, not only its type: a
changed enum, bound, length, title or array item type is drift (AEP documents no change of an existing
field, only new fields), reported by plan and apply, and never written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aep.setup import SetupApi, SetupFile, apply, load, plan
from aep.setup.__main__ import setup_api
from aep_emulator import Emulator
from tests.integration.conftest import Admin
from tests.integration.test_setup_converge import EXAMPLE, FAST, edited, env_of, platform_writes

CALL = ("fieldGroups", 1, "fields", "call", "properties")
CALL_GROUP = "Call Center Setup Call"


@pytest.fixture
def example() -> SetupFile:
    return load(EXAMPLE)


@pytest.fixture
def api(emulator: Emulator) -> SetupApi:
    return setup_api(env_of(emulator), FAST)


def _at(data: dict[str, Any], path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def _enum_extended(d: dict[str, Any]) -> None:
    _at(d, CALL)["direction"]["enum"].append("internal")


def _minimum_raised(d: dict[str, Any]) -> None:
    _at(d, CALL)["durationSeconds"]["minimum"] = 5


def _maximum_added(d: dict[str, Any]) -> None:
    _at(d, CALL)["durationSeconds"]["maximum"] = 86400


def _max_length_added(d: dict[str, Any]) -> None:
    d["fieldGroups"][0]["fields"]["phone"]["maxLength"] = 3


def _title_changed(d: dict[str, Any]) -> None:
    _at(d, CALL)["queue"]["title"] = "Queue name"


def _format_added(d: dict[str, Any]) -> None:
    _at(d, CALL)["intent"]["format"] = "uri"


def _tags(kind: str, **rules: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        _at(d, CALL)["tags"] = {"type": "array", "items": {"type": kind, **rules}}

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _enum_extended,
            "field call.direction has enum ['inbound', 'outbound'] in AEP, "
            "['inbound', 'outbound', 'internal'] in the file",
        ),
        (_minimum_raised, "field call.durationSeconds has minimum 0"),
        (_maximum_added, "field call.durationSeconds has maximum None in AEP, 86400"),
        (_max_length_added, "field phone has maxLength None in AEP, 3 in the file"),
        (_title_changed, "field call.queue has title queue in AEP, Queue name in the file"),
        (_format_added, "field call.intent has format None in AEP, uri in the file"),
    ],
)
def test_a_changed_rule_of_an_existing_field_is_drift_and_never_written(
    api: SetupApi,
    admin: Admin,
    example: SetupFile,
    change: Any,
    expected: str,
) -> None:
    # Given the example applied
    apply(api, example)
    writes = len(platform_writes(admin))
    # When a rule of an existing field changes in the file
    changed = edited(example, change)
    report = plan(api, changed)
    # Then plan reports it as drift of the field group, with the field and both values
    group = "Call Center Setup Phone" if expected.startswith("field phone ") else CALL_GROUP
    assert [(d.kind, d.name) for d in report.drift] == [("field group", group)]
    assert report.drift[0].detail.startswith(expected), report.drift[0].detail
    assert report.changes == []
    # and apply leaves AEP as it is, reporting the same drift
    applied = apply(api, changed)
    assert applied.drift == report.drift
    assert len(platform_writes(admin)) == writes


def test_a_retyped_array_item_is_drift(api: SetupApi, example: SetupFile) -> None:
    apply(api, edited(example, _tags("string")))
    report = plan(api, edited(example, _tags("integer")))
    assert [d.detail for d in report.drift] == ["field call.tags[] is string in AEP, integer in the file"]


def test_a_changed_rule_of_an_array_item_is_drift(api: SetupApi, example: SetupFile) -> None:
    apply(api, edited(example, _tags("string", maxLength=10)))
    report = plan(api, edited(example, _tags("string", maxLength=20)))
    assert [d.detail for d in report.drift] == ["field call.tags[] has maxLength 10 in AEP, 20 in the file"]


def test_an_unchanged_file_is_still_no_change_and_a_new_field_still_an_additive_update(
    api: SetupApi,
    example: SetupFile,
) -> None:
    with_tags = edited(example, _tags("string", maxLength=10))
    apply(api, with_tags)
    assert plan(api, with_tags).converged

    # a new field beside the rule-bearing ones is added, not drift
    def more(d: dict[str, Any]) -> None:
        _tags("string", maxLength=10)(d)
        _at(d, CALL)["agent"] = {"type": "string", "maxLength": 64}

    report = plan(api, edited(example, more))
    assert report.drift == []
    assert [c.line() for c in report.changes] == [f"~ field group {CALL_GROUP!r}: add agent"]
