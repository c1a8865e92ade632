"""SizedStream (the framed body of an upload) and WallClock (the wall-clock bound of an exchange)."""

from __future__ import annotations

import io
import socket
import time
from typing import Any, BinaryIO

import pytest
from botocore.exceptions import ClientError

from aep import AepSourceError, BytesSource
from aep.sources import READ_BLOCK, SizedStream
from aep.wallclock import WallClock


class OneStream:
    def __init__(self, stream: Any, size: int) -> None:
        self.stream = stream
        self._size = size
        self.opened_at: list[int] = []

    @property
    def size(self) -> int:
        return self._size

    def open(self, offset: int = 0) -> BinaryIO:
        self.opened_at.append(offset)
        return self.stream  # type: ignore[no-any-return]


def sized(data: bytes, offset: int = 0, length: int | None = None) -> SizedStream:
    length = len(data) - offset if length is None else length
    return SizedStream(BytesSource(data), offset, length, name="f.json", total=len(data))


def test_a_sized_stream_has_its_length_before_reading_and_reads_exactly_its_range():
    stream = sized(b"0123456789", offset=2, length=5)

    assert len(stream) == 5
    assert stream.read(2) == b"23"
    assert len(stream) == 3
    assert stream.read() == b"456"
    assert len(stream) == 0
    assert stream.read() == b""
    assert stream.read(10) == b""


def test_read_none_reads_the_rest_and_iteration_yields_blocks():
    data = bytes(range(256)) * 1024  # 256 KiB

    assert sized(data).read(None) == data
    assert [len(block) for block in sized(data)] == [READ_BLOCK] * 4
    assert b"".join(sized(data, offset=3)) == data[3:]


def test_the_source_is_opened_on_first_read_at_the_offset_and_closed_with_the_stream():
    raw = io.BytesIO(b"abcdef")
    source = OneStream(raw, 6)
    stream = SizedStream(source, 4, 2, name="f", total=6)
    stream.close()  # never opened: nothing to close
    assert source.opened_at == []

    stream = SizedStream(source, 4, 2, name="f", total=6)
    stream.read(1)
    stream.close()

    assert source.opened_at == [4]
    assert raw.closed


def test_a_stream_giving_more_than_asked_is_cut_to_the_range():
    class Generous(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return b"x" * 100

    stream = SizedStream(OneStream(Generous(), 10), 0, 10, name="f", total=10)

    assert stream.read() == b"x" * 10
    assert len(stream) == 0


def client_error(status: int) -> ClientError:
    response: Any = {"Error": {"Code": "X", "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "GetObject")


@pytest.mark.parametrize(
    ("failure", "retryable"),
    [
        (OSError("reset"), True),
        (client_error(412), False),
        (client_error(404), False),
        (client_error(428), False),
        (client_error(429), True),
        (client_error(430), False),
        (client_error(499), False),
        (client_error(500), True),
        (client_error(503), True),
    ],
)
def test_read_failures_are_typed_and_classified(failure, retryable):
    class Failing(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise failure

    stream = SizedStream(OneStream(Failing(), 10), 0, 10, name="in/f.json", total=10)

    with pytest.raises(AepSourceError) as caught:
        stream.read()

    assert caught.value.retryable is retryable
    assert caught.value.message == f"in/f.json: reading the source failed ({type(failure).__name__})"
    assert caught.value.__cause__ is failure


def test_a_short_source_names_where_it_ended_and_is_not_retryable():
    stream = SizedStream(BytesSource(b"abc"), 1, 5, name="in/f.json", total=6)

    with pytest.raises(AepSourceError) as caught:
        stream.read()

    assert caught.value.message == "in/f.json: source ended at byte 3 of 6"
    assert caught.value.retryable is False


class Conn:
    def __init__(self, sock: Any) -> None:
        self.sock = sock


def test_the_wall_clock_shuts_the_attached_socket_down_when_time_is_up():
    ours, theirs = socket.socketpair()
    try:
        with WallClock(0.05) as wall:
            wall.attach(Conn(ours))
            ours.settimeout(5)
            started = time.monotonic()
            assert ours.recv(10) == b""  # unblocked by the shutdown, not by the 5 s timeout
            assert time.monotonic() - started < 2
        assert wall.fired
    finally:
        ours.close()
        theirs.close()


def test_the_wall_clock_does_not_fire_after_the_exchange_ended():
    ours, theirs = socket.socketpair()
    try:
        with WallClock(10) as wall:
            wall.attach(Conn(ours))
        wall._fire()

        assert wall.fired is False
        theirs.sendall(b"still open")
        assert ours.recv(10) == b"still open"
    finally:
        ours.close()
        theirs.close()


def test_attaching_after_the_time_is_up_refuses_to_go_on():
    with WallClock(0) as wall:
        deadline = time.monotonic() + 2
        while not wall.fired and time.monotonic() < deadline:
            time.sleep(0.001)
        with pytest.raises(TimeoutError, match=r"^the exchange's time is up$"):
            wall.attach(Conn(None))
    assert wall.fired


def test_a_negative_budget_fires_at_once():
    wall = WallClock(-5)

    assert wall.seconds == 0.0


class RefusingSocket:
    """A socket already gone: shutting it down raises, as the OS does for a reset connection."""

    def __init__(self) -> None:
        self.shutdowns = 0

    def shutdown(self, how: int) -> None:
        self.shutdowns += 1
        raise OSError(107, "Transport endpoint is not connected")


def test_a_socket_that_cannot_be_shut_down_still_ends_the_exchange_quietly():
    sock = RefusingSocket()
    with WallClock(10) as wall:
        wall.attach(Conn(sock))
        wall._fire()  # the timer's thread: an exception here would be lost, and the socket left open

    assert wall.fired
    assert sock.shutdowns == 1


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_connection_reports_itself_to_the_armed_clock_when_it_connects(monkeypatch, scheme):
    # urllib3 connects an HTTPS connection (the TLS handshake) before request(): the clock must know the
    # connection from then on, so a server stalling the handshake is cut off too.
    from urllib3.connection import HTTPConnection, HTTPSConnection

    from aep import wallclock

    monkeypatch.setattr(HTTPConnection, "connect", lambda self: None)
    monkeypatch.setattr(HTTPSConnection, "connect", lambda self: None)
    cls = wallclock._WatchedHTTPSConnection if scheme == "https" else wallclock._WatchedHTTPConnection
    connection = cls("127.0.0.1", 9)

    with WallClock(10) as wall:
        connection.connect()
        assert wall._connection is connection


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_kept_alive_connection_reports_itself_again_for_each_request(monkeypatch, scheme):
    # A pooled connection already connected is reused without connect(): request() must tell the new
    # exchange's clock which connection it uses, or a dripped answer on it would outlive the deadline.
    from urllib3.connection import HTTPConnection

    from aep import wallclock

    monkeypatch.setattr(HTTPConnection, "request", lambda self, *args, **kwargs: None)
    cls = wallclock._WatchedHTTPSConnection if scheme == "https" else wallclock._WatchedHTTPConnection
    connection = cls("127.0.0.1", 9)

    with WallClock(10) as wall:
        connection.request("GET", "/")
        assert wall._connection is connection


def test_the_watched_adapter_keeps_the_pool_settings_it_is_given():
    from aep.wallclock import WatchedAdapter

    adapter = WatchedAdapter(pool_connections=3, pool_maxsize=17, pool_block=True)

    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 17
    assert adapter.poolmanager.connection_pool_kw["block"] is True
    assert adapter.poolmanager.pools._maxsize == 3  # pool_connections: pools kept, one per host
