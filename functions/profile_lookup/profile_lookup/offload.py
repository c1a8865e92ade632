"""Work that may block past the lookup's deadline, run off the request thread and waited for until then.

A lookup's deadline bounds everything the request waits for, not only the HTTP exchanges the transport
times: a token refresh after Platform rejects a token (a 401: the refresh reads the token secret and may
call IMS), the first read of a tenant from the registry (DynamoDB), the first build of a tenant's client
(its credentials secret). :class:`Offload` runs such work on a small pool and waits for it at most until the
deadline: past it the caller gets its 504 in time, while the work goes on and fills the caches for the
next lookup. Work that starts after its deadline has passed is not run at all (its caller has answered).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import TypeVar

from aep.timing import Deadline
from profile_lookup.errors import deadline_passed

T = TypeVar("T")

#: Threads for offloaded work; a container serves one request at a time, whose calls use a few at most.
WORKERS = 8


class Offload:
    def __init__(self, workers: int = WORKERS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookup-offload")
        self.runs = 0  # work items submitted (tests and logs)

    def submit(self, work: Callable[[], object]) -> None:
        """Run ``work`` on the pool in the caller's context; nobody waits for it here (``work`` reports its
        own outcome: :class:`profile_lookup.flight.SingleFlight` hands it to every waiting caller)."""
        self.runs += 1
        self._pool.submit(contextvars.copy_context().run, work)

    def run(self, fn: Callable[[], T], deadline: Deadline) -> T:
        """``fn()``'s result or exception, waited for at most until ``deadline``: ApiError 504 past it."""

        def guarded() -> T:
            if deadline.expired():
                raise deadline_passed()
            return fn()

        self.runs += 1
        future = self._pool.submit(contextvars.copy_context().run, guarded)
        try:
            return future.result(timeout=max(0.0, deadline.remaining()))
        except FutureTimeoutError:
            raise deadline_passed() from None
