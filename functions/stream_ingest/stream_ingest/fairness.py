"""Fairness between tenants in one container: a circuit breaker and a rate ceiling per tenant.

One tenant's outage or throttling must not starve the others. Tenants of one invocation are sent
concurrently, each on its own client and connections, so a slow tenant does not hold the others' requests
back; but the invocation ends only when every tenant is done, and the SQS poller hands the container its
next batch only then. A tenant whose AEP keeps failing would make every invocation spend its retries and
backoff (seconds per request) and so slow every other tenant's records down. Hence, per tenant and
container:

* :class:`CircuitBreaker`. A tenant's run in an invocation *fails* when it sent requests and none of its
  records was accepted while some must be retried (after the client's own retries): 5xx, 429, timeouts.
  After one failure the tenant is *suspect*: its next run may spend at most ``probe_seconds`` of the
  invocation. After ``threshold`` consecutive failures the breaker *opens*: for ``cooldown`` seconds the
  tenant's records go straight back to the queue, unsent and unvalidated, at no cost to the invocation.
  Then one run *probes* (again bounded by ``probe_seconds``): a success closes the breaker, a failure
  opens it again for twice as long (up to ``max_cooldown``). Any accepted record closes it.
* :class:`TokenBucket`. A tenant's ``rate_ceiling`` (requests per second per container): each streaming
  request takes a token; without one it waits for the next, unless that wait would pass the deadline,
  when the request is not sent and its records go back to the queue.

Returned records come back after the queue's visibility timeout: a cool-down does not spend their receive
count faster than failing requests would (one receive per visibility timeout either way).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from aep import Clock, Deadline

#: Consecutive failed runs that open a tenant's breaker.
THRESHOLD = 2
#: First cool-down, doubled on each failed probe up to MAX_COOLDOWN.
COOLDOWN_SECONDS = 30.0
MAX_COOLDOWN_SECONDS = 300.0
#: The share of the invocation a suspect or probing tenant may spend.
PROBE_SECONDS = 5.0

State = Literal["closed", "suspect", "open", "probe"]


@dataclass(frozen=True)
class Admission:
    """What a tenant may do in this invocation: run (with this deadline), or wait ``wait`` seconds."""

    state: State
    deadline: Deadline | None = None  # None: not admitted (open)
    wait: float = 0.0


class CircuitBreaker:
    """One tenant's breaker in one container (see the module's docstring)."""

    def __init__(
        self,
        clock: Clock,
        *,
        threshold: int = THRESHOLD,
        cooldown: float = COOLDOWN_SECONDS,
        max_cooldown: float = MAX_COOLDOWN_SECONDS,
        probe_seconds: float = PROBE_SECONDS,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self._clock = clock
        self._threshold = threshold
        self._base = cooldown
        self._max = max_cooldown
        self._probe_seconds = probe_seconds
        self._failures = 0
        self._cooldown = cooldown
        self._open_until: float | None = None
        self._lock = threading.Lock()
        self.opened = 0  # times the breaker opened (first opening and failed probes)

    def state(self) -> State:
        with self._lock:
            return self._state(self._clock.monotonic())

    def _state(self, now: float) -> State:
        if self._open_until is not None:
            return "open" if now < self._open_until else "probe"
        return "suspect" if self._failures else "closed"

    def admit(self, deadline: Deadline) -> Admission:
        """The tenant's deadline for this run: the invocation's, a bounded share of it, or none (open)."""
        with self._lock:
            now = self._clock.monotonic()
            state = self._state(now)
        if state == "open":
            assert self._open_until is not None
            return Admission(state, None, self._open_until - now)
        if state == "closed":
            return Admission(state, deadline)
        return Admission(state, Deadline.after(self._probe_seconds, self._clock).earliest(deadline))

    def record(self, outcome: Literal["success", "failure"] | None) -> None:
        """A run's outcome: ``success`` (a record accepted), ``failure``, or None (nothing said)."""
        if outcome is None:
            return
        with self._lock:
            now = self._clock.monotonic()
            if outcome == "success":
                self._failures, self._open_until, self._cooldown = 0, None, self._base
                return
            if self._state(now) == "probe":
                self._cooldown = min(self._max, self._cooldown * 2)
                self._open_until = now + self._cooldown
                self.opened += 1
                return
            self._failures += 1
            if self._failures >= self._threshold:
                self._open_until = now + self._cooldown
                self.opened += 1


class TokenBucket:
    """At most ``rate`` requests per second on average, bursts up to ``burst`` (default: one second's worth,
    at least 1). Thread-safe: concurrent callers each reserve their own slot and wait for it."""

    def __init__(self, rate: float, clock: Clock, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock.monotonic()
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting for tokens (for tests and logs)
        self.refused = 0  # requests left unsent: no token before the deadline

    def __call__(self, deadline: Deadline | None) -> bool:
        """Take a token, waiting for it when needed; False (and no token taken) when the wait would pass
        ``deadline``. The streaming sender's pacer."""
        with self._lock:
            now = self._clock.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            if deadline is not None and wait > 0 and wait >= deadline.remaining():
                self.refused += 1
                return False
            self._tokens -= 1  # may go below zero: later callers wait behind this one
            self.waited += wait
        if wait > 0:
            self._clock.sleep(wait)
        return True
