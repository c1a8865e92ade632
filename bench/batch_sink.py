"""A batch sink for the batch benchmark: AEP's Batch Ingestion protocol at no cost per byte.

It answers what an uploader needs (an IMS token; create a batch; PUT a file; the large-file protocol of
INITIALIZE, PATCH with ``Content-Range``, HEAD, COMPLETE; COMPLETE or ABORT of a batch), reads every body
in 1 MB blocks, counts its bytes and newlines and throws them away. Nothing is parsed or stored, so a
benchmark against it measures the uploader, not the server (the emulator parses every file on COMPLETE).
As AEP does, a single PUT over 256 MB is answered 413 (after the body is drained, so the client reads it).

It also answers what the batch function asks before it reads a file: the dataset (``GET
/data/foundation/catalog/dataSets/{id}``, its ``schemaRef``) and that schema (``GET
/data/foundation/schemaregistry/tenant/schemas/{id}``, ``xed-full``: the emulator's call-event schema with the
benchmark's call fields, bench/batch_data.py), so the function checks every record as it does against AEP.

``GET /_sink/counters`` answers the counts as JSON; ``POST /_sink/reset`` zeroes them. Any other request is
answered 404 and counted as ``unexpected``. Run it in its own process: ``python bench/batch_sink.py PORT``.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BLOCK = 1024 * 1024
SINGLE_PUT_LIMIT = 256 * 1024 * 1024
IMPORT = "/data/foundation/import/batches"
FILE_PATH = re.compile(rf"^{IMPORT}/(?P<batch>[^/]+)/datasets/(?P<dataset>[^/]+)/files/(?P<path>.+)$")
BATCH_PATH = re.compile(rf"^{IMPORT}/(?P<batch>[^/]+)$")
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
DATASETS = "/data/foundation/catalog/dataSets/"
SCHEMAS = "/data/foundation/schemaregistry/tenant/schemas/"
#: The benchmark's dataset (bench/batch_runs.py) and the schema the sink gives it.
BENCH_DATASET = "5c8c3c555033b814b69f947f"
BENCH_SCHEMA = "https://ns.adobe.com/acme/schemas/bench-call-event"
#: The call fields of bench/batch_data.py's records.
CALL_FIELDS: dict[str, Any] = {
    "callId": {"type": "string"},
    "direction": {"type": "string", "enum": ["inbound", "outbound"]},
    "queue": {"type": "string"},
    "intent": {"type": "string"},
    "outcome": {"type": "string"},
    "durationSeconds": {"type": "integer", "minimum": 0},
    "holdSeconds": {"type": "integer", "minimum": 0},
    "agentId": {"type": "string"},
    "transfers": {"type": "integer", "minimum": 0},
    "ivrPath": {"type": "array", "items": {"type": "string"}},
    "sentiment": {"type": "number"},
    "recordingConsent": {"type": "boolean"},
    "notes": {"type": "string"},
    "wrapUpCode": {"type": "string"},
}


def bench_schema() -> dict[str, Any]:
    """The emulator's call-event schema (``xed-full``, as its Schema Registry serves it) with the benchmark
    records' call fields."""
    from bench.stream_sink import emulator_call_event_schema  # noqa: PLC0415 - once, at start

    body = emulator_call_event_schema()
    body["$id"], body["meta:altId"], body["title"] = BENCH_SCHEMA, "_acme.schemas.bench-call-event", "Bench"
    body["properties"]["_acme"]["properties"]["call"]["properties"] = CALL_FIELDS
    return body


def parse_content_range(value: str) -> tuple[int, int, int] | None:
    """``bytes start-end/total`` as three integers, or None when the header is not of that form or the
    range is empty or past the total."""
    match = CONTENT_RANGE.match(value.strip())
    if not match:
        return None
    start, end, total = (int(group) for group in match.groups())
    if end < start or end >= total:
        return None
    return start, end, total


def received_prefix(ranges: list[tuple[int, int]]) -> int:
    """How many leading bytes the ranges (inclusive ``(start, end)`` pairs) hold without a gap."""
    received = 0
    for start, end in sorted(ranges):
        if start > received:
            break
        received = max(received, end + 1)
    return received


