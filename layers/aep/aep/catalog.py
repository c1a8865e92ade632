"""Catalog (batch status, datasets) and Data Access (row-error diagnostics)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

from aep.errors import AepNotFoundError, AepTimeoutError
from aep.http import Transport, json_of, model_of
from aep.models import Batch, Dataset, RowError

logger = logging.getLogger(__name__)

CATALOG_PATH = "/data/foundation/catalog"
EXPORT_PATH = "/data/foundation/export"


class CatalogApi:
    def __init__(self, transport: Transport, platform_url: str) -> None:
        self._t = transport
        self._catalog = platform_url.rstrip("/") + CATALOG_PATH
        self._export = platform_url.rstrip("/") + EXPORT_PATH

    def _keyed(self, collection: str, key: str, context: str) -> dict[str, Any]:
        """Catalog answers a lookup by id with an object keyed by that id; the entry, with its id."""
        response = self._t.request(
            "GET", f"{self._catalog}/{collection}/{quote(key, safe='')}", context=context
        )
        payload = json_of(response, context)
        entry = payload.get(key) if isinstance(payload, dict) else None
        if not isinstance(entry, dict):
            raise AepNotFoundError(f"{context}: {key} not in the Catalog answer", status=response.status_code)
        return {"id": key, **entry}

    def batch(self, batch_id: str) -> Batch:
        """``GET /batches/{id}``. Raises AepNotFoundError when unknown."""
        return model_of(Batch, self._keyed("batches", batch_id, "batch status"), "batch status")

    def batches_by_external_id(self, external_id: str, dataset_id: str) -> list[Batch]:
        """``GET /batches?externalId=...&dataSet=...``: the batches of ``dataset_id`` with that external id.

        The answer is checked here too (same external id, same dataset), oldest first.
        """
        response = self._t.request(
            "GET",
            f"{self._catalog}/batches",
            params={"externalId": external_id, "dataSet": dataset_id, "limit": "10"},
            context="find batch by external id",
        )
        payload = json_of(response, "find batch by external id")
        found: list[Batch] = []
        for key, entry in payload.items() if isinstance(payload, dict) else ():
            if not isinstance(entry, dict):
                continue
            batch = model_of(Batch, {**entry, "id": key}, "find batch by external id")
            if batch.external_id == external_id and batch.dataset_id in (None, dataset_id):
                found.append(batch)
        return sorted(found, key=lambda batch: batch.created or 0)

    def wait_for_batch(self, batch_id: str, *, timeout: float, poll_interval: float = 5.0) -> Batch:
        """Poll until the batch reaches a final state. Raises AepTimeoutError after ``timeout`` seconds."""
        clock = self._t.clock
        stop_at = clock.monotonic() + timeout
        while True:
            batch = self.batch(batch_id)
            if batch.state.final:
                return batch
            if clock.monotonic() + poll_interval > stop_at:
                raise AepTimeoutError(f"batch {batch_id} still {batch.status} after {timeout:.0f}s")
            clock.sleep(poll_interval)

    def dataset(self, dataset_id: str) -> Dataset:
        """``GET /dataSets/{id}``. Raises AepNotFoundError when unknown."""
        return model_of(Dataset, self._keyed("dataSets", dataset_id, "dataset lookup"), "dataset lookup")

    def row_errors(self, batch_id: str, *, limit: int = 1000) -> list[RowError]:
        """Failed rows from Data Access diagnostics (``meta?path=row_errors``), at most ``limit``."""
        base = f"{self._export}/batches/{quote(batch_id, safe='')}/meta"
        try:
            listing = self._t.request("GET", base, params={"path": "row_errors"}, context="row error files")
        except AepNotFoundError:
            return []
        rows: list[RowError] = []
        index = json_of(listing, "row error files")
        for item in index.get("data", []) if isinstance(index, dict) else []:
            name = item.get("name")
            if not name:
                continue
            response = self._t.request(
                "GET", base, params={"path": f"row_errors/{name}"}, context="row error file"
            )
            for line in response.text.splitlines():
                if not line.strip():
                    continue
                try:
                    rows.append(RowError.model_validate(json.loads(line)))
                except ValueError:
                    logger.warning("unreadable row error line", extra={"file": name})
                if len(rows) >= limit:
                    return rows
        return rows
