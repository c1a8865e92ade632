"""A wall-clock bound on a whole HTTP exchange: connect, send, answer headers and answer body.

``requests``' read timeout bounds each socket read, not the exchange: a server that drips its answer
one byte at a time keeps a call alive indefinitely. :class:`WallClock` is a timer armed for one exchange;
the connection classes mounted by :func:`mount` tell the armed timer which connection the exchange uses,
and when the time is up the timer shuts that socket down, so whatever read or write is blocked returns
at once and the exchange fails. The caller then sees :attr:`WallClock.fired` and reports a timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_armed = threading.local()


class WallClock:
    """Arms a timer for ``seconds`` around one exchange made by this thread (a context manager)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(seconds, 0.0)
        self.fired = False
        self._lock = threading.Lock()
        self._done = False
        self._connection: Any = None
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> WallClock:
        _armed.clock = self
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()
        _armed.clock = None

    def attach(self, connection: Any) -> None:
        """The exchange uses ``connection``; refuses to go on when the time is already up."""
        with self._lock:
            self._connection = connection
            if self.fired:
                raise TimeoutError("the exchange's time is up")

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            connection = self._connection
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _attach(connection: Any) -> None:
    clock: WallClock | None = getattr(_armed, "clock", None)
    if clock is not None:
        clock.attach(connection)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _attach(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _attach(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections report to the thread's armed :class:`WallClock`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def mount(session: requests.Session, adapter: WatchedAdapter) -> None:
    session.mount("https://", adapter)
    session.mount("http://", adapter)
