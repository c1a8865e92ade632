"""Raw HTTP/1.1 over a loopback socket: exact bytes out, the server's answer parsed by hand.

The emulator's framing is what is under test, so no HTTP library sits between the test and the socket.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Wire:
    """One TCP connection to the emulator."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        self.host = f"{parts.hostname}:{parts.port}"
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self._buffer = b""

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            if not self._fill():
                raise ConnectionError(f"connection closed mid-answer: {self._buffer[:200]!r}")
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def answer(self, head_only: bool = False) -> Answer:
        """The next complete response on this connection (a ConnectionError if the server closed first).

        ``head_only`` for the answer to a HEAD request: its Content-Length announces a body never sent.
        """
        if not self._buffer and not self._fill():
            raise ConnectionError("connection closed without an answer")
        version, status, reason = self._line().decode("latin-1").split(" ", 2)
        assert version == "HTTP/1.1"
        headers: dict[str, str] = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            if not self._fill():
                raise ConnectionError("connection closed mid-body")
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return Answer(int(status), reason, headers, body)

    def closed(self) -> bool:
        """True when the server has closed the connection (EOF or reset) with nothing more to read."""
        try:
            return not self._buffer and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def request(
    method: str,
    target: str,
    host: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    length: bool = True,
) -> bytes:
    """A well-formed request: Host, the given headers, Content-Length for a body unless told not to."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if length and body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*pieces: bytes, extension: str = "", trailer: str = "") -> bytes:
    """``pieces`` as a chunked body, each chunk size in hex, the last-chunk and an optional trailer."""
    out = b"".join(f"{len(p):x}{extension}\r\n".encode() + p + b"\r\n" for p in pieces)
    return out + b"0\r\n" + (f"{trailer}\r\n".encode() if trailer else b"") + b"\r\n"
