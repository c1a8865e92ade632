"""Whether to retry, and how long to wait: a small pure module, no I/O.

Retryable: connection errors and timeouts, 429, 500, 502, 503, 504, on every method (POST included:
AEP's create-batch and streaming calls are the ones most often throttled). Waits grow exponentially with
full jitter, honour the server's ``Retry-After`` / ``retryAfterMs`` (never below it, up to ``max_wait``),
and never exceed the caller's deadline.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, and the backoff between them.

    ``jitter`` maps the computed backoff ceiling to the actual wait; the default is full jitter
    (uniform between 0 and the ceiling). Tests inject ``lambda ceiling: ceiling``.
    """

    max_attempts: int = 5
    base: float = 0.2
    max_wait: float = 20.0
    jitter: Callable[[float], float] = field(default=lambda ceiling: random.uniform(0.0, ceiling))  # noqa: S311

    def is_retryable_status(self, status: int) -> bool:
        return status in RETRYABLE_STATUSES

    def backoff(self, attempt: int) -> float:
        """Wait before attempt ``attempt + 1`` (``attempt`` counts from 1), without server hints."""
        ceiling = min(self.max_wait, self.base * (2 ** (attempt - 1)))
        return max(0.0, min(self.max_wait, self.jitter(ceiling)))

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """The wait after failed attempt ``attempt``: the server's hint wins over our backoff, capped."""
        if retry_after is not None:
            return min(self.max_wait, max(retry_after, 0.0))
        return self.backoff(attempt)

    def should_retry(self, attempt: int, wait: float, remaining: float | None) -> bool:
        """True when another attempt is allowed and its wait fits before the deadline."""
        if attempt >= self.max_attempts:
            return False
        return remaining is None or wait < remaining
