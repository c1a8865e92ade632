"""Fault injection: latency, throttling, errors, dropped connections; per path, deterministic with a seed.

A fault spec is ``{"seed": 7, "rules": [rule, ...]}``, given to ``POST /_admin/faults`` or as ``faults`` in
the sandbox file; it is validated (:class:`FaultSpec`): an unknown kind or key, a bad regex or an
out-of-range number is refused with the reason. A rule:

=================  =============================================================================
``path``           a regex searched in the request path (required)
``method``         only requests with this method (default: any)
``kind``           ``status`` (default): answer ``status`` instead of serving the request;
                   ``drop``: close the connection unanswered, the request NOT processed;
                   ``drop_after``: process the request (its effects persist: a batch completes,
                   messages are stored), then close the connection unanswered, as a network cut
                   after the server's work does; the client cannot know, so duplicate delivery of a
                   retried request becomes testable;
                   ``latency``: only the delay
``status``         the injected status, 400-599 (default 503)
``rate``           the share of matching requests hit, 0-1 (default 1), drawn from a generator
                   seeded with the spec's ``seed``
``skip``           let the first N matching requests through (default 0)
``first``          then hit only the next N (default: no limit)
``latency_ms``     delay each hit request (any kind)
``retry_after``    ``Retry-After`` seconds on a ``status`` answer
``retry_after_ms`` Profile's ``retryAfterMs`` on a Profile 429
=================  =============================================================================

The throttling answer follows each service's documented shape: Profile 429 carries ``retryAfterMs`` in a
list body, Streaming 503 a ``Retry-After`` header, the others ``Retry-After`` too.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aep_emulator.web import Request, Response, json_response

Kind = Literal["status", "drop", "drop_after", "latency"]


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    kind: Kind = "status"
    status: int = Field(default=503, ge=400, le=599)
    method: str | None = None
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    skip: int = Field(default=0, ge=0)
    first: int | None = Field(default=None, ge=0)
    latency_ms: int = Field(default=0, ge=0)
    retry_after: int | None = Field(default=None, ge=0)
    retry_after_ms: int | None = Field(default=None, ge=0)

    @field_validator("path")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    rules: list[FaultRule] = Field(default_factory=list)


def one_line(exc: ValidationError) -> str:
    """A validation error as one line: ``rules[0].kind: Input should be ...; ...``."""
    parts = []
    for error in exc.errors():
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
        message = str(error["msg"]).replace("\n", " ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_spec(spec: FaultSpec | Mapping[str, Any]) -> FaultSpec:
    """A validated spec; ValueError with a one-line reason."""
    if isinstance(spec, FaultSpec):
        return spec
    try:
        return FaultSpec.model_validate(spec)
    except ValidationError as exc:
        raise ValueError(one_line(exc)) from exc


class _Rule:
    def __init__(self, rule: FaultRule) -> None:
        self.rule = rule
        self.pattern = re.compile(rule.path)
        self.hits = 0
        self.seen = 0

    def matches(self, request: Request) -> bool:
        if self.rule.method and self.rule.method.upper() != request.method:
            return False
        return bool(self.pattern.search(request.path))


@dataclass
class Decision:
    """What the faults make of one request: an answer instead of serving it, and/or a drop after it."""

    response: Response | None = None
    drop_after: bool = False
    kind: str | None = None


class Faults:
    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._random = random.Random(0)
        self._lock = threading.Lock()

    def configure(self, spec: FaultSpec | Mapping[str, Any]) -> None:
        """Replace the rules. ValueError (one line) when the spec is invalid; the old rules then stay."""
        parsed = parse_spec(spec)
        rules = [_Rule(rule) for rule in parsed.rules]
        with self._lock:
            self._rules = rules
            self._random = random.Random(parsed.seed)

    def clear(self) -> None:
        self.configure(FaultSpec())

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "path": r.rule.path,
                    "kind": r.rule.kind,
                    "status": r.rule.status,
                    "hits": r.hits,
                    "seen": r.seen,
                }
                for r in self._rules
            ]

    def apply(self, request: Request) -> Decision:
        """What to do with this request (after any latency, which this call sleeps)."""
        if not self._rules:  # no rules, no lock: the common case costs one attribute read
            return Decision()
        delay = 0.0
        decision = Decision()
        with self._lock:
            for entry in self._rules:
                rule = entry.rule
                if not entry.matches(request):
                    continue
                entry.seen += 1
                if entry.seen <= rule.skip:
                    continue
                if rule.first is not None and entry.seen > rule.skip + rule.first:
                    continue
                if rule.rate < 1.0 and self._random.random() >= rule.rate:
                    continue
                entry.hits += 1
                delay += rule.latency_ms / 1000.0
                if decision.response is not None or decision.drop_after:
                    continue
                if rule.kind == "drop":
                    decision = Decision(Response(0, drop=True), kind="drop")
                elif rule.kind == "drop_after":
                    decision = Decision(drop_after=True, kind="drop_after")
                elif rule.kind == "status":
                    decision = Decision(_status(request, rule), kind="status")
        if delay:
            time.sleep(delay)
        return decision


def _status(request: Request, rule: FaultRule) -> Response:
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
