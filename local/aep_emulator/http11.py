"""HTTP/1.1 request framing (RFC 9112), as strict as a production front end.

What this module guarantees, and ``tests/contract/test_emulator_http.py`` proves over raw sockets:

* a request line ``METHOD SP target SP HTTP/1.x``; one or more empty lines before it are ignored;
  anything else is 400 (another HTTP version: 505; a line over :data:`MAX_LINE` bytes: 414);
* header lines ``name ":" OWS value OWS`` with a token name: whitespace before the colon, obsolete line
  folding, a bare CR, NUL or another control character is 400; more than :data:`MAX_HEADERS` lines 431;
  an HTTP/1.1 request needs exactly one ``Host``;
* body framing: ``Transfer-Encoding: chunked`` (the only coding accepted) or ``Content-Length`` (digits
  only; a list of identical values is one value); both together, another coding, or Transfer-Encoding on
  HTTP/1.0 is 400 and the connection is closed, since the next request's start cannot be known;
* chunked bodies are decoded (chunk extensions ignored, trailer fields checked and ignored);
* every body is spooled: in memory up to :data:`SPOOL_BYTES`, on disk beyond (a 1 GB upload never needs
  1 GB of memory); a body over the server's limit is 413 before it is read;
* a read that stalls past the timeout, or request headers not complete within it, is 408 (nothing at all
  received: a silent close, as for an idle keep-alive connection);
* an error answer closes the connection gracefully (lingering close), so the client reads the answer.
"""

from __future__ import annotations

import io
import re
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

SPOOL_BYTES = 4 * 1024 * 1024
MAX_LINE = 16384
MAX_HEADERS = 100
_COPY = 1024 * 1024
_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rf"({_TCHARS}) ([^\x00-\x20\x7f]+) HTTP/(\d)\.(\d)")
_HEADER = re.compile(rf"({_TCHARS}):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")
_CHUNK_SIZE = re.compile(r"([0-9A-Fa-f]{1,15})[ \t]*(?:;.*)?")
_DIGITS = re.compile(r"[0-9]{1,18}")

