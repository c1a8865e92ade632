"""Test doubles: a controllable clock, an IMS token source and a Lambda context."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from aep.token import AccessToken


class FakeClock:
    """Time moves only when told to (``advance``) or when code sleeps; every sleep is recorded."""

    def __init__(self, now: float = 1_800_000_000.0, real_sleep: float = 0.0) -> None:
        self._now = now
        self._mono = 1000.0
        self._real_sleep = real_sleep
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds
            self._mono += seconds
        if self._real_sleep:
            time.sleep(min(seconds, self._real_sleep))

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            self._mono += seconds

    def set(self, now: float) -> None:
        with self._lock:
            self._mono += now - self._now
            self._now = now


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "11111111-2222-3333-4444-555555555555"
    remaining_ms: int = 60_000
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        elapsed = int((time.monotonic() - self._started) * 1000)
        return max(0, self.remaining_ms - elapsed)


TOKEN_LIFETIME = 86_399.0  # seconds: what IMS grants


class FakeIms:
    """IMS on a FakeClock: ``tok-1``, ``tok-2``... each issued now; raises ``failure`` when it is set."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls = 0
        self.failure: Exception | None = None

    def __call__(self) -> AccessToken:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        now = self.clock.now()
        return AccessToken(value=f"tok-{self.calls}", expires_at=now + TOKEN_LIFETIME, issued_at=now)
