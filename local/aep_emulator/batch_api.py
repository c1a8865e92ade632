"""Batch Ingestion (/data/foundation/import), Catalog batches, Data Access (/data/foundation/export).

Catalog datasets are :mod:`aep_emulator.catalog_api`'s.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from aep_emulator import gateway
from aep_emulator.records import parse_file, validate
from aep_emulator.state import Batch, BatchFile, Space, State
from aep_emulator.web import Request, Response, Router, json_response, text_response

SINGLE_PUT_LIMIT = 256 * 1024 * 1024
MAX_PART = 512_000_000
MAX_FILES = 1500
_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)(?:/(\d+|\*))?$")
FORMATS = {"json", "parquet", "csv"}


def _problem(status: int, title: str, detail: str) -> Response:
    return json_response(
        status,
        {
            "type": f"http://ns.adobe.com/aep/errors/INGEST-{status}",
            "title": title,
            "status": status,
            "detail": detail,
        },
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


def routes(router: Router, state: State) -> None:
    base = "/data/foundation/import/batches"
    file_route = base + r"/(?P<batch>[^/]+)/datasets/(?P<dataset>[^/]+)/files/(?P<path>.+)"
    router.add("POST", base, gateway.in_space(state, create))
    router.add("PUT", file_route, gateway.in_space(state, put_file))
    router.add("POST", file_route, gateway.in_space(state, file_action))
    router.add("PATCH", file_route, gateway.in_space(state, patch_file))
    router.add("HEAD", file_route, gateway.in_space(state, head_file))
    router.add("POST", base + r"/(?P<batch>[^/]+)", gateway.in_space(state, batch_action))
    router.add(
        "GET", r"/data/foundation/catalog/batches/(?P<batch>[^/]+)", gateway.in_space(state, catalog_batch)
    )
    router.add("GET", r"/data/foundation/catalog/batches", gateway.in_space(state, catalog_batches))
    router.add(
        "GET", r"/data/foundation/export/batches/(?P<batch>[^/]+)/meta", gateway.in_space(state, export_meta)
    )
    router.add(
        "GET",
        r"/data/foundation/export/batches/(?P<batch>[^/]+)/failed",
        gateway.in_space(state, export_failed),
    )


def create(space: Space, request: Request) -> Response:
    if "application/json" not in (request.header("content-type") or ""):
        return json_response(
            400,
            {
                "type": "/placeholder/type/uri",
                "status": 400,
                "title": "BadRequestError",
                "detail": "A valid content-type must be specified",
            },
        )
    try:
        body = request.json()
    except ValueError:
        return _problem(400, "Bad request", "The request body is not valid JSON.")
    if (
        not isinstance(body, dict)
        or not body.get("datasetId")
        or not isinstance(body.get("inputFormat"), dict)
    ):
        return _problem(400, "Bad request", "datasetId and inputFormat are required.")
    dataset = space.dataset(str(body["datasetId"]))
    if dataset is None:
        return _problem(400, "Bad request", f"Dataset {body['datasetId']} not found.")
    fmt = str(body["inputFormat"].get("format", "")).lower()
    if fmt not in FORMATS:
        return _problem(400, "Bad request", f"Unsupported input format {fmt!r}.")
    batch_id = space.new_batch_id()
    partial = body.get("partialIngestionPercent")
    batch = Batch(
        id=batch_id,
        dataset_id=dataset.id,
        input_format={**body["inputFormat"], "format": fmt},
        created_ms=_now_ms(),
        diagnostics=bool(body.get("enableErrorDiagnostics", False)),
        partial_percent=float(partial) if isinstance(partial, (int, float)) else None,
        external_id=str(body.get("externalId") or batch_id),
        client_id=request.header("x-api-key") or "",
        updated_ms=_now_ms(),
    )
    with space.lock:
        space.batches[batch_id] = batch
    return json_response(201, _batch_view(batch, created=True))


def _batch_for_file(space: Space, request: Request) -> tuple[Batch | None, Response | None]:
    batch = space.batches.get(request.params["batch"])
    if batch is None:
        return None, _problem(404, "Not found", f"Batch {request.params['batch']} not found.")
    if batch.dataset_id != request.params["dataset"]:
        return None, _problem(
            404, "Not found", f"Dataset {request.params['dataset']} not found in this batch."
        )
    if batch.status != "loading":
        return None, _problem(
            400, "Bad request", f"Batch {batch.id} is {batch.status}; files can no longer change."
        )
    return batch, None


def put_file(space: Space, request: Request) -> Response:
    batch, error = _batch_for_file(space, request)
    if error or batch is None:
        return error or _problem(500, "error", "")
    if (request.header("content-type") or "").split(";")[0].strip() != "application/octet-stream":
        return _problem(415, "Unsupported media type", "Files must be sent as application/octet-stream.")
    if request.size > SINGLE_PUT_LIMIT:
        return _problem(413, "Payload too large", "Files over 256 MB must use the large file upload API.")
    path = request.params["path"]
    with space.lock:
        if path not in batch.files and len(batch.files) >= MAX_FILES:
            return _problem(400, "Bad request", f"A batch holds at most {MAX_FILES} files.")
    stored = space.files.new_file()
    request.stream.seek(0)
    size = space.files.write(stored, request.stream)  # outside the lock: a 256 MB copy takes a while
    with space.lock:  # checked again: the batch may have changed while the bytes were copied
        if batch.status != "loading":
            space.files.remove(stored)
            detail = f"Batch {batch.id} is {batch.status}; files can no longer change."
            return _problem(400, "Bad request", detail)
        if path not in batch.files and len(batch.files) >= MAX_FILES:
            space.files.remove(stored)
            return _problem(400, "Bad request", f"A batch holds at most {MAX_FILES} files.")
        previous = batch.files.get(path)
        batch.files[path] = BatchFile(stored, size)
    if previous is not None:
        space.files.remove(previous.path)
    # Adobe's guide answers a small-file upload with 200 OK, new file or replaced (aep-api.md 2.2).
    return Response(200)


def file_action(space: Space, request: Request) -> Response:
    action = request.query.get("action", "").upper()
    batch, error = _batch_for_file(space, request)
    if error or batch is None:
        return error or _problem(500, "error", "")
    path = request.params["path"]
    with space.lock:
        if action == "INITIALIZE":
            if path not in batch.files and len(batch.files) >= MAX_FILES:
                return _problem(400, "Bad request", f"A batch holds at most {MAX_FILES} files.")
            previous = batch.files.get(path)
            if previous is not None:
                space.files.remove(previous.path)
            batch.files[path] = BatchFile(space.files.new_file(), large=True, complete=False)
            return Response(201)
        if action == "COMPLETE":
            entry = batch.files.get(path)
            if entry is None or not entry.large:
                return _problem(404, "Not found", f"No large file {path} was initialized.")
            expected = 0
            for start in sorted(entry.parts):
                if start != expected:
                    kind = "overlapping" if start < expected else "missing"
                    return _problem(
                        400, "Bad request", f"Chunks of {path} are {kind} at byte {min(start, expected)}."
                    )
                expected = entry.parts[start] + 1
            if expected != entry.size:
                return _problem(400, "Bad request", f"Chunks of {path} are missing after byte {expected}.")
            entry.complete = True
            return json_response(201, {"name": path, "sizeInBytes": entry.size})
    return _problem(400, "Bad request", "action must be INITIALIZE or COMPLETE.")


def patch_file(space: Space, request: Request) -> Response:
    batch, error = _batch_for_file(space, request)
    if error or batch is None:
        return error or _problem(500, "error", "")
    match = _RANGE.match((request.header("content-range") or "").strip())
    if not match:
        return _problem(400, "Bad request", "Content-Range must be 'bytes start-end/total'.")
    start, end = int(match[1]), int(match[2])
    if end < start or end - start + 1 != request.size:
        return _problem(400, "Bad request", "Content-Range does not match the body length.")
    if request.size > MAX_PART:
        return _problem(413, "Payload too large", f"A part may be at most {MAX_PART} bytes.")
    path = request.params["path"]
    with space.lock:
        entry = batch.files.get(path)
        if entry is None or not entry.large:
            return _problem(404, "Not found", f"Large file {path} was not initialized.")
    request.stream.seek(0)
    space.files.write(entry.path, request.stream, start)  # outside the lock; parts may arrive in parallel
    with space.lock:
        entry.size = max(entry.size, end + 1)
        entry.parts[start] = end
    return Response(200, headers={"Range": f"bytes={start}-{end}"})


def head_file(space: Space, request: Request) -> Response:
    batch = space.batches.get(request.params["batch"])
    entry = batch.files.get(request.params["path"]) if batch else None
    if entry is None:
        return Response(404)
    received = 0
    for start in sorted(entry.parts):
        if start > received:
            break
        received = max(received, entry.parts[start] + 1)
    headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
    return Response(200, headers=headers)


def batch_action(space: Space, request: Request) -> Response:
    batch = space.batches.get(request.params["batch"])
    if batch is None:
        return _problem(404, "Not found", f"Batch {request.params['batch']} not found.")
    action = request.query.get("action", "").upper()
    with space.lock:
        if action == "COMPLETE":
            if batch.status != "loading":
                return Response(200)  # documented as safe to retry
            for path, entry in batch.files.items():
                if not entry.complete:
                    return _problem(400, "Bad request", f"Large file {path} was not completed.")
            _process(space, batch)
            return Response(200)
        if action == "ABORT":
            if batch.status in ("success", "failed"):
                return _problem(400, "Bad request", "A finalized batch cannot be aborted.")
            batch.status = "aborted"
            batch.updated_ms = _now_ms()
            return Response(200)
        if action in ("FAIL", "REVERT"):
            batch.status = "failed" if action == "FAIL" else "inactive"
            batch.updated_ms = _now_ms()
            return Response(200)
    return _problem(400, "Bad request", "action must be COMPLETE, ABORT, FAIL or REVERT.")


def _process(space: Space, batch: Batch) -> None:  # noqa: PLR0915 - one pass over the files
    """Parse every file, validate every record, merge good ones into profiles, set the final status."""
    dataset = space.dataset(batch.dataset_id)
    assert dataset is not None
    check = space.check(dataset, "batch")
    fmt = str(batch.input_format.get("format", "json"))
    multi = bool(batch.input_format.get("isMultiLineJson", False))
    total = failed = size = 0
    errors: dict[str, dict[str, Any]] = {}
    parsing: list[dict[str, Any]] = []
    conversion: list[dict[str, Any]] = []
    good: list[dict[str, Any]] = []
    empty_files = 0
    for path, entry in batch.files.items():
        size += entry.size
        if not entry.size:
            empty_files += 1
            continue
        try:
            rows, corrupt = parse_file(entry.path, fmt, multi, dataset)
        except Exception:  # an unreadable Parquet file, say
            rows, corrupt = [], [f"<unreadable {fmt} file>"]
        for text in corrupt:
            total += 1
            failed += 1
            parsing.append(
                {
                    "_corrupt_record": text,
                    "_errors": [
                        {
                            "code": "1401",
                            "message": "Row is corrupted and cannot be read, please fix and resend.",
                        }
                    ],
                    "_filename": path,
                }
            )
            errors.setdefault(
                "1401",
                {
                    "code": "INGEST-1401-400",
                    "description": "The row has corrupted data and cannot be read or parsed.",
                    "recordCount": 0,
                },
            )
            errors["1401"]["recordCount"] += 1
        for row in rows:
            total += 1
            problems = validate(row, dataset, check)
            if problems:
                failed += 1
                conversion.append(
                    {
                        "_corrupt_record": json.dumps(row)[:1000],
                        "_filename": path,
                        "_errors": [{"code": p.code, "message": p.message} for p in problems],
                    }
                )
                code = problems[0].code
                errors.setdefault(
                    code, {"code": f"INGEST-{code}-400", "description": problems[0].message, "recordCount": 0}
                )
                errors[code]["recordCount"] += 1
            else:
                good.append(row)
    batch.metrics = {
        "inputByteSize": size,
        "inputFileCount": len(batch.files),
        "inputRecordCount": total,
        "outputRecordCount": total - failed,
        "failedRecordCount": failed,
    }
    batch.completed_ms = batch.updated_ms = _now_ms()
    batch.polls_left = space.config.batch_status_polls
    if not batch.files or (empty_files and empty_files == len(batch.files)):
        batch.status = "failed"
        batch.errors = [
            {"code": "106", "description": "Dataset file is empty. Please upload file with data.", "rows": []}
        ]
        return
    tolerated = batch.partial_percent if batch.partial_percent is not None else 0.0
    ok = failed == 0 or (total > 0 and failed * 100.0 / total <= tolerated and failed < total)
    if failed:
        if batch.diagnostics:
            summary = {
                "code": "INGEST-1212-400",
                "description": f"Encountered {failed} errors in the data. "
                f"Successfully ingested {total - failed if ok else 0} rows. Please review the associated "
                "diagnostic files for more details.",
            }
            batch.errors = [summary, *errors.values()]
            if parsing:
                batch.row_errors["parsing_errors_0.json"] = parsing
            if conversion:
                batch.row_errors["conversion_errors_0.json"] = conversion
        else:
            batch.errors = [
                {
                    "code": "INGEST-1211-400",
                    "description": "Encountered errors while parsing, "
                    "converting or otherwise validating the data. Please resend the data with error "
                    "diagnostics enabled to collect additional information on failure types",
                }
            ]
    batch.status = "success" if ok else "failed"
    if ok and dataset.profile_enabled:
        for row in good:
            space.profiles.ingest(row, dataset)


def _batch_view(batch: Batch, created: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": batch.id,
        "imsOrg": "",
        "status": batch.status,
        "relatedObjects": [{"type": "dataSet", "id": batch.dataset_id}],
        "version": "1.0.0",
        "tags": {},
        "created": batch.created_ms,
        "updated": batch.updated_ms,
        "createdUser": batch.client_id,
        "updatedUser": batch.client_id,
    }
    if created:
        return view
    view.update(
        {"externalId": batch.external_id, "inputFormat": batch.input_format, "createdClient": batch.client_id}
    )
    view["tags"] = {"acp_enableErrorDiagnostics": batch.diagnostics}
    if batch.partial_percent is not None:
        view["tags"]["acp_partialIngestionPercent"] = batch.partial_percent
    if batch.completed_ms:
        view["completed"] = batch.completed_ms
    if batch.metrics:
        view["metrics"] = batch.metrics
    if batch.errors:
        view["errors"] = batch.errors
    return view


def catalog_batch(space: Space, request: Request) -> Response:
    batch = space.batches.get(request.params["batch"])
    if batch is None or not _visible(batch, _now_ms()):
        return json_response(
            404,
            {
                "type": "http://ns.adobe.com/aep/errors/CAT-404",
                "title": "Not found",
                "status": 404,
                "detail": f"Batch {request.params['batch']} not found.",
            },
        )
    with space.lock:
        view = _batch_view(batch)
        view["imsOrg"] = space.config.org_id
        if batch.completed_ms and batch.polls_left > 0:
            batch.polls_left -= 1
            view["status"] = "staging"
            view.pop("metrics", None)
            view.pop("errors", None)
    return json_response(200, {batch.id: view})


def _visible(batch: Batch, now_ms: int) -> bool:
    """A streaming failed batch appears in Catalog when its window closes; other batches at once."""
    return batch.origin != "streaming" or now_ms >= batch.visible_ms


def _int_params(request: Request, names: tuple[str, ...]) -> dict[str, int | None] | Response:
    values: dict[str, int | None] = {}
    for name in names:
        text = request.query.get(name)
        if text is None or text == "":
            values[name] = None
            continue
        try:
            values[name] = int(text)
        except ValueError:
            return _problem(400, "Bad request", f"{name} must be an integer.")
    return values


_ORDERS = {"": False, "created": False, "asc:created": False, "desc:created": True}


def catalog_batches(space: Space, request: Request) -> Response:
    """``GET /batches`` filtered by ``externalId``, ``dataSet``, ``status`` and ``createdAfter`` /
    ``createdBefore`` (exclusive, epoch ms), ordered by ``orderBy`` (``asc:created`` / ``desc:created``),
    from offset ``start``; at most ``limit`` (<= 100). Catalog's ``status`` filter is the stored word;
    the emulator stores ``success`` and ``failed`` only."""
    numbers = _int_params(request, ("limit", "start", "createdAfter", "createdBefore"))
    if isinstance(numbers, Response):
        return numbers
    limit = 100 if numbers["limit"] is None else numbers["limit"]
    start = numbers["start"] or 0
    if not 1 <= limit <= 100:
        return _problem(400, "Bad request", "limit must be between 1 and 100.")
    if start < 0:
        return _problem(400, "Bad request", "start must not be negative.")
    order = request.query.get("orderBy", "").strip().lower()
    if order not in _ORDERS:
        return _problem(400, "Bad request", "orderBy supports asc:created and desc:created.")
    after, before = numbers["createdAfter"], numbers["createdBefore"]
    filters = {name: request.query.get(name) for name in ("externalId", "dataSet", "status")}
    now = _now_ms()
    with space.lock:
        ordered = sorted(space.batches.values(), key=lambda b: (b.created_ms, b.id), reverse=_ORDERS[order])
        chosen = [
            b
            for b in ordered
            if _visible(b, now)
            and filters["externalId"] in (None, b.external_id)
            and filters["dataSet"] in (None, b.dataset_id)
            and filters["status"] in (None, b.status)
            and (after is None or b.created_ms > after)
            and (before is None or b.created_ms < before)
        ][start : start + limit]
        views: dict[str, Any] = {}
        for batch in chosen:
            view = _batch_view(batch)
            view["imsOrg"] = space.config.org_id
            views[batch.id] = view
    return json_response(200, views)


def export_meta(space: Space, request: Request) -> Response:
    batch = space.batches.get(request.params["batch"])
    if batch is None:
        return _problem(404, "Not found", f"Batch {request.params['batch']} not found.")
    path = request.query.get("path", "")
    if path == "row_errors":
        data = [
            {
                "name": name,
                "length": str(len(json.dumps(rows))),
                "_links": {"self": {"href": f"{request.path}?path=row_errors/{name}"}},
            }
            for name, rows in batch.row_errors.items()
        ]
        return json_response(200, {"_page": {"count": len(data), "limit": 100}, "data": data})
    if path.startswith("row_errors/"):
        rows = batch.row_errors.get(path.split("/", 1)[1])
        if rows is None:
            return _problem(404, "Not found", f"{path} not found.")
        return text_response(200, "".join(json.dumps(row) + "\n" for row in rows), "application/json-lines")
    if path == "input_files":
        data = [{"name": name, "length": str(entry.size)} for name, entry in batch.files.items()]
        return json_response(200, {"_page": {"count": len(data), "limit": 100}, "data": data})
    return _problem(400, "Bad request", "Unknown meta path.")


def _failed_file(batch: Batch) -> str:
    """The name of a streaming failed batch's one file (AEP's look: a Spark part file)."""
    return f"part-00000-{batch.id.lower()}-c000.json"


def export_failed(space: Space, request: Request) -> Response:
    """``GET /batches/{id}/failed``: the failed batch's files (``_SUCCESS`` and the part file of its
    records), paged by ``start``/``limit`` (<= 100); with ``path=``, that file: JSON Lines, one refused
    record each, with its reasons under ``_errors`` (retrieve-failed-batches.md)."""
    batch = space.batches.get(request.params["batch"])
    if batch is None or not _visible(batch, _now_ms()):
        return _problem(404, "Not found", f"Batch {request.params['batch']} not found.")
    numbers = _int_params(request, ("limit", "start"))
    if isinstance(numbers, Response):
        return numbers
    limit = 100 if numbers["limit"] is None else numbers["limit"]
    start = numbers["start"] or 0
    if not 1 <= limit <= 100 or start < 0:
        return _problem(400, "Bad request", "limit must be between 1 and 100, start not negative.")
    with space.lock:
        records = list(batch.failed_records)
    files = {"_SUCCESS": ""}
    if records:
        files[_failed_file(batch)] = "".join(json.dumps(line) + "\n" for line in records)
    path = request.query.get("path")
    if path is not None:
        if path not in files:
            return _problem(404, "Not found", f"{path} not found.")
        return text_response(200, files[path], "application/json-lines")
    base = f"{request.path}?path="
    data = [
        {"name": name, "length": str(len(text.encode())), "_links": {"self": {"href": base + name}}}
        for name, text in files.items()
    ][start : start + limit]
    return json_response(200, {"_page": {"count": len(data), "limit": limit}, "data": data})
