"""A streaming sink for the benchmarks: AEP's streaming answers at almost no CPU per request.

It answers an IMS token (``POST /ims/token/v3``), a multi-message request (``POST /collection/batch/{inlet}``:
after a fixed latency, a 207 with one ``xactionId`` per message) and a single message
(``POST /collection/{inlet}``: a 200 with its ``xactionId``), the latency on each streaming request (150 ms
by default). It parses nothing: the messages of a request are counted by their ``"xdmEntity"`` keys (the
benchmarks' records never hold that key themselves) and the 207 for a count is built once. So a benchmark
against it measures the client, not the server (the emulator validates every message, on the same cores).

``GET /_sink/counters`` answers the counts (requests by route, messages, body bytes, and each streaming
request's arrival on the system's monotonic clock, to line up with a client's ``time.monotonic()``) as
JSON; ``POST /_sink/reset`` zeroes them. ``GET /data/foundation/schemaregistry/tenant/schemas/{id}``
answers the call-event schema of the emulator's default sandbox (``xed-full``, resolved once at start): the
functions check records against it before sending, as they do with AEP's Schema Registry.
Run it in its own process:
``python bench/stream_sink.py PORT [LATENCY_MS]``; it prints ``ready PORT``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

ENTITY = b'"xdmEntity"'
SCHEMAS = "/data/foundation/schemaregistry/tenant/schemas/"
#: The dataset of the benchmarks' call events in the emulator's default sandbox (bench/streamkit.py).
CALL_EVENTS_DATASET = "65f0c0a1e4b0c1d2e3f40002"


def emulator_call_event_schema() -> dict[str, Any]:
    """The call-event schema of the emulator's default sandbox, ``xed-full``, as its Schema Registry serves
    it (the batch sink serves it too, with the batch benchmark's call fields)."""
    from aep_emulator import load_config  # noqa: PLC0415 - the sinks need it once, at start
    from aep_emulator.schema_registry import render  # noqa: PLC0415
    from aep_emulator.xdm import Registry  # noqa: PLC0415

    config = load_config()
    registry = Registry(config, "prod")
    dataset = config.dataset(CALL_EVENTS_DATASET)
    schema = registry.find(dataset.schema_ref) if dataset is not None else None
    if schema is None:
        raise RuntimeError("the default sandbox has no call-event schema")
    return render(registry, schema, "xed-full")


def call_event_schema() -> tuple[frozenset[str], bytes]:
    """The call-event schema's ``$id`` and ``meta:altId``, and its ``xed-full`` body."""
    body = emulator_call_event_schema()
    return frozenset({body["$id"], body["meta:altId"]}), json.dumps(body).encode()


@lru_cache(maxsize=4096)
def batch_answer(count: int) -> bytes:
    """The 207 body for ``count`` messages (xactionIds are per position: the sink does not keep them)."""
    responses = [{"xactionId": f"sink-{n}"} for n in range(count)]
    return json.dumps(
        {"inletId": "sink", "batchId": "sink", "receivedTimeMs": 0, "responses": responses}
    ).encode()


SINGLE = json.dumps({"inletId": "sink", "xactionId": "sink-0", "receivedTimeMs": 0}).encode()
TOKEN = json.dumps({"access_token": "sink-token", "token_type": "bearer", "expires_in": 86_399}).encode()


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: dict[str, int] = {}
        self.messages = 0
        self.body_bytes = 0
        self.arrivals: list[float] = []

    def count(self, route: str, messages: int = 0, size: int = 0) -> None:
        with self.lock:
            self.requests[route] = self.requests.get(route, 0) + 1
            self.messages += messages
            self.body_bytes += size
            if messages:
                self.arrivals.append(time.monotonic())

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "messages": self.messages,
                "body_bytes": self.body_bytes,
                "arrivals": list(self.arrivals),
            }


class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small answers on kept-alive connections: no 40 ms delayed-ACK stalls
    server: SinkServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a request log would cost more than the sink."""

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/_sink/counters":
            self._answer(200, json.dumps(self.server.counters.view()).encode())
        elif path.startswith(SCHEMAS) and unquote(path[len(SCHEMAS) :]) in self.server.schema_ids:
            self.server.counters.count("schema")
            self._answer(200, self.server.schema)
        else:
            self._answer(404, b'{"title":"Not found"}')

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        body = self._body()
        counters = self.server.counters
        if path == "/ims/token/v3":
            counters.count("token")
            self._answer(200, TOKEN)
        elif path.startswith("/collection/batch/"):
            count = body.count(ENTITY)
            counters.count("batch", count, len(body))
            time.sleep(self.server.latency)
            self._answer(207, batch_answer(count))
        elif path.startswith("/collection/"):
            counters.count("single", 1, len(body))
            time.sleep(self.server.latency)
            self._answer(200, SINGLE)
        elif path == "/_sink/reset":
            with counters.lock:
                counters.reset()
            self._answer(200, b"{}")
        else:
            self._answer(404, b'{"title":"Not found"}')


class SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, port: int, latency_ms: float) -> None:
        super().__init__(("127.0.0.1", port), SinkHandler)
        self.counters = Counters()
        self.latency = latency_ms / 1000
        self.schema_ids, self.schema = call_event_schema()


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    latency = float(sys.argv[2]) if len(sys.argv) > 2 else 150.0
    server = SinkServer(port, latency)
    print(f"ready {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
