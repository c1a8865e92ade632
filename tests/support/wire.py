"""A raw-socket HTTP/1.1 server on 127.0.0.1 that records requests exactly as they arrive on the wire.

Unlike :mod:`tests.support.recorder` (built on ``http.server``), it parses the framing itself and records
it: every header line as sent (duplicates and case kept), which framing the body used
(``length``, ``chunked``, ``both`` or ``none``) and the body bytes after de-chunking. A request that
carries both ``Content-Length`` and ``Transfer-Encoding`` is answered 400, as a strict front end does.

Replies are scripted per request: an ordinary answer, an answer dripped one byte at a time, raw bytes
(malformed answers), or ``drop`` (the request is read, then the connection closes unanswered).
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

MAX_HEAD = 64 * 1024


@dataclass
class WireRequest:
    method: str
    target: str
    header_lines: list[tuple[str, str]]
    framing: str
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers_named(name)
        return values[0] if values else None

    def headers_named(self, name: str) -> list[str]:
        return [value for key, value in self.header_lines if key.lower() == name.lower()]

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class WireReply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip_seconds: float | None = None  # send the answer one byte at a time, this far apart
    drip_from: int = 0  # bytes sent at once before the drip starts
    raw: bytes | None = None  # send these bytes verbatim instead of a well-formed answer
    drop: bool = False  # read the request, then close the connection without answering

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        lines = [f"HTTP/1.1 {self.status} X"]
        headers = {"Content-Type": "application/json", "Content-Length": str(len(self.body)), **self.headers}
        lines += [f"{key}: {value}" for key, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


Script = Callable[[WireRequest], WireReply]


class WireServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[WireRequest] = []
        self.url = ""
        self._lock = threading.Lock()

    def record(self, request: WireRequest) -> WireReply:
        with self._lock:
            self.requests.append(request)
        return self.script(request)


def _read_head(rfile: Any) -> list[bytes] | None:
    lines: list[bytes] = []
    size = 0
    while True:
        line = rfile.readline(MAX_HEAD)
        if not line:
            return None
        size += len(line)
        if size > MAX_HEAD:
            return None
        if line in (b"\r\n", b"\n"):
            return lines
        lines.append(line.rstrip(b"\r\n"))


def _read_chunked(rfile: Any) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = rfile.readline(1024).strip()
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        parts.append(rfile.read(size))
        rfile.readline(16)


def _handler(server: WireServer) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while True:
                head = _read_head(self.rfile)
                if not head:
                    return
                method, target, _version = head[0].decode("latin-1").split(" ", 2)
                header_lines = []
                for line in head[1:]:
                    key, _, value = line.decode("latin-1").partition(":")
                    header_lines.append((key.strip(), value.strip()))
                names = {key.lower() for key, _ in header_lines}
                chunked = "transfer-encoding" in names
                length = "content-length" in names
                framing = (
                    "both" if chunked and length else "chunked" if chunked else "length" if length else "none"
                )
                body = b""
                if framing == "chunked":
                    body = _read_chunked(self.rfile)
                elif framing == "length":
                    body = self.rfile.read(
                        int(next(v for k, v in header_lines if k.lower() == "content-length"))
                    )
                request = WireRequest(method, target, header_lines, framing, body)
                if framing == "both":
                    server.record(request)
                    self.wfile.write(
                        WireReply(400, b'{"title":"CL and TE"}', {"Connection": "close"}).encoded()
                    )
                    return
                reply = server.record(request)
                if reply.drop:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = reply.encoded()
                try:
                    if reply.drip_seconds is None:
                        self.wfile.write(data)
                    else:
                        self.wfile.write(data[: reply.drip_from])
                        self.wfile.flush()
                        for index in range(reply.drip_from, len(data)):
                            self.wfile.write(data[index : index + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip_seconds)
                except OSError:
                    return
                if reply.raw is not None:
                    return

    return Handler


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, address


@contextmanager
def wire_server(script: Script, tls: ssl.SSLContext | None = None) -> Iterator[WireServer]:
    """Serve ``script`` on 127.0.0.1 (a fresh port) for the duration of the block; over TLS with ``tls``."""
    state = WireServer(script)
    tcp = _Server(("127.0.0.1", 0), _handler(state))
    tcp.tls = tls
    thread = threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    state.url = f"{scheme}://127.0.0.1:{tcp.server_address[1]}"
    try:
        yield state
    finally:
        tcp.shutdown()
        tcp.server_close()
