"""Catalog (batch status and listings, datasets) and Data Access (row errors, failed batches' records)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

from aep.errors import AepNotFoundError, AepTimeoutError
from aep.http import Transport, json_of, model_of
from aep.models import Batch, Dataset, FailedRecord, RowError

logger = logging.getLogger(__name__)

CATALOG_PATH = "/data/foundation/catalog"
EXPORT_PATH = "/data/foundation/export"
PAGE_LIMIT = 100  # Catalog and Data Access answer at most 100 entries a page
_MARKER_FILES = frozenset({"_SUCCESS"})


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

    def batches_of(
        self,
        dataset_id: str,
        *,
        status: str | None = None,
        created_after: int | None = None,
        page_size: int = PAGE_LIMIT,
        max_batches: int = 1000,
    ) -> list[Batch]:
        """``GET /batches?dataSet=&status=&createdAfter=&orderBy=asc:created&start=&limit=``, page by page.

        The dataset's batches (with ``status``, created after ``created_after`` epoch ms, exclusive),
        oldest first, at most ``max_batches``. Batches of another dataset in an answer are left out.
        Raises the AepError of the first page that fails (after the transport's retries).
        """
        if not 1 <= page_size <= PAGE_LIMIT:
            raise ValueError(f"page_size must be from 1 to {PAGE_LIMIT}")
        params = {"dataSet": dataset_id, "orderBy": "asc:created", "limit": str(page_size)}
        if status is not None:
            params["status"] = status
        if created_after is not None:
            params["createdAfter"] = str(created_after)
        found: dict[str, Batch] = {}
        start = 0
        while len(found) < max_batches:
            response = self._t.request(
                "GET",
                f"{self._catalog}/batches",
                params={**params, "start": str(start)},
                context="list batches",
            )
            payload = json_of(response, "list batches")
            page = [
                model_of(Batch, {**entry, "id": key}, "list batches")
                for key, entry in (payload.items() if isinstance(payload, dict) else ())
                if isinstance(entry, dict)
            ]
            for batch in page:
                if batch.dataset_id in (None, dataset_id):
                    found.setdefault(batch.id, batch)
            if len(page) < page_size:
                break
            start += len(page)
        ordered = sorted(found.values(), key=lambda batch: (batch.created or 0, batch.id))
        return ordered[:max_batches]

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

    def failed_files(self, batch_id: str) -> list[str]:
        """``GET /export/batches/{id}/failed``: the names of a failed batch's files (markers such as
        ``_SUCCESS`` left out), every page. An unknown batch (404) has none."""
        url = f"{self._export}/batches/{quote(batch_id, safe='')}/failed"
        names: list[str] = []
        start = 0
        while True:
            try:
                response = self._t.request(
                    "GET", url, params={"start": str(start), "limit": str(PAGE_LIMIT)}, context="failed files"
                )
            except AepNotFoundError:
                return names
            listing = json_of(response, "failed files")
            data = listing.get("data", []) if isinstance(listing, dict) else []
            for item in data:
                name = item.get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and name and name not in _MARKER_FILES and name not in names:
                    names.append(name)
            if len(data) < PAGE_LIMIT:
                return names
            start += len(data)

    def failed_records(self, batch_id: str, *, limit: int = 10_000) -> list[FailedRecord]:
        """The records of a failed batch's files with why AEP refused each (``/failed?path={file}``, JSON
        Lines), at most ``limit``; an unreadable line is skipped with a warning (never its content)."""
        url = f"{self._export}/batches/{quote(batch_id, safe='')}/failed"
        records: list[FailedRecord] = []
        for name in self.failed_files(batch_id):
            response = self._t.request("GET", url, params={"path": name}, context="failed file")
            for line in response.text.splitlines():
                if not line.strip():
                    continue
                try:
                    records.append(FailedRecord.model_validate(json.loads(line)))
                except ValueError:
                    logger.warning("unreadable failed record line", extra={"file": name})
                if len(records) >= limit:
                    return records
        return records
