"""A small threaded HTTP/1.1 server with keep-alive, a regex router and JSON helpers (stdlib only).

Framing (what a request is, byte by byte) lives in :mod:`aep_emulator.http11`; this module turns framed
requests into :class:`Request` objects, routes them, and writes the :class:`Response`.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import socketserver
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from aep_emulator import strictjson
from aep_emulator.http11 import REASONS, Head, HttpError, Reader, RequestTimeout

MAX_BODY = 600 * 1024 * 1024  # above the 512,000,000-byte part limit; larger bodies are refused
TIMEOUT_SECONDS = 60.0  # an idle keep-alive connection, a request's head, each read of a body


@dataclass
class Request:
    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    stream: IO[bytes] = field(default_factory=io.BytesIO)
    size: int = 0
    params: dict[str, str] = field(default_factory=dict)
    _body: bytes | None = field(default=None, repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def body(self) -> bytes:
        """The whole body in memory: for small bodies only (JSON, forms); files are read from ``stream``."""
        if self._body is None:
            self.stream.seek(0)
            self._body = self.stream.read()
        return self._body

    def json(self) -> Any:
        """The body as strict JSON (ValueError for NaN, Infinity, duplicate keys or bad syntax)."""
        return strictjson.loads(self.body)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


def text_response(status: int, text: str, content_type: str = "application/json") -> Response:
    return Response(status, text.encode(), {"Content-Type": content_type})


Handler = Callable[[Request], Response]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern + r"/?$"), handler))

    def find(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        allowed = False
        for route_method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match:
                allowed = True
                if route_method == method:
                    return handler, match.groupdict()
        if allowed:
            return (lambda _req: json_response(405, {"title": "Method not allowed", "status": 405})), {}
        return None


class _Handler(socketserver.BaseRequestHandler):
    """One connection: requests in turn (keep-alive), framed by :mod:`aep_emulator.http11`."""

    server: _Server
    request: socket.socket

    def handle(self) -> None:
        sock = self.request
        # Small answers leave in one write; without TCP_NODELAY each keep-alive answer could still wait
        # ~40 ms for the client's delayed ACK (measured: 23 requests/s per connection).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = Reader(sock, self.server.timeout_seconds)
        while True:
            head: Head | None = None
            try:
                head = reader.head()
                if head is None:
                    return
                stream, size = reader.body(head, MAX_BODY, lambda: sock.sendall(CONTINUE))
            except RequestTimeout as exc:
                if exc.started:
                    self._refuse(sock, head, 408, "the request was not received in time")
                return
            except HttpError as exc:
                self._refuse(sock, head, exc.status, exc.detail)
                return
            try:
                response = self._dispatch(head, stream, size)
            finally:
                stream.close()
            if response.drop:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return
            keep = head.keep_alive()
            try:
                sock.sendall(_encode(response, head_only=head.method == "HEAD", close=not keep))
            except OSError:
                return
            if not keep:
                _linger_close(sock)
                return

    def _refuse(self, sock: socket.socket, head: Head | None, status: int, detail: str) -> None:
        if self.server.on_refusal is not None:  # logged before the answer leaves: the client may look next
            path = head.target.partition("?")[0] if head else "?"
            self.server.on_refusal(head.method if head else "?", path, status, detail)
        _refuse(sock, status, detail)

    def _dispatch(self, head: Head, stream: IO[bytes], size: int) -> Response:
        target = head.target
        if target.startswith("/"):
            path, _, query_text = target.partition("?")
        else:
            parts = urlsplit(target)
            path, query_text = parts.path or "/", parts.query
        request = Request(
            method=head.method,
            path=path,
            raw_path=target,
            query={k: v[0] for k, v in parse_qs(query_text, keep_blank_values=True).items()},
            headers=head.headers(),
            stream=stream,
            size=size,
        )
        try:
            return self.server.dispatch(request)
        except Exception:  # a bug in the emulator: answer, and show it
            traceback.print_exc()
            return json_response(500, {"title": "Internal Server Error", "status": 500})


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _encode(response: Response, *, head_only: bool = False, close: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}"]
    lines.append(f"Date: {formatdate(usegmt=True)}")
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    lines.append(f"Content-Length: {len(response.body)}")
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


def _refuse(sock: socket.socket, status: int, detail: str) -> None:
    """An HTTP-level refusal, then a graceful close: the client reads the answer before the FIN."""
    body = {
        "type": f"http://ns.adobe.com/aep/errors/HTTP-{status}",
        "status": status,
        "title": REASONS.get(status, "Error"),
        "detail": detail,
    }
    with contextlib.suppress(OSError):
        sock.sendall(_encode(json_response(status, body), close=True))
    _linger_close(sock)


def _linger_close(sock: socket.socket, seconds: float = 2.0) -> None:
    """Stop sending, then discard what the client still sends (briefly), so no RST destroys the answer."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(0.5)
        until = time.monotonic() + seconds
        while time.monotonic() < until and sock.recv(65536):
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        dispatch: Callable[[Request], Response],
        timeout_seconds: float,
        on_refusal: Refusal | None,
    ) -> None:
        self.dispatch = dispatch
        self.timeout_seconds = timeout_seconds
        self.on_refusal = on_refusal
        super().__init__(address, _Handler)


#: Told of each request refused at the HTTP level: (method, path, status, detail); "?" when unknown.
Refusal = Callable[[str, str, int, str], None]


def make_server(
    host: str,
    port: int,
    dispatch: Callable[[Request], Response],
    timeout_seconds: float = TIMEOUT_SECONDS,
    on_refusal: Refusal | None = None,
) -> _Server:
    return _Server((host, port), dispatch, timeout_seconds, on_refusal)
