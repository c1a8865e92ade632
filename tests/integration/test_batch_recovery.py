"""Create batch on the emulator: a lost answer reuses the batch AEP created; JSON layout from the bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from aep.models import BatchState
from tests.integration.conftest import CALL_EVENTS, call_event

pytestmark = pytest.mark.integration


class LoseFirstCreateAnswer(HTTPAdapter):
    """Sends the first ``POST /batches`` for real, then drops its answer (as a broken connection would)."""

    def __init__(self, inner: HTTPAdapter) -> None:
        super().__init__()
        self.inner = inner
        self.lost = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        response = self.inner.send(request, *args, **kwargs)
        path = (request.path_url or "").split("?")[0]
        if request.method == "POST" and path == "/data/foundation/import/batches" and not self.lost:
            self.lost += 1
            response.close()
            raise requests.ConnectionError("answer lost after processing")
        return response


def catalog_batches(client: Any, **query: str) -> dict[str, Any]:
    url = f"{client.settings.platform_url}/data/foundation/catalog/batches"
    return dict(client.transport.request("GET", url, params=query).json())


def test_catalog_finds_a_batch_by_external_id(client, emulator):
    batch = client.batches.create(CALL_EVENTS, "json", external_id="calls-2026-11-30")
    client.batches.create(CALL_EVENTS, "json", external_id="another")

    found = client.catalog.batches_by_external_id("calls-2026-11-30", CALL_EVENTS)

    assert [b.id for b in found] == [batch.id]
    assert found[0].state is BatchState.LOADING
    assert client.catalog.batches_by_external_id("calls-2026-11-30", "65f0c0a1e4b0c1d2e3f40001") == []
    assert client.catalog.batches_by_external_id("nobody", CALL_EVENTS) == []


def test_a_lost_create_answer_reuses_the_emulators_batch(client, emulator, admin):
    adapter = client.transport.session.get_adapter(emulator.url)
    assert isinstance(adapter, HTTPAdapter)
    lossy = LoseFirstCreateAnswer(adapter)
    client.transport.session.mount(emulator.url, lossy)
    records = [call_event("+14155550100", n) for n in range(3)]

    batch = client.batches.ingest(CALL_EVENTS, "calls.json", _array(records))
    final = client.catalog.wait_for_batch(batch.id, timeout=30, poll_interval=0.01)

    assert lossy.lost == 1
    creates = [r for r in admin.requests() if r["method"] == "POST" and r["path"].endswith("/import/batches")]
    assert len(creates) == 1
    every = catalog_batches(client, dataSet=CALL_EVENTS)
    assert list(every) == [batch.id]
    assert every[batch.id]["inputFormat"] == {"format": "json", "isMultiLineJson": True}
    assert final.state is BatchState.SUCCESS
    assert final.metrics is not None
    assert final.metrics.input_record_count == 3


def _array(records: list[dict[str, Any]]) -> Any:
    from aep import BytesSource

    return BytesSource(json.dumps(records, indent=2).encode())
