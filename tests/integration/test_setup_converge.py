"""aep.setup against the emulator over real HTTP: apply converges setup/callcenter.yaml, a second apply
writes nothing (the emulator's request log), plan never writes, drift is reported, and an apply cut off
at any point completes on the next run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from aep import RetryPolicy
from aep.errors import AepError
from aep.setup import SetupApi, SetupFile, apply, load, parse, plan
from aep.setup.__main__ import setup_api
from aep_emulator import Emulator
from tests.integration.conftest import Admin

EXAMPLE = Path(__file__).resolve().parents[2] / "setup" / "callcenter.yaml"
FAST = RetryPolicy(max_attempts=4, base=0.01, max_wait=0.02, jitter=lambda c: c)
ONCE = RetryPolicy(max_attempts=1)


def env_of(emulator: Emulator) -> dict[str, str]:
    creds = emulator.config.clients[0]
    return {
        "AEP_IMS_URL": emulator.url,
        "AEP_PLATFORM_URL": emulator.url,
        "AEP_CLIENT_ID": creds.client_id,
        "AEP_CLIENT_SECRET": creds.client_secret,
        "AEP_ORG_ID": emulator.config.org_id,
    }


def platform_writes(admin: Admin) -> list[tuple[str, str]]:
    """The Platform writes the emulator received (IMS token requests left out)."""
    return [
        (e["method"], e["path"])
        for e in admin.requests()
        if e["method"] in ("POST", "PUT", "PATCH", "DELETE") and e["path"].startswith("/data/")
    ]


@pytest.fixture
def example() -> SetupFile:
    return load(EXAMPLE)


@pytest.fixture
def api(emulator: Emulator) -> SetupApi:
    return setup_api(env_of(emulator), FAST)


def edited(setup: SetupFile, change: Any) -> SetupFile:
    data = setup.model_dump(by_alias=True, exclude_none=True)
    change(data)
    return parse(data)


def test_apply_creates_everything_then_a_second_apply_writes_nothing(
    emulator: Emulator, admin: Admin, api: SetupApi, example: SetupFile
) -> None:
    # Given a fresh emulator, When the example is applied
    first = apply(api, example)
    # Then every resource was created in order, and the outputs name them
    kinds = [c.kind for c in first.changes]
    assert kinds.index("field group") < kinds.index("schema") < kinds.index("identity descriptor")
    assert kinds.index("dataset") < kinds.index("base connection") < kinds.index("dataflow")
    assert first.drift == []
    assert first.writes == len(platform_writes(admin)) == 15
    stream = first.outputs["streaming"]["Call Center Setup Events Inlet"]
    events = first.outputs["datasets"]["Call Center Setup Call Events"]
    assert stream["datasetId"] == events
    assert stream["flowId"]
    assert stream["inletUrl"] == f"{emulator.url}/collection/{stream['inletId']}"
    schema_id = first.outputs["schemas"]["Call Center Setup Call Events"]["id"]
    assert schema_id.startswith("https://ns.adobe.com/acme/schemas/")
    # When applied again
    written = len(platform_writes(admin))
    second = apply(api, example)
    # Then nothing changes: no write reached the emulator, same outputs
    assert second.changes == []
    assert second.drift == []
    assert second.writes == 0
    assert len(platform_writes(admin)) == written
    assert second.outputs == first.outputs


def test_plan_lists_the_changes_and_writes_nothing(admin: Admin, api: SetupApi, example: SetupFile) -> None:
    before = plan(api, example)
    assert platform_writes(admin) == []
    assert before.writes == 0
    assert len(before.changes) == 15
    assert not before.applied
    applied = apply(api, example)
    assert [c.line() for c in before.changes] == [c.line() for c in applied.changes]
    after = plan(api, example)
    assert after.converged
    assert after.outputs == applied.outputs


def test_the_applied_inlet_takes_a_call_event_into_the_created_dataset(
    emulator: Emulator, admin: Admin, api: SetupApi, example: SetupFile
) -> None:
    outputs = apply(api, example).outputs
    stream = outputs["streaming"]["Call Center Setup Events Inlet"]
    schema = outputs["schemas"]["Call Center Setup Call Events"]["id"]
    ref = {"id": schema, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    record = {
        "_id": "call-1",
        "timestamp": "2024-05-01T10:00:00Z",
        "_acme": {"phone": "+15550100", "call": {"direction": "inbound", "durationSeconds": 42}},
    }
    message = {
        "header": {"schemaRef": ref, "imsOrgId": emulator.config.org_id, "datasetId": stream["datasetId"]},
        "body": {"xdmMeta": {"schemaRef": ref}, "xdmEntity": record},
    }
    token = api._t.authenticator.headers()  # type: ignore[union-attr]
    answer = requests.post(stream["inletUrl"], json=message, headers=token, timeout=5)
    assert answer.status_code in (200, 202), answer.text
    assert stream["datasetId"] in str(admin.streamed())


def test_a_retyped_field_is_drift_and_is_not_written(admin: Admin, api: SetupApi, example: SetupFile) -> None:
    apply(api, example)
    written = len(platform_writes(admin))

    def retype(data: dict[str, Any]) -> None:
        data["fieldGroups"][1]["fields"]["call"]["properties"]["durationSeconds"] = {"type": "string"}

    report = plan(api, edited(example, retype))
    assert [d.line() for d in report.drift] == [
        "! field group 'Call Center Setup Call': "
        "field call.durationSeconds is integer in AEP, string in the file"
    ]
    assert report.changes == []
    assert apply(api, edited(example, retype)).drift == report.drift
    assert len(platform_writes(admin)) == written


def test_a_changed_class_and_a_dataset_on_another_schema_are_drift(api: SetupApi, example: SetupFile) -> None:
    outputs = apply(api, example).outputs

    def reclass(data: dict[str, Any]) -> None:
        data["schemas"][1]["class"] = "profile"
        data["schemas"][1]["fieldGroups"] = ["Call Center Setup Phone"]

    report = plan(api, edited(example, reclass))
    assert [d.line() for d in report.drift] == [
        "! schema 'Call Center Setup Call Events': class is https://ns.adobe.com/xdm/context/experienceevent "
        "in AEP, https://ns.adobe.com/xdm/context/profile in the file",
        "! streaming 'Call Center Setup Events Inlet': dataset 'Call Center Setup Call Events' has drift: "
        "not connected",
    ]
    assert report.changes == []

    def other_schema(data: dict[str, Any]) -> None:
        data["datasets"][0]["schema"] = "Call Center Setup Call Events"

    moved = plan(api, edited(example, other_schema))
    callers = outputs["schemas"]["Call Center Setup Callers"]["id"]
    events = outputs["schemas"]["Call Center Setup Call Events"]["id"]
    assert [d.line() for d in moved.drift] == [
        f"! dataset 'Call Center Setup Callers': exists on schema {callers}, not {events}"
    ]
    assert moved.changes == []
    assert moved.outputs["datasets"]["Call Center Setup Callers"] is None


def test_a_new_field_is_added_without_touching_the_rest(
    admin: Admin, api: SetupApi, example: SetupFile
) -> None:
    apply(api, example)

    def add_field(data: dict[str, Any]) -> None:
        data["fieldGroups"][1]["fields"]["call"]["properties"]["agentId"] = {"type": "string"}

    grown = edited(example, add_field)
    report = apply(api, grown)
    assert [c.line() for c in report.changes] == ["~ field group 'Call Center Setup Call': add agentId"]
    assert report.writes == 1
    assert apply(api, grown).writes == 0


@pytest.mark.parametrize("cut_at", [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30])
def test_an_apply_cut_off_midway_completes_on_the_next_run(
    emulator: Emulator, admin: Admin, example: SetupFile, cut_at: int
) -> None:
    # Given the cut_at-th of the 31 Platform requests of a fresh apply fails (no retry)
    admin.faults({"path": "^/data/", "skip": cut_at, "first": 1, "status": 500})
    with pytest.raises(AepError):
        apply(setup_api(env_of(emulator), ONCE), example)
    # When apply runs again, Then it completes, and a third run writes nothing
    api = setup_api(env_of(emulator), FAST)
    done = apply(api, example)
    assert done.drift == []
    assert apply(api, example).writes == 0
    # and nothing was made twice
    assert len(api.datasets_named("Call Center Setup Call Events")) == 1
    assert len(api.flow_items("connections", "name==Call Center Setup Events Inlet")) == 1


def test_a_create_whose_answer_was_lost_is_adopted_not_duplicated(
    emulator: Emulator, admin: Admin, api: SetupApi, example: SetupFile
) -> None:
    # Given the first field group POST is processed but its answer lost (the transport retries it)
    admin.faults({"path": "/tenant/fieldgroups$", "method": "POST", "kind": "drop_after", "first": 1})
    report = apply(api, example)
    assert report.drift == []
    assert api.find_titled("fieldgroups", "Call Center Setup Phone") is not None
    assert apply(api, example).writes == 0


def test_make_setup_applies_twice_and_the_second_run_reports_no_change(capsys: Any) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("setup_local", EXAMPLE.parent / "local.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.run(str(EXAMPLE)) == 0
    err = capsys.readouterr().err
    first, second = err.split("second apply (expects no change):")
    assert "15 change(s) applied" in first
    assert second.strip() == "no change"
