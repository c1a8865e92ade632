"""What a Lambda container builds once and keeps across invocations (a function's runtime), thread-safely."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerContainer(Generic[T]):
    """A value built on first use and kept for the container's life; tests set (or clear) their own."""

    def __init__(self) -> None:
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self, build: Callable[[], T]) -> T:
        """The value, built by ``build`` (looked up by the caller at each call) the first time."""
        with self._lock:
            if self._value is None:
                self._value = build()
            return self._value

    def set(self, value: T | None) -> None:
        with self._lock:
            self._value = value
