"""A tenant client's token, fetched off the request thread when the token cache cannot answer from memory.

A cold container (or a token due for refresh) reads the token secret and may call IMS: with IMS slow, that
would hold the caller past the lookup's deadline. :class:`TokenGate` runs that fetch on a small pool and
waits for it at most until the deadline: past it, the caller gets its 504 in time, while the fetch goes on
and fills the cache for the next lookup (concurrent lookups wait on the same fetch, never start another).
A refresh after Platform rejects a token (a 401) happens inside the AEP call, which runs off the request
thread too (:mod:`profile_lookup.offload`); see docs/lookup.md.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

from aep.errors import AepError
from aep.timing import Deadline
from profile_lookup.errors import deadline_passed, from_aep


class TokenGate:
    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aep-token")
        self._lock = threading.Lock()
        self._pending: dict[Any, Future[Any]] = {}
        self.fetches = 0  # fetches started off the request thread (tests and logs)

    def wait(self, client: Any, deadline: Deadline) -> None:
        """Return once ``client`` holds a usable token; ApiError 504 when the deadline passes first, or the
        mapping of the fetch's AepError. Clients without a token cache (tests' fakes) pass at once."""
        tokens: Any = getattr(client, "tokens", None)
        ready = getattr(tokens, "ready", None)
        if tokens is None or ready is None:
            return
        with self._lock:
            future = self._pending.get(tokens)
        if (future is None or future.done()) and ready():  # ready() never blocks while a fetch runs
            return
        with self._lock:
            future = self._pending.get(tokens)
            if future is None or future.done():
                self._pending = {k: f for k, f in self._pending.items() if not f.done()}
                future = self._pool.submit(tokens.get)
                self._pending[tokens] = future
                self.fetches += 1
        try:
            future.result(timeout=max(0.0, deadline.remaining()))
        except FutureTimeoutError:
            raise deadline_passed() from None
        except AepError as exc:
            raise from_aep(exc, deadline) from None
