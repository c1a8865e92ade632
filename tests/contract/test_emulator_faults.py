"""Fault rules: ``drop_after`` (processed, then the answer is lost) and the validation of every rule."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from aep_emulator import Emulator, load_config, running
from tests.integration.conftest import CALL_EVENTS, EVENTS_INLET, call_event, envelope, ndjson

PHONE = "+14155550155"
STREAM = {"x-sandbox-name": "prod"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with running() as emulator:
        yield emulator


def set_faults(emu: Emulator, spec: Any) -> requests.Response:
    return requests.post(f"{emu.url}/_admin/faults", json=spec, timeout=5)


def accepted(emu: Emulator) -> int:
    return int(requests.get(f"{emu.url}/_admin/streamed", timeout=5).json()["accepted"].get(CALL_EVENTS, 0))


def stream(emu: Emulator, n: int) -> requests.Response:
    body = {"messages": [envelope(emu, CALL_EVENTS, call_event(PHONE, n))]}
    return requests.post(f"{emu.url}/collection/batch/{EVENTS_INLET}", json=body, headers=STREAM, timeout=5)


def log(emu: Emulator, prefix: str) -> list[dict[str, Any]]:
    entries = requests.get(f"{emu.url}/_admin/requests", timeout=5).json()
    return [e for e in entries if e["path"].startswith(prefix)]


# -- Item 21: drop after processing ------------------------------------------------------------------------
def test_drop_after_processes_the_request_then_closes_without_an_answer(emu):
    assert set_faults(emu, {"rules": [{"path": "^/collection/batch", "kind": "drop_after", "first": 1}]}).ok

    with pytest.raises(requests.exceptions.ConnectionError):
        stream(emu, 1)
    after_drop = accepted(emu)
    retried = stream(emu, 1)

    assert after_drop == 1  # the dropped request was processed: its message is stored
    assert retried.status_code == 207
    assert accepted(emu) == 2  # the retry delivers it again: a duplicate, now testable
    first, second = log(emu, "/collection")
    assert (first["status"], first["fault"], first["served"]) == (0, "drop_after", 207)
    assert first["route"] == f"/collection/batch/{EVENTS_INLET}"
    assert (second["status"], "fault" in second, "served" in second) == (207, False, False)
    assert requests.get(f"{emu.url}/_admin/faults", timeout=5).json() == [
        {"path": "^/collection/batch", "kind": "drop_after", "status": 503, "hits": 1, "seen": 2}
    ]


def test_drop_after_honours_skip_and_method(emu):
    rule = {"path": "^/collection/batch", "method": "post", "kind": "drop_after", "skip": 1, "first": 1}
    assert set_faults(emu, {"rules": [rule]}).ok

    first = stream(emu, 2)
    with pytest.raises(requests.exceptions.ConnectionError):
        stream(emu, 3)
    third = stream(emu, 4)

    assert (first.status_code, third.status_code) == (207, 207)
    assert accepted(emu) == 3
    assert [e["status"] for e in log(emu, "/collection")] == [207, 0, 207]


def test_drop_after_from_the_sandbox_file_completes_the_batch(tmp_path: Path):
    spec = {
        "seed": 1,
        "rules": [
            {
                "path": r"^/data/foundation/import/batches/[^/]+$",
                "method": "POST",
                "kind": "drop_after",
                "first": 1,
            }
        ],
    }
    data = json.loads(load_config().model_dump_json(by_alias=True))
    data["faults"] = spec
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps(data))

    with running(load_config(path)) as emu:
        client = emu.config.clients[0]
        form = {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "scope": "openid",
        }
        token = requests.post(f"{emu.url}/ims/token/v3", data=form, timeout=5).json()["access_token"]
        auth = {
            "Authorization": f"Bearer {token}",
            "x-api-key": client.client_id,
            "x-gw-ims-org-id": emu.config.org_id,
            "x-sandbox-name": "prod",
        }
        base = f"{emu.url}/data/foundation/import/batches"
        batch = requests.post(
            base, headers=auth, json={"datasetId": CALL_EVENTS, "inputFormat": {"format": "json"}}, timeout=5
        ).json()["id"]
        requests.put(
            f"{base}/{batch}/datasets/{CALL_EVENTS}/files/a.json",
            data=ndjson([call_event(PHONE, 5)]),
            headers={**auth, "Content-Type": "application/octet-stream"},
            timeout=5,
        ).raise_for_status()
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(f"{base}/{batch}?action=COMPLETE", headers=auth, timeout=5)
        catalog = f"{emu.url}/data/foundation/catalog/batches/{batch}"
        polls = [requests.get(catalog, headers=auth, timeout=5).json()[batch]["status"] for _ in range(2)]
        again = requests.post(f"{base}/{batch}?action=COMPLETE", headers=auth, timeout=5)

    assert polls == ["staging", "success"]  # the dropped COMPLETE was processed
    assert again.status_code == 200  # and retrying it is safe, as documented


def test_drop_after_with_a_rate_follows_the_seed(emu):
    assert set_faults(
        emu, {"seed": 3, "rules": [{"path": "^/collection", "kind": "drop_after", "rate": 0.5}]}
    ).ok
    draws = random.Random(3)
    expected = [draws.random() < 0.5 for _ in range(12)]

    dropped = []
    for n in range(12):
        try:
            stream(emu, 10 + n)
            dropped.append(False)
        except requests.exceptions.ConnectionError:
            dropped.append(True)

    assert dropped == expected
    assert accepted(emu) == 12


# -- Item 27: invalid fault rules are refused with the reason ------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (
            {"rules": [{"path": "^/ims", "kind": "explode"}]},
            "rules[0].kind: Input should be 'status', 'drop', 'drop_after' or 'latency'",
        ),
        (
            {"rules": [{"path": "("}]},
            "rules[0].path: Value error, not a regular expression: "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            {"rules": [{"path": "^/ims", "rate": 1.5}]},
            "rules[0].rate: Input should be less than or equal to 1",
        ),
        (
            {"rules": [{"path": "^/ims", "status": 200}]},
            "rules[0].status: Input should be greater than or equal to 400",
        ),
        (
            {"rules": [{"path": "^/ims", "skip": -1}]},
            "rules[0].skip: Input should be greater than or equal to 0",
        ),
        ({"rules": [{"path": "^/ims", "colour": "red"}]}, "rules[0].colour: Extra inputs are not permitted"),
        ({"rules": [{"kind": "drop"}]}, "rules[0].path: Field required"),
        ({"rules": "all"}, "rules: Input should be a valid list"),
        ({"seed": 1, "rule": []}, "rule: Extra inputs are not permitted"),
        ([], "Input should be a valid dictionary or instance of FaultSpec"),
    ],
)
def test_an_invalid_fault_spec_is_400_and_keeps_the_rules(emu, spec, reason):
    assert set_faults(emu, {"rules": [{"path": "^/ims", "status": 503}]}).ok

    answer = set_faults(emu, spec)

    assert (answer.status_code, answer.json()) == (400, {"message": f"bad fault spec: {reason}"})
    assert [r["path"] for r in requests.get(f"{emu.url}/_admin/faults", timeout=5).json()] == ["^/ims"]