class Counters:
    """What reached the sink; one lock, updated once per request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: dict[str, int] = {}
        self.body_bytes = 0
        self.newlines = 0
        self.files: dict[str, int] = {}
        self.parts: dict[str, list[tuple[int, int]]] = {}
        self.batches_created = 0
        self.batches_completed = 0
        self.batches_aborted = 0
        self.refused_puts = 0
        self.unexpected = 0

    def view(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "body_bytes": self.body_bytes,
            "newlines": self.newlines,
            "files": dict(self.files),
            "batches_created": self.batches_created,
            "batches_completed": self.batches_completed,
            "batches_aborted": self.batches_aborted,
            "refused_puts": self.refused_puts,
            "unexpected": self.unexpected,
        }


class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SinkServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a request log would cost more than the sink."""

    # -- plumbing -------------------------------------------------------------------------------------

    def _drain(self) -> tuple[int, int]:
        """Read the body (Content-Length or chunked) in blocks; returns (bytes, newlines)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._drain_chunked()
        left = int(self.headers.get("Content-Length") or 0)
        size = newlines = 0
        while left > 0:
            block = self.rfile.read(min(BLOCK, left))
            if not block:
                break
            size += len(block)
            newlines += block.count(b"\n")
            left -= len(block)
        return size, newlines

    def _drain_chunked(self) -> tuple[int, int]:
        size = newlines = 0
        while True:
            length = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if length == 0:
                while self.rfile.readline().strip():  # trailer fields, then the empty line
                    pass
                return size, newlines
            left = length
            while left > 0:
                block = self.rfile.read(min(BLOCK, left))
                if not block:
                    return size, newlines
                size += len(block)
                newlines += block.count(b"\n")
                left -= len(block)
            self.rfile.readline()  # the CRLF after the chunk

    def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _count(self, route: str, size: int = 0, newlines: int = 0) -> Counters:
        counters = self.server.counters
        with counters.lock:
            counters.requests[route] = counters.requests.get(route, 0) + 1
            counters.body_bytes += size
            counters.newlines += newlines
        return counters

    # -- methods --------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._drain()
        path = urlsplit(self.path).path
        if path == DATASETS + BENCH_DATASET:
            self._count("dataset")
            reference = {"id": BENCH_SCHEMA, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
            self._answer(200, {BENCH_DATASET: {"name": "bench calls", "schemaRef": reference}})
            return
        if path.startswith(SCHEMAS) and unquote(path[len(SCHEMAS) :]) == BENCH_SCHEMA:
            self._count("schema")
            self._answer(200, self.server.schema)
            return
        if path == "/_sink/counters":
            counters = self.server.counters
            with counters.lock:
                view = counters.view()
            self._answer(200, view)
            return
        self._unexpected()

    def do_POST(self) -> None:
        self._drain()  # control requests: their small bodies are not counted
        url = urlsplit(self.path)
        action = parse_qs(url.query).get("action", [""])[0].upper()
        if url.path == "/_sink/reset":
            counters = self.server.counters
            with counters.lock:
                counters.reset()
            self._answer(200, {})
        elif url.path == "/ims/token/v3":
            self._count("token")
            self._answer(200, {"access_token": "sink-token", "token_type": "bearer", "expires_in": 86_400})
        elif url.path == IMPORT:
            self._create_batch()
        elif match := FILE_PATH.match(url.path):
            self._file_action(match["path"], action)
        elif match := BATCH_PATH.match(url.path):
            self._batch_action(match["batch"], action)
        else:
            self._unexpected()

    def do_PUT(self) -> None:
        match = FILE_PATH.match(urlsplit(self.path).path)
        size, newlines = self._drain()
        if match is None:
            self._unexpected()
            return
        counters = self._count("put", size, newlines)
        if size > SINGLE_PUT_LIMIT:
            with counters.lock:
                counters.refused_puts += 1
            self._answer(413, {"title": "Payload too large", "detail": "Files over 256 MB: large file API."})
            return
        with counters.lock:
            counters.files[match["path"]] = size
        self._answer(200)

    def do_PATCH(self) -> None:
        match = FILE_PATH.match(urlsplit(self.path).path)
        size, newlines = self._drain()
        span = parse_content_range(self.headers.get("Content-Range", ""))
        if match is None or span is None or span[1] - span[0] + 1 != size:
            self._unexpected()
            return
        counters = self._count("patch", size, newlines)
        with counters.lock:
            counters.parts.setdefault(match["path"], []).append((span[0], span[1]))
        self._answer(200, headers={"Range": f"bytes={span[0]}-{span[1]}"})

    def do_HEAD(self) -> None:
        match = FILE_PATH.match(urlsplit(self.path).path)
        if match is None:
            self._unexpected()
            return
        counters = self._count("head")
        with counters.lock:
            received = received_prefix(counters.parts.get(match["path"], []))
        self._answer(200, headers={"Range": f"bytes=0-{received - 1}"} if received else {})

    # -- batch protocol -------------------------------------------------------------------------------

    def _create_batch(self) -> None:
        counters = self._count("create")
        with counters.lock:
            counters.batches_created += 1
            batch_id = f"sink-batch-{counters.batches_created}"
        self._answer(201, {"id": batch_id, "status": "loading", "relatedObjects": [], "tags": {}})

    def _file_action(self, path: str, action: str) -> None:
        counters = self._count(f"file-{action.lower() or 'none'}")
        if action == "INITIALIZE":
            with counters.lock:
                counters.parts[path] = []
            self._answer(201)
        elif action == "COMPLETE":
            with counters.lock:
                size = received_prefix(counters.parts.get(path, []))
                counters.files[path] = size
            self._answer(201, {"name": path, "sizeInBytes": size})
        else:
            self._unexpected()

    def _batch_action(self, batch_id: str, action: str) -> None:
        counters = self._count(f"batch-{action.lower() or 'none'}")
        if action not in ("COMPLETE", "ABORT"):
            self._unexpected()
            return
        with counters.lock:
            if action == "COMPLETE":
                counters.batches_completed += 1
            else:
                counters.batches_aborted += 1
        del batch_id
        self._answer(200)

    def _unexpected(self) -> None:
        counters = self.server.counters
        with counters.lock:
            counters.unexpected += 1
        self._answer(404, {"title": "Not found", "detail": "the batch sink does not answer this request"})


class SinkServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), SinkHandler)
        self.counters = Counters()
        self.schema = bench_schema()


def main() -> int:
    server = SinkServer(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(f"ready {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
