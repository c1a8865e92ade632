"""Batch Ingestion API (``/data/foundation/import``): create, upload, complete, abort."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any
from urllib.parse import quote

from aep.catalog import CatalogApi
from aep.errors import AepError, AepValidationError
from aep.http import Transport, json_of, model_of
from aep.layout import is_multi_line_json
from aep.models import Batch, BatchState, InputFormat
from aep.sources import ByteSource, SizedStream

logger = logging.getLogger(__name__)

IMPORT_PATH = "/data/foundation/import"
#: "there is currently a size threshold of 256MB. If the file is larger than that, you must use the large
#: file upload mechanism" (Batch Ingestion spec).
SINGLE_PUT_LIMIT = 256 * 1024 * 1024
#: Parts of a large file may be up to 512,000,000 bytes; smaller parts keep memory low and retries cheap.
DEFAULT_CHUNK_SIZE = 32 * 1024 * 1024
MAX_CHUNK_SIZE = 512_000_000
_RANGE_RE = re.compile(r"(\d+)\s*-\s*(\d+)")


#: Prefix of the external ids this client gives its batches when the caller gives none.
EXTERNAL_ID_PREFIX = "aep-aws-"


class _LostBatchFound(Exception):
    def __init__(self, batch: Batch) -> None:
        super().__init__(batch.id)
        self.batch = batch


def _may_have_been_processed(error: AepError) -> bool:
    """No answer, or a 5xx: AEP may have acted on the request. A 4xx/429 refusal means it did not."""
    return error.status is None or error.status >= 500


class BatchApi:
    def __init__(self, transport: Transport, platform_url: str) -> None:
        self._t = transport
        self._base = platform_url.rstrip("/") + IMPORT_PATH
        self._catalog = CatalogApi(transport, platform_url)

    def create(
        self,
        dataset_id: str,
        input_format: InputFormat = "json",
        *,
        multi_line_json: bool | None = None,
        sample: ByteSource | None = None,
        error_diagnostics: bool = True,
        partial_ingestion_percent: int | None = None,
        external_id: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> Batch:
        """``POST /batches``. Raises AepValidationError when AEP refuses the definition.

        JSON layout: ``multi_line_json`` when given; else read from ``sample``'s bytes (a file of the
        batch, see :func:`aep.layout.is_multi_line_json`); else NDJSON (AEP's default).

        The batch carries an ``externalId`` (``external_id``, or a fresh unique one). When an attempt's
        answer is lost (no answer, or a 5xx: AEP may have created the batch), the batch that attempt
        created is looked up in Catalog by that id before the next attempt, and after the last one, and
        reused if found (it is empty and still ``loading``): no orphan batch is left behind.
        """
        fmt: dict[str, Any] = {"format": input_format}
        if input_format == "json":
            if multi_line_json is None:
                multi_line_json = is_multi_line_json(sample) if sample is not None else False
            fmt["isMultiLineJson"] = multi_line_json
        external_id = external_id or f"{EXTERNAL_ID_PREFIX}{uuid.uuid4().hex}"
        body: dict[str, Any] = {
            "datasetId": dataset_id,
            "inputFormat": fmt,
            "enableErrorDiagnostics": error_diagnostics,
            "externalId": external_id,
        }
        if partial_ingestion_percent is not None:
            body["partialIngestionPercent"] = partial_ingestion_percent
        if tags:
            body["tags"] = tags

        def look_for_lost_batch(error: AepError) -> None:
            if _may_have_been_processed(error):
                found = self._created_by_lost_attempt(dataset_id, external_id)
                if found is not None:
                    raise _LostBatchFound(found)

        try:
            response = self._t.request(
                "POST",
                f"{self._base}/batches",
                json=body,
                context="create batch",
                before_retry=look_for_lost_batch,
            )
        except _LostBatchFound as lost:
            return lost.batch
        except AepError as error:
            if not _may_have_been_processed(error):
                raise
            found = self._created_by_lost_attempt(dataset_id, external_id, failure=error)
            if found is None:
                raise
            return found
        return model_of(Batch, json_of(response, "create batch"), "create batch", response.status_code)

    def _created_by_lost_attempt(
        self, dataset_id: str, external_id: str, *, failure: AepError | None = None
    ) -> Batch | None:
        """The loading batch an earlier attempt created, if Catalog knows it; extra ones are aborted.

        A failed lookup is logged and counts as "not found" (another attempt follows), or, after the
        last attempt, re-raises that attempt's ``failure``.
        """
        try:
            candidates = self._catalog.batches_by_external_id(external_id, dataset_id)
        except AepError as lookup_error:
            logger.warning("lost batch lookup failed", extra={"error": type(lookup_error).__name__})
            if failure is not None:
                raise failure from None
            return None
        loading = [batch for batch in candidates if batch.state is BatchState.LOADING]
        if not loading:
            return None
        keep, *extra = loading
        for duplicate in extra:
            try:
                self.abort(duplicate.id)
            except AepError:
                logger.warning("could not abort a duplicate batch", extra={"batch": duplicate.id})
        logger.info("reusing the batch of a lost create answer", extra={"batch": keep.id})
        return keep

    def ingest(
        self,
        dataset_id: str,
        file_path: str,
        source: ByteSource,
        input_format: InputFormat = "json",
        *,
        multi_line_json: bool | None = None,
        **create: Any,
    ) -> Batch:
        """Create a batch for one file (JSON layout read from the file), upload it, complete the batch."""
        batch = self.create(
            dataset_id, input_format, multi_line_json=multi_line_json, sample=source, **create
        )
        self.upload(batch.id, dataset_id, file_path, source)
        self.complete(batch.id)
        return batch

    def file_url(self, batch_id: str, dataset_id: str, file_path: str) -> str:
        name = quote(file_path.lstrip("/"), safe="/=")
        batch, dataset = quote(batch_id, safe=""), quote(dataset_id, safe="")
        return f"{self._base}/batches/{batch}/datasets/{dataset}/files/{name}"

    def upload(
        self,
        batch_id: str,
        dataset_id: str,
        file_path: str,
        source: ByteSource,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        single_put_limit: int = SINGLE_PUT_LIMIT,
    ) -> None:
        """Upload a file: one streamed PUT up to ``single_put_limit``, else the large-file protocol."""
        if source.size <= single_put_limit:
            self.put_file(batch_id, dataset_id, file_path, source)
        else:
            self.upload_large(batch_id, dataset_id, file_path, source, chunk_size=chunk_size)

    def put_file(self, batch_id: str, dataset_id: str, file_path: str, source: ByteSource) -> None:
        """``PUT .../files/{path}`` streaming the source (re-opened on each retry).

        The body is framed by ``Content-Length`` (the source's size) and read in bounded blocks.
        """
        size = source.size
        if size == 0:
            raise AepValidationError(f"{file_path}: AEP rejects empty files")
        self._send_range(
            "PUT",
            self.file_url(batch_id, dataset_id, file_path),
            source,
            0,
            size,
            name=file_path,
            headers={"Content-Type": "application/octet-stream"},
            context="upload file",
        )

    def _send_range(
        self,
        method: str,
        url: str,
        source: ByteSource,
        offset: int,
        length: int,
        *,
        name: str,
        headers: dict[str, str],
        context: str,
    ) -> None:
        """Send ``length`` bytes of ``source`` from ``offset`` as one body, re-read on every attempt."""
        total = source.size
        streams: list[SizedStream] = []

        def body() -> SizedStream:
            stream = SizedStream(source, offset, length, name=name, total=total)
            streams.append(stream)
            return stream

        try:
            self._t.request(method, url, headers=headers, body=body, context=context)
        finally:
            for stream in streams:
                stream.close()

    def upload_large(
        self,
        batch_id: str,
        dataset_id: str,
        file_path: str,
        source: ByteSource,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        resume: bool = False,
    ) -> None:
        """The large-file protocol: INITIALIZE, PATCH parts with ``Content-Range``, COMPLETE.

        With ``resume=True`` the file is not initialised again: ``HEAD`` tells how many bytes AEP holds and
        the upload continues from there. Each part is streamed from the source (re-opened at the part's
        offset on every attempt) with a ``Content-Length``: memory use is one read block, not one part.
        """
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK_SIZE}")
        url = self.file_url(batch_id, dataset_id, file_path)
        start = 0
        if resume:
            start = self.uploaded_bytes(batch_id, dataset_id, file_path)
        else:
            self._t.request("POST", url, params={"action": "INITIALIZE"}, context="initialize large file")
        total = source.size
        offset = start
        while offset < total:
            end = min(offset + chunk_size, total) - 1
            self._send_range(
                "PATCH",
                url,
                source,
                offset,
                end - offset + 1,
                name=file_path,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"bytes {offset}-{end}/{total}",
                },
                context="upload file part",
            )
            logger.debug("uploaded part", extra={"start": offset, "end": end, "total": total})
            offset = end + 1
        self._t.request("POST", url, params={"action": "COMPLETE"}, context="complete large file")

    def uploaded_bytes(self, batch_id: str, dataset_id: str, file_path: str) -> int:
        """How many leading bytes of a large file AEP has received (``HEAD``, ``Range`` header)."""
        response = self._t.request(
            "HEAD", self.file_url(batch_id, dataset_id, file_path), context="large file status"
        )
        matches = _RANGE_RE.findall(response.headers.get("Range", ""))
        received = 0
        for first, last in sorted((int(a), int(b)) for a, b in matches):
            if first > received:
                break
            received = max(received, last + 1)
        return received

    def complete(self, batch_id: str) -> None:
        """Signal that every file is uploaded. Safe to retry (AEP answers success again)."""
        self._signal(batch_id, "COMPLETE")

    def abort(self, batch_id: str) -> None:
        self._signal(batch_id, "ABORT")

    def _signal(self, batch_id: str, action: str) -> None:
        self._t.request(
            "POST",
            f"{self._base}/batches/{quote(batch_id, safe='')}",
            params={"action": action},
            context=f"{action.lower()} batch",
        )
