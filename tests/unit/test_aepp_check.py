"""make aepp-check judges the return value of every aepp step (aepp returns HTTP errors, never raises)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.aepp_check import PHONE, step_problems


def good_steps() -> dict[str, Any]:
    return {
        "createBatch": {"id": "01EMU1", "status": "loading"},
        "uploadSmallFile": {},
        "uploadSmallFileFinish": {},
        "streamMessages": {"responses": [{"xactionId": "1:2:2:0"}, {"xactionId": "1:2:2:1"}]},
        "getEntity": {"XID": {"entity": {"identityMap": {"Phone": [{"id": PHONE}]}}}},
    }


def test_a_flow_where_every_step_succeeded_has_no_problem():
    assert step_problems(good_steps()) == []


@pytest.mark.parametrize(
    ("step", "value", "problem"),
    [
        # What aepp 0.6.0 returned for the small-file PUT when the emulator answered 201 with no body.
        ("uploadSmallFile", {"error": ""}, "uploadSmallFile: returned an error: ''"),
        (
            "uploadSmallFile",
            {"name": "x"},
            "uploadSmallFile: returned \"{'name': 'x'}\", not the empty 200 answer",
        ),
        ("uploadSmallFileFinish", {"error": "boom"}, "uploadSmallFileFinish: returned an error: 'boom'"),
        ("createBatch", {"error_code": "401013"}, "createBatch: returned an error: '401013'"),
        ("createBatch", {"id": "", "status": "loading"}, "createBatch: returned no batch id"),
        (
            "createBatch",
            {"id": "b", "status": "failed"},
            "createBatch: returned status 'failed', not 'loading'",
        ),
        ("createBatch", [], "createBatch: returned list, not an object"),
        (
            "streamMessages",
            {"responses": [{"xactionId": "a"}, {"statusCode": 400, "message": "bad"}]},
            "streamMessages: refused 1 of 2 messages: \"[{'statusCode': 400, 'message': 'bad'}]\"",
        ),
        ("streamMessages", {"responses": []}, "streamMessages: returned '[]', not two responses"),
        ("getEntity", {"errorMessage": "nope"}, "getEntity: returned an error: 'nope'"),
        ("getEntity", {}, "getEntity: returned 0 profiles, not 1"),
        ("getEntity", {"X": {"entity": {}}}, "getEntity: returned a profile without the phone number"),
    ],
)
def test_each_failed_step_is_reported(step, value, problem):
    steps = {**good_steps(), step: value}

    assert step_problems(steps) == [problem]


def test_a_step_that_never_ran_is_a_problem():
    steps = good_steps()
    del steps["getEntity"]

    assert step_problems(steps) == ["getEntity: never ran"]
