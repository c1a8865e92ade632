"""One log line and a few metrics per request: latency, cache hits, AEP calls and every attempt's status.

Never an identity value: the log carries the route's resource path (``/profiles/{namespace}/{id}``), not
the request's path, and the namespace code only. An unexpected failure is logged by its type and place (file
and line), never its text (which may quote a value), and counted as ``UnexpectedErrors``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from profile_lookup.service import Usage

_facts: ContextVar[dict[str, Any] | None] = ContextVar("lookup_facts", default=None)


def note(**facts: Any) -> None:
    """Remember facts of the current request for its log line (no identity values)."""
    current = _facts.get()
    if current is not None:
        current.update(facts)


def request_usage() -> Usage:
    """The current request's :class:`Usage`, counted into its log line and metrics."""
    usage = Usage()
    note(usage=usage)
    return usage


def record_attempt(status: int | None, authenticated: bool) -> None:
    """The transport's ``on_attempt`` hook: one attempt of an AEP (Platform) call of the current request,
    retries and the 401 refresh included (IMS token requests, unauthenticated, are not AEP calls)."""
    current = _facts.get()
    usage = current.get("usage") if current is not None else None
    if authenticated and isinstance(usage, Usage):
        usage.attempts.append(status)


def is_error(status: int | None) -> bool:
    """An attempt AEP failed or did not answer (a 404 is an answer: no profile)."""
    return status is None or (status >= 400 and status != 404)


def observe(
    resolve: Callable[[dict[str, Any], Any], dict[str, Any]],
    event: dict[str, Any],
    context: Any,
    logger: Any,
    metrics: Any,
) -> dict[str, Any]:
    """Answer the request with ``resolve``, then log and count what it did."""
    facts: dict[str, Any] = {}
    token = _facts.set(facts)
    started = time.perf_counter()
    try:
        answer = resolve(event, context)
    finally:
        _facts.reset(token)
    elapsed_ms = (time.perf_counter() - started) * 1000
    usage = facts.get("usage")
    usage = usage if isinstance(usage, Usage) else Usage()
    unexpected = facts.get("unexpected")
    if isinstance(unexpected, dict):
        logger.error("lookup failed unexpectedly", extra=unexpected)
    status = int(answer.get("statusCode", 0))
    path_parameters = event.get("pathParameters") or {}
    namespace = path_parameters.get("namespace") if isinstance(path_parameters, dict) else None
    attempts = list(usage.attempts)
    logger.info(
        "lookup",
        extra={
            "route": f"{event.get('httpMethod')} {event.get('resource')}",
            "tenant": facts.get("tenant"),
            "namespace": namespace if isinstance(namespace, str) and len(namespace) <= 64 else None,
            "status": status,
            "code": facts.get("code"),
            "refused": facts.get("refused"),
            "latency_ms": round(elapsed_ms, 2),
            "cache_hits": usage.cache_hits,
            "cache_misses": usage.cache_misses,
            "shared": usage.shared,
            "aep_calls": usage.aep_calls,
            "aep_attempts": len(attempts),
            "aep_statuses": attempts,
        },
    )
    if hasattr(metrics, "add_metric"):
        from aws_lambda_powertools.metrics import MetricUnit  # noqa: PLC0415 - cheap, already loaded

        metrics.add_metric(name="LookupLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        metrics.add_metric(name="CacheHits", unit=MetricUnit.Count, value=usage.cache_hits)
        metrics.add_metric(name="CacheMisses", unit=MetricUnit.Count, value=usage.cache_misses)
        metrics.add_metric(name="AepCalls", unit=MetricUnit.Count, value=len(attempts))
        errors = sum(1 for s in attempts if is_error(s))
        metrics.add_metric(name="AepErrors", unit=MetricUnit.Count, value=errors)
        metrics.add_metric(name="UnexpectedErrors", unit=MetricUnit.Count, value=1 if unexpected else 0)
    return answer