REASONS = {
    100: "Continue",
    200: "OK",
    201: "Created",
    204: "No Content",
    207: "Multi-Status",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


class HttpError(Exception):
    """A request the server refuses at the HTTP level; the connection is closed after the answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class RequestTimeout(Exception):
    """The client stopped sending. ``started`` is False when not one byte of a request had arrived."""

    def __init__(self, started: bool) -> None:
        super().__init__("request timed out")
        self.started = started


@dataclass
class Head:
    method: str
    target: str
    version: tuple[int, int]
    fields: list[tuple[str, str]] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key == name]

    def headers(self) -> dict[str, str]:
        """Lower-cased names; repeated fields are joined with ``", "`` (RFC 9110 5.3)."""
        joined: dict[str, str] = {}
        for key, value in self.fields:
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        return joined

    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for v in self.values("connection") for t in v.split(",")}
        if self.version >= (1, 1):
            return "close" not in tokens
        return "keep-alive" in tokens

    def expects_continue(self) -> bool:
        return self.version >= (1, 1) and any(v.lower() == "100-continue" for v in self.values("expect"))


class Reader:
    """Reads requests from a socket through its own buffer.

    The head of each request (line and fields) must arrive within ``timeout`` seconds in total, so a client
    dripping bytes cannot hold a connection; each read of a body may wait ``timeout`` seconds.
    """

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout
        self._buffer = bytearray()
        self._deadline: float | None = None
        self._eof = False
        self.started = False

    # -- the buffer ---------------------------------------------------------------------------------------
    def _fill(self) -> bool:
        """Read more bytes into the buffer; False at end of stream."""
        if self._eof:
            return False
        wait = self._timeout
        if self._deadline is not None:
            wait = self._deadline - time.monotonic()
            if wait <= 0:
                raise RequestTimeout(self.started)
        self._sock.settimeout(wait)
        try:
            data = self._sock.recv(_COPY)
        except TimeoutError as exc:
            raise RequestTimeout(self.started) from exc
        except ConnectionError:
            data = b""
        if not data:
            self._eof = True
            return False
        self.started = True
        self._buffer += data
        return True

    def _readline(self, limit: int) -> bytes | None:
        """One line with its end (LF or CRLF), ``b""`` at end of stream, None when over ``limit`` bytes."""
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                if end + 1 > limit:
                    return None
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > limit:
                return None
            start = len(self._buffer)
            if not self._fill():
                line = bytes(self._buffer)
                self._buffer.clear()
                return line

    def _read(self, size: int) -> bytes:
        """Up to ``size`` bytes (fewer only at end of stream)."""
        if not self._buffer and not self._fill():
            return b""
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    # -- the request head ---------------------------------------------------------------------------------
    def head(self) -> Head | None:
        """The next request's line and header fields, or None when the client closed between requests."""
        self.started = bool(self._buffer)
        self._deadline = time.monotonic() + self._timeout
        try:
            return self._head()
        finally:
            self._deadline = None

    def _head(self) -> Head | None:
        line: bytes | None = b""
        for _ in range(10):  # RFC 9112 2.2: ignore at least one empty line before the request line
            line = self._readline(MAX_LINE)
            if line is None:
                raise HttpError(414, f"the request line is over {MAX_LINE} bytes")
            if not line:
                if self.started:
                    raise HttpError(400, "malformed request line")
                return None
            if line not in (b"\r\n", b"\n"):
                break
        match = _REQUEST_LINE.fullmatch(_strip_eol(line or b"").decode("latin-1"))
        if not match:
            raise HttpError(400, "malformed request line")
        method, target, major, minor = match.groups()
        if major != "1":
            raise HttpError(505, f"HTTP/{major}.{minor} is not supported")
        head = Head(method, target, (1, int(minor)))
        while True:
            raw = self._readline(MAX_LINE)
            if raw is None:
                raise HttpError(431, f"a header line is over {MAX_LINE} bytes")
            if not raw.endswith(b"\n"):
                raise HttpError(400, "the request ended inside its header")
            text = _strip_eol(raw).decode("latin-1")
            if not text:
                break
            if len(head.fields) >= MAX_HEADERS:
                raise HttpError(431, f"more than {MAX_HEADERS} header lines")
            found = _HEADER.fullmatch(text)
            if not found:
                raise HttpError(400, "malformed header line")
            head.fields.append((found[1].lower(), found[2]))
        if not target.startswith(("/", "http://", "https://")) and target != "*":
            raise HttpError(400, "malformed request target")
        if head.version >= (1, 1) and len(head.values("host")) != 1:
            raise HttpError(400, "exactly one Host header is required")
        return head

    # -- the body -----------------------------------------------------------------------------------------
    def body(self, head: Head, limit: int, on_continue: Callable[[], None]) -> tuple[IO[bytes], int]:
        """The request body, spooled (memory up to SPOOL_BYTES, then disk), and its size.

        ``on_continue`` is called before reading a body the client holds back for ``100-continue``.
        """
        chunked, length = framing(head)
        if length > limit:
            raise HttpError(413, f"the body is over {limit} bytes")
        if not chunked and not length:
            return io.BytesIO(), 0
        if head.expects_continue():
            on_continue()
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - caller closes
        try:
            size = self._chunked(spool, limit) if chunked else self._copy(spool, length)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, size

    def _copy(self, out: IO[bytes], length: int, early: str = "the body ended early") -> int:
        left = length
        while left:
            data = self._read(min(_COPY, left))
            if not data:
                raise HttpError(400, early)
            out.write(data)
            left -= len(data)
        return length

    def _chunk_line(self) -> str:
        line = self._readline(MAX_LINE)
        if line is None:
            raise HttpError(400, "malformed chunked body: a line is too long")
        if not line.endswith(b"\n"):
            raise HttpError(400, "malformed chunked body: the body ended early")
        return _strip_eol(line).decode("latin-1")

    def _chunked(self, out: IO[bytes], limit: int) -> int:
        total = 0
        while True:
            match = _CHUNK_SIZE.fullmatch(self._chunk_line())
            if not match:
                raise HttpError(400, "malformed chunked body: bad chunk size")
            size = int(match[1], 16)
            if size == 0:
                break
            total += size
            if total > limit:
                raise HttpError(413, f"the body is over {limit} bytes")
            self._copy(out, size, "malformed chunked body: the body ended early")
            if self._chunk_line():
                raise HttpError(400, "malformed chunked body: chunk data longer than its size")
        for _ in range(MAX_HEADERS + 1):  # the trailer section: checked, then ignored
            line = self._chunk_line()
            if not line:
                return total
            if not _HEADER.fullmatch(line):
                raise HttpError(400, "malformed chunked body: bad trailer line")
        raise HttpError(431, f"more than {MAX_HEADERS} trailer lines")


def framing(head: Head) -> tuple[bool, int]:
    """(chunked, content length) of a request; HttpError(400) for ambiguous or invalid framing."""
    codings = head.values("transfer-encoding")
    lengths = head.values("content-length")
    if codings:
        if head.version < (1, 1):
            raise HttpError(400, "Transfer-Encoding is not allowed in HTTP/1.0")
        if lengths:
            raise HttpError(400, "Content-Length and Transfer-Encoding must not be sent together")
        joined = ", ".join(codings)
        if [c.strip().lower() for c in joined.split(",")] != ["chunked"]:
            raise HttpError(400, f"unsupported Transfer-Encoding {joined!r}; only chunked is accepted")
        return True, 0
    if not lengths:
        return False, 0
    values = {v.strip() for value in lengths for v in value.split(",")}
    if len(values) != 1:
        raise HttpError(400, "invalid Content-Length")
    (value,) = values
    if not _DIGITS.fullmatch(value):
        raise HttpError(400, "invalid Content-Length")
    return False, int(value)


def _strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return line
