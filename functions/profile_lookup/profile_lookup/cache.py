"""A bounded in-memory TTL cache per container: least recently used out first, each entry its own TTL.

Time comes from an injected clock (``monotonic()``), so tests move it instead of sleeping. Thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from aep.timing import Clock

V = TypeVar("V")


class TtlCache(Generic[V]):
    """At most ``size`` entries; ``get`` answers an entry until ``ttl`` seconds after its ``put``.

    A size of 0, or a TTL of 0, keeps nothing.
    """

    def __init__(self, size: int, clock: Clock) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value, if held and not expired (an expired entry is dropped)."""
        now = self._clock.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if now >= expires:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V, ttl: float) -> None:
        """Hold ``value`` for ``ttl`` seconds, evicting the least recently used entries beyond ``size``."""
        if ttl <= 0 or self.size == 0:
            return
        expires = self._clock.monotonic() + ttl
        with self._lock:
            self._entries[key] = (expires, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
