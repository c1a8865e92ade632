"""Fault injection: latency, throttling, errors, dropped connections; per path, deterministic with a seed.

A rule applies to requests whose path matches ``path`` (a regex searched in the path) and, when given,
whose method is ``method``. ``rate`` is the share of matching requests it hits (drawn from a generator
seeded with ``seed``); ``skip`` lets the first N matching requests through; ``first`` then limits it to the
next N; ``latency_ms`` delays.
The throttling answer follows each service's documented shape: Profile 429 carries ``retryAfterMs`` in a
list body, Streaming 503 a ``Retry-After`` header, the others ``Retry-After`` too.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from aep_emulator.web import Request, Response, json_response

Kind = Literal["status", "drop", "latency"]


@dataclass
class Rule:
    path: str
    kind: Kind = "status"
    status: int = 503
    method: str | None = None
    rate: float = 1.0
    skip: int = 0
    first: int | None = None
    latency_ms: int = 0
    retry_after: int | None = None
    retry_after_ms: int | None = None
    hits: int = 0
    seen: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)

    def matches(self, request: Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        return bool(self._pattern.search(request.path))


class Faults:
    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._random = random.Random(0)
        self._lock = threading.Lock()

    def configure(self, spec: dict[str, Any]) -> None:
        rules = [Rule(**rule) for rule in spec.get("rules", [])]
        with self._lock:
            self._rules = rules
            self._random = random.Random(spec.get("seed", 0))

    def clear(self) -> None:
        self.configure({})

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"path": r.path, "kind": r.kind, "status": r.status, "hits": r.hits, "seen": r.seen}
                for r in self._rules
            ]

    def apply(self, request: Request) -> Response | None:
        """A faulty response for this request, or None to serve it normally (after any latency)."""
        delay = 0.0
        answer: Response | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(request):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                if rule.first is not None and rule.seen > rule.skip + rule.first:
                    continue
                if rule.rate < 1.0 and self._random.random() >= rule.rate:
                    continue
                rule.hits += 1
                delay += rule.latency_ms / 1000.0
                if rule.kind == "drop" and answer is None:
                    answer = Response(0, drop=True)
                elif rule.kind == "status" and answer is None:
                    answer = _status(request, rule)
        if delay:
            time.sleep(delay)
        return answer


def _status(request: Request, rule: Rule) -> Response:
    headers: dict[str, str] = {}
    if rule.retry_after is not None:
        headers["Retry-After"] = str(rule.retry_after)
    if request.path.startswith("/data/core/ups") and rule.status == 429:
        body: Any = [
            {
                "message": "Too many requests",
                "cause": '{"Errors":["Request rate is large"]}',
                "retryAfterMs": str(rule.retry_after_ms or 500),
                "statusCode": "429",
            }
        ]
        return json_response(429, body, headers)
    if request.path.startswith("/collection"):
        titles = {429: "Too many requests within specified time duration", 503: "Service Unavailable"}
        return json_response(
            rule.status,
            {
                "type": "http://ns.adobe.com/adobecloud/problem/data-collection-service",
                "status": rule.status,
                "title": titles.get(rule.status, "Internal Server Error"),
            },
            headers,
        )
    return json_response(
        rule.status,
        {
            "type": f"http://ns.adobe.com/aep/errors/EMULATED-{rule.status}",
            "status": rule.status,
            "title": "Injected fault",
            "detail": f"injected {rule.status} for {request.path}",
        },
        headers,
    )
