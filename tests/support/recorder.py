"""A scripted HTTP server on 127.0.0.1 that records every request: for request-shape tests.

Each route answers with a queue of replies (the last one repeats); a reply is a status, headers and a
body, a callable computing one from the request, or DROP to close the connection without answering.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


DROP = object()
Responder = Reply | Callable[[Recorded], Reply] | object


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._routes: list[tuple[str, re.Pattern[str], list[Responder]]] = []
        self._lock = threading.Lock()
        self.url = ""

    def on(self, method: str, path_pattern: str, *replies: Responder) -> None:
        """Answer ``method`` on paths matching ``path_pattern`` (a regex, anchored) with ``replies``."""
        self._routes.insert(0, (method.upper(), re.compile(path_pattern + r"$"), list(replies)))

    def calls(self, method: str | None = None, path_contains: str = "") -> list[Recorded]:
        return [
            r for r in self.requests if (method is None or r.method == method) and path_contains in r.path
        ]

    def _answer(self, request: Recorded) -> Responder:
        with self._lock:
            self.requests.append(request)
            for method, pattern, replies in self._routes:
                if method == request.method and pattern.match(request.path):
                    reply = replies.pop(0) if len(replies) > 1 else replies[0]
                    break
            else:
                reply = Reply(599, {"message": f"no route for {request.method} {request.path}"})
        if callable(reply) and not isinstance(reply, Reply):
            return cast("Reply", reply(request))
        return reply


@contextmanager
def serve(recorder: Recorder) -> Iterator[Recorder]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            recorded = Recorded(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
            )
            reply = recorder._answer(recorded)
            if reply is DROP:
                self.close_connection = True
                self.connection.close()
                return
            assert isinstance(reply, Reply)
            data = reply.encoded()
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_HEAD = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # A short poll: shutdown() waits for the serving loop to notice, up to one poll per test otherwise 0.5 s.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
