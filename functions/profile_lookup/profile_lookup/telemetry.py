"""One log line and a few metrics per request: latency, cache hits, AEP calls and statuses.

Never an identity value: the log carries the route's resource path (``/profiles/{namespace}/{id}``), not
the request's path, and the namespace code only.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

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


def observe(
    app: APIGatewayRestResolver, event: dict[str, Any], context: Any, logger: Any, metrics: Any
) -> dict[str, Any]:
    """Resolve the request with ``app``, then log and count what it did."""
    facts: dict[str, Any] = {}
    token = _facts.set(facts)
    started = time.perf_counter()
    try:
        answer = app.resolve(event, context)
    finally:
        _facts.reset(token)
    elapsed_ms = (time.perf_counter() - started) * 1000
    usage = facts.get("usage")
    usage = usage if isinstance(usage, Usage) else Usage()
    status = int(answer.get("statusCode", 0))
    path_parameters = event.get("pathParameters") or {}
    namespace = path_parameters.get("namespace") if isinstance(path_parameters, dict) else None
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
            "aep_statuses": usage.aep_statuses,
        },
    )
    if hasattr(metrics, "add_metric"):
        from aws_lambda_powertools.metrics import MetricUnit  # noqa: PLC0415 - cheap, already loaded

        metrics.add_metric(name="LookupLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        metrics.add_metric(name="CacheHits", unit=MetricUnit.Count, value=usage.cache_hits)
        metrics.add_metric(name="CacheMisses", unit=MetricUnit.Count, value=usage.cache_misses)
        metrics.add_metric(name="AepCalls", unit=MetricUnit.Count, value=usage.aep_calls)
        errors = sum(1 for s in usage.aep_statuses if s >= 400 and s != 404)
        metrics.add_metric(name="AepErrors", unit=MetricUnit.Count, value=errors)
    return answer
