"""A wall-clock bound on a whole HTTP exchange: connect, send, answer headers and answer body.

``requests``' read timeout bounds each socket read, not the exchange: a server that drips its answer
one byte at a time keeps a call alive indefinitely. :class:`WallClock` is a timer armed for one exchange;
the connection classes mounted by :func:`mount` tell the armed timer which connection the exchange uses,
and when the time is up the timer shuts that socket down, so whatever read or write is blocked returns
at once and the exchange fails. The caller then sees :attr:`WallClock.fired` and reports a timeout.

One watchdog thread per process serves every armed clock (a heap of deadlines): arming an exchange costs a
heap push, not a thread start (a ``threading.Timer`` per exchange cost about 145 us here).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from types import TracebackType
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_armed = threading.local()
_COMPACT_AT = 4096


class _Watchdog:
    """Fires each armed clock at its time, from one daemon thread (restarted after a fork)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, WallClock]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def arm(self, clock: WallClock, seconds: float) -> None:
        with self._cond:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._heap = [entry for entry in self._heap if not entry[2].ended]
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="aep-wallclock", daemon=True)
                self._thread.start()
            if len(self._heap) > _COMPACT_AT:  # ended clocks wait for their time at the top: drop them now
                self._heap = [entry for entry in self._heap if not entry[2].ended]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._order), clock))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                due = self._next_due()
            due._fire()

    def _next_due(self) -> WallClock:
        while True:
            while self._heap and self._heap[0][2].ended:
                heapq.heappop(self._heap)  # ended before its time: nothing to do
            if not self._heap:
                self._cond.wait()
                continue
            at, _, clock = self._heap[0]
            left = at - time.monotonic()
            if left <= 0:
                heapq.heappop(self._heap)
                return clock
            self._cond.wait(left)


_WATCHDOG = _Watchdog()


class WallClock:
    """Arms a timer for ``seconds`` around one exchange made by this thread (a context manager)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(seconds, 0.0)
        self.fired = False
        self._lock = threading.Lock()
        self._done = False
        self._connection: Any = None

    @property
    def ended(self) -> bool:
        """The exchange is over (the watchdog drops the clock without firing it)."""
        return self._done

    def __enter__(self) -> WallClock:
        _armed.clock = self
        _WATCHDOG.arm(self, self.seconds)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self._done = True
            self._connection = None  # the watchdog may hold this clock until its time: not the connection
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
