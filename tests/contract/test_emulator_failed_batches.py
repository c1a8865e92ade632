"""Acknowledged is not ingested: streamed records that fail schema validation after the 207 become failed
batches of their dataset in Catalog, their records and reasons readable through Data Access."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from aep_emulator import Emulator, load_config, running
from tests.contract import models as m
from tests.integration.conftest import CALL_EVENTS, CALLERS, EVENTS_INLET, call_event, envelope

PHONE = "+14155550123"


@pytest.fixture(scope="module")
def emu():
    with running() as emulator:
        yield emulator


def stream(emu: Emulator, records: list[dict[str, Any]]) -> dict[str, Any]:
    body = {"messages": [envelope(emu, CALL_EVENTS, record) for record in records]}
    answer = requests.post(
        f"{emu.url}/collection/batch/{EVENTS_INLET}",
        json=body,
        headers={"x-sandbox-name": "prod"},
        timeout=5,
    )
    assert answer.status_code == 207
    return dict(answer.json())


def failed_batches(emu: Emulator, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    answer = requests.get(
        f"{emu.url}/data/foundation/catalog/batches",
        headers=auth,
        params={"dataSet": CALL_EVENTS, "status": "failed", **params},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_records_refused_after_the_207_are_a_failed_batch_with_their_reasons(emu, auth):
    # Given a 207 that acknowledged three records, two of which break the schema
    before = max((b["created"] for b in failed_batches(emu, auth).values()), default=0)
    unknown = call_event(PHONE, 1, loyaltyTier="gold")  # a field the schema does not define
    untyped = call_event(PHONE, 2)
    untyped["_acme"]["call"]["durationSeconds"] = "sixty"
    answer = stream(emu, [unknown, call_event(PHONE, 3), untyped])
    assert all("xactionId" in r for r in answer["responses"])

    # When the dataset's failed batches created since are listed
    listed = failed_batches(emu, auth, createdAfter=str(before))

    # Then one failed batch holds the two, with metrics and errors as Catalog documents them
    assert len(listed) == 1
    batch_id, raw = next(iter(listed.items()))
    batch = m.CatalogBatch.model_validate({**raw, "id": batch_id})
    assert batch.status == "failed"
    assert batch.relatedObjects[0].model_dump() == {"type": "dataSet", "id": CALL_EVENTS}
    assert batch.metrics == {"inputRecordCount": 2, "outputRecordCount": 0, "failedRecordCount": 2}
    assert batch.errors is not None
    assert {e.code for e in batch.errors} >= {"INGEST-1212-400", "additionalProperties", "type"}

    # And Data Access lists its files and gives each record with why it was refused
    base = f"{emu.url}/data/foundation/export/batches/{batch_id}/failed"
    files = m.FailedFiles.model_validate(requests.get(base, headers=auth, timeout=5).json())
    names = [f.name for f in files.data]
    assert names[0] == "_SUCCESS"
    assert files.page == {"count": 2, "limit": 100}
    part = requests.get(base, headers=auth, params={"path": names[1]}, timeout=5)
    lines = [m.FailedStreamRecord.model_validate(json.loads(x)) for x in part.text.splitlines()]
    assert int(files.data[1].length) == len(part.content)
    assert [line.body["xdmEntity"] for line in lines] == [unknown, untyped]
    reasons = [line.errors["_streamingValidation"][0] for line in lines]
    assert [r.keyword for r in reasons] == ["additionalProperties", "type"]
    assert "loyaltyTier" in reasons[0].message
    assert "durationSeconds" in reasons[1].message


def test_listing_filters_orders_and_pages(emu, auth):
    # Given three requests, each with one refused record (window 0: a failed batch each)
    start = max((b["created"] for b in failed_batches(emu, auth).values()), default=0)
    for n in range(3):
        stream(emu, [call_event(PHONE, 10 + n, unknownField=n)])
    ours = failed_batches(emu, auth, createdAfter=str(start))
    ascending = sorted(ours, key=lambda key: (ours[key]["created"], key))

    # When they are read oldest first one page at a time, then newest first
    pages = [
        list(
            failed_batches(emu, auth, createdAfter=str(start), orderBy="asc:created", start=str(i), limit="1")
        )
        for i in range(4)
    ]
    newest_first = list(failed_batches(emu, auth, createdAfter=str(start), orderBy="desc:created"))
    after_first = failed_batches(emu, auth, createdAfter=str(ours[ascending[0]]["created"]))

    # Then paging walks them in order and ends with an empty page; createdAfter is exclusive
    assert len(ours) == 3
    assert pages == [[ascending[0]], [ascending[1]], [ascending[2]], []]
    assert newest_first == ascending[::-1]
    assert ascending[0] not in after_first
    assert not failed_batches(emu, auth, createdAfter=str(ours[ascending[2]]["created"] + 1))


def test_good_records_and_other_datasets_make_no_failed_batch(emu, auth):
    known = set(failed_batches(emu, auth))
    stream(emu, [call_event(PHONE, 20)])
    other = requests.get(
        f"{emu.url}/data/foundation/catalog/batches",
        headers=auth,
        params={"dataSet": CALLERS, "status": "failed"},
        timeout=5,
    )
    assert set(failed_batches(emu, auth)) == known
    assert other.json() == {}


@pytest.mark.parametrize(
    ("params", "status"),
    [({"limit": "0"}, 400), ({"limit": "x"}, 400), ({"start": "-1"}, 400), ({"orderBy": "asc:name"}, 400)],
)
def test_bad_listing_parameters_are_refused(emu, auth, params, status):
    answer = requests.get(
        f"{emu.url}/data/foundation/catalog/batches", headers=auth, params=params, timeout=5
    )
    assert answer.status_code == status
    assert m.Problem.model_validate(answer.json()).status == status


def test_failed_files_of_an_unknown_batch_or_file_are_not_found(emu, auth):
    stream(emu, [call_event(PHONE, 30, unknownField=1)])
    batch_id = next(iter(failed_batches(emu, auth, orderBy="desc:created", limit="1")))
    base = f"{emu.url}/data/foundation/export/batches"
    unknown = requests.get(f"{base}/01NOSUCHBATCH/failed", headers=auth, timeout=5)
    no_file = requests.get(f"{base}/{batch_id}/failed", headers=auth, params={"path": "nope.json"}, timeout=5)
    bad_limit = requests.get(f"{base}/{batch_id}/failed", headers=auth, params={"limit": "101"}, timeout=5)
    assert (unknown.status_code, no_file.status_code, bad_limit.status_code) == (404, 404, 400)


def test_a_window_groups_failures_and_hides_the_batch_until_it_closes():
    # Given AEP's window of about 15 minutes
    config = load_config().model_copy(update={"streaming_failure_window_seconds": 900.0})
    with running(config) as emu:
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

        # When two requests each bring a refused record
        stream(emu, [call_event(PHONE, 40, unknownField=1)])
        stream(emu, [call_event(PHONE, 41, unknownField=2)])
        held = requests.get(f"{emu.url}/_admin/batches", timeout=5).json()
        by_id = requests.get(
            f"{emu.url}/data/foundation/catalog/batches/{held[0]['id']}", headers=auth, timeout=5
        )

        # Then both wait in one open batch, which Catalog does not show yet
        assert [(b["datasetId"], b["status"]) for b in held] == [(CALL_EVENTS, "failed")]
        assert failed_batches(emu, auth) == {}
        assert by_id.status_code == 404
        assert emu.state.batches[held[0]["id"]].metrics["failedRecordCount"] == 2
