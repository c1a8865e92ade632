"""The client's Catalog listing and Data Access failed-records reading, against the emulator over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from aep import AepClient, AepServerError
from aep.models import BatchState
from aep_emulator import Emulator
from tests.integration.conftest import CALL_EVENTS, CALLERS, EVENTS_INLET, call_event, envelope

PHONE = "+14155550142"
pytestmark = pytest.mark.integration


def stream_one(client: AepClient, emulator: Emulator, record: dict[str, Any]) -> None:
    result = client.streaming.send_one(EVENTS_INLET, envelope(emulator, CALL_EVENTS, record))
    assert result.xaction_id  # acknowledged


def test_a_record_refused_after_its_ack_is_read_back_with_its_reason(client, emulator):
    # Given a streamed record AEP acknowledged, then refused (a field the schema does not define)
    refused = call_event(PHONE, 1, loyaltyTier="gold")
    stream_one(client, emulator, refused)
    stream_one(client, emulator, call_event(PHONE, 2))

    # When the dataset's failed batches are listed and their records read
    batches = client.catalog.batches_of(CALL_EVENTS, status="failed", created_after=0)
    records = [r for b in batches for r in client.catalog.failed_records(b.id)]

    # Then the one refused record comes back, with why
    assert [b.state for b in batches] == [BatchState.FAILED]
    assert batches[0].dataset_id == CALL_EVENTS
    assert batches[0].metrics is not None
    assert batches[0].metrics.failed_record_count == 1
    assert [r.entity for r in records] == [refused]
    assert len(records[0].reasons) == 1
    assert records[0].reasons[0].startswith("additionalProperties: ")
    assert "loyaltyTier" in records[0].reasons[0]
    assert client.catalog.batches_of(CALLERS, status="failed") == []


def test_listing_pages_oldest_first_and_stops_at_the_cap(client, emulator):
    for n in range(5):
        stream_one(client, emulator, call_event(PHONE, 10 + n, unknownField=n))

    every = client.catalog.batches_of(CALL_EVENTS, status="failed", page_size=2)
    capped = client.catalog.batches_of(CALL_EVENTS, status="failed", page_size=2, max_batches=3)
    after = client.catalog.batches_of(CALL_EVENTS, status="failed", created_after=every[2].created)

    assert len(every) == 5
    assert [b.created for b in every] == sorted(b.created or 0 for b in every)
    assert [b.id for b in capped] == [b.id for b in every[:3]]
    assert [b.id for b in after] == [b.id for b in every if (b.created or 0) > (every[2].created or 0)]
    with pytest.raises(ValueError, match="page_size"):
        client.catalog.batches_of(CALL_EVENTS, page_size=101)


def test_listing_retries_a_transient_failure_and_types_a_lasting_one(client, emulator, admin):
    stream_one(client, emulator, call_event(PHONE, 20, unknownField=1))
    admin.faults({"path": "^/data/foundation/catalog/batches$", "status": 503, "first": 1})

    listed = client.catalog.batches_of(CALL_EVENTS, status="failed")
    admin.faults({"path": "^/data/foundation/export/batches/.*/failed$", "status": 500})

    assert len(listed) == 1
    with pytest.raises(AepServerError):
        client.catalog.failed_records(listed[0].id)


def test_failed_records_of_an_unknown_batch_are_none(client):
    assert client.catalog.failed_files("01NOSUCHBATCH") == []
    assert client.catalog.failed_records("01NOSUCHBATCH") == []
