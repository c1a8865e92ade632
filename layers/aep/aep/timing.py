"""Clocks and deadlines, injectable so tests control time exactly."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """Wall time (for token expiry) and monotonic time (for deadlines), plus sleep."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait for ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass
class Deadline:
    """An absolute point on the clock's monotonic time after which no new attempt starts."""

    at: float
    clock: Clock

    @classmethod
    def after(cls, seconds: float, clock: Clock) -> Deadline:
        return cls(clock.monotonic() + seconds, clock)

    @classmethod
    def from_lambda_context(
        cls, remaining_ms: Callable[[], int], clock: Clock, safety_seconds: float = 2.0
    ) -> Deadline:
        """A deadline ``safety_seconds`` before the Lambda invocation times out."""
        return cls(clock.monotonic() + remaining_ms() / 1000.0 - safety_seconds, clock)

    def remaining(self) -> float:
        return self.at - self.clock.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def earliest(self, other: Deadline | None) -> Deadline:
        if other is None or self.at <= other.at:
            return self
        return other
