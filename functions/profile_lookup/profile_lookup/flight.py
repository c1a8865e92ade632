"""Single flight: concurrent calls for the same key share one execution and its outcome.

The first caller of a key (the leader) runs the function; callers arriving while it runs wait for its
result or its exception, at most ``timeout`` seconds each (their own deadline), instead of running it
again. A burst of lookups of one identity in a container therefore costs AEP one request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class FlightTimeoutError(TimeoutError):
    """A follower stopped waiting for the leader's outcome (its own deadline passed)."""


@dataclass
class _Call(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: BaseException | None = None
    followers: int = 0


class SingleFlight(Generic[T]):
    """``on_follow(key)`` is called when a caller starts waiting on another's call (tests observe it)."""

    def __init__(self, on_follow: Callable[[Hashable], None] | None = None) -> None:
        self.on_follow = on_follow
        self._calls: dict[Hashable, _Call[T]] = {}
        self._lock = threading.Lock()
        self.executions = 0  # how many times a function actually ran (for tests and metrics)

    def run(
        self,
        key: Hashable,
        fn: Callable[[], T],
        timeout: float | None = None,
        submit: Callable[[Callable[[], None]], None] | None = None,
    ) -> tuple[T, bool]:
        """``fn()``'s result (or exception) and whether it was shared (this caller did not run it).

        Without ``submit`` the first caller (the leader) runs ``fn`` itself. With it, the leader hands the
        call to ``submit`` (a pool) and waits like every other caller: each waits at most ``timeout`` seconds
        of its own, and the call still completes for the others (and its result is still kept by ``fn``)
        when one of them stops waiting. Raises FlightTimeoutError when this caller waited ``timeout`` seconds.
        """
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
                self.executions += 1
            else:
                call.followers += 1
        if leader and submit is None:
            self._execute(key, call, fn)
        else:
            if leader:
                submit(lambda: self._execute(key, call, fn))  # type: ignore[misc]
            elif self.on_follow is not None:
                self.on_follow(key)
            if not call.done.wait(timeout):
                raise FlightTimeoutError("gave up waiting for the same lookup in flight")
        if call.error is not None:
            raise call.error
        return call.value, not leader  # type: ignore[return-value]

    def _execute(self, key: Hashable, call: _Call[T], fn: Callable[[], T]) -> None:
        """Run ``fn`` once for everyone waiting on ``key``; its outcome goes into ``call``."""
        try:
            call.value = fn()
        except BaseException as exc:  # every outcome is handed to the callers, who raise it
            call.error = exc
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()

    def in_flight(self, key: Hashable) -> int:
        """Callers waiting on ``key``'s call besides its leader; -1 when none is in flight (tests)."""
        with self._lock:
            call = self._calls.get(key)
            return -1 if call is None else call.followers
