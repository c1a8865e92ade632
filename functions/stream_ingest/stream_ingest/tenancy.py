"""Routing an SQS batch to its tenants: which tenant each message belongs to, and one lane per tenant.

The tenant of a message is, first found:

1. its SQS message attribute ``tenant`` (a String);
2. in an SNS notification (not raw delivery), the notification's ``MessageAttributes.tenant.Value``;
3. a top-level ``"tenant"`` key of a complete streaming message, beside ``header`` and ``body`` (removed
   before sending: AEP never sees it; a bare record's fields are the record's own and never read);
4. else the ``default`` tenant (the ``AEP_*`` / ``STREAM_*`` configuration).

When they disagree the first found wins; that is safe because the checks below hold whoever named the
tenant. Refused, each to the DLQ with its reason and the ``tenant`` attribute: a tenant name that is not a
tenant id, an unknown or disabled tenant, a message from a queue (``eventSourceARN``) the tenant may not
use, and (in :mod:`stream_ingest.records`) a complete message whose ``header.imsOrgId`` is not the tenant's
org. The queues a tenant may use: its ``source_queues``; when it lists none (the default tenant never
does), the stack's own queues (``STREAM_DEFAULT_TENANT_QUEUES``), so a brand queue carries only the brands
that list it, and a record naming no tenant on a brand's queue never reaches the default tenant's org; that
variable unset (a deployment without tenants), any queue.

The tenants a batch names are read from the registry at once (:meth:`TenantRegistry.resolve`). A registry
that cannot be read sends the messages back to the queue, as does a tenant whose registry item is unusable
or whose client or settings cannot be built (a configuration fault of the deployment: logged at ERROR
naming the tenant and the fields, and counted as ``TenantConfigErrors``, never the record's fault); the
batch's other tenants flow.

Each tenant's messages go through its own :class:`~stream_ingest.ingest.StreamIngestor` (its settings, its
client, its packing: a request never mixes tenants), the tenants concurrently; a tenant's transient failure
sends back only its own records. :mod:`stream_ingest.fairness` keeps a failing tenant from slowing the
others (with a registry only: a single-tenant deployment behaves as before).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from pydantic import ValidationError

from aep import AepClient, AepConfigError, AepError, Clock, Deadline, strict_json
from aep.schema_cache import SchemaValidators
from aep.tenants import DEFAULT_TENANT, Tenant, TenantLookupError, TenantRegistry
from aep.tenants.clients import ClientCache
from aep.tenants.model import TENANT_ID_PATTERN
from aep.tenants.registry import InvalidTenantError
from stream_ingest.dead_letters import DeadLetter, DeadLetters
from stream_ingest.fairness import CircuitBreaker, TokenBucket
from stream_ingest.ingest import (
    HELD_BACK,
    RESENT,
    Incoming,
    Outcome,
    Stats,
    StreamIngestor,
    TenantStats,
    paused_gc,
)
from stream_ingest.records import UNPARSED
from stream_ingest.settings import StreamSettings

logger = logging.getLogger(__name__)

ATTRIBUTE = "tenant"
#: The ``tenant`` dimension of records refused before any tenant could be named (a bad or unknown name:
#: producers' values never become dimensions, so a flood of made-up names cannot multiply metrics).
UNKNOWN = "(unknown)"
#: Tenants of one invocation sent at the same time (each with its own ``STREAM_CONCURRENCY`` requests).
MAX_PARALLEL_TENANTS = 8
NOT_A_TENANT_ID = "the message's tenant is not a tenant id (lowercase letters, digits and hyphens)"
_TENANT_ID = re.compile(TENANT_ID_PATTERN)


@dataclass(frozen=True)
class Route:
    """Where the routing step puts one message: a tenant name (None: the default), its parsed body, or the
    reason its tenant cannot be read."""

    tenant: str | None
    data: Any = UNPARSED
    problem: str | None = None


def _sns_tenant(notification: dict[str, Any]) -> Any:
    attributes = notification.get("MessageAttributes")
    if not isinstance(attributes, dict):
        return None
    attribute = attributes.get(ATTRIBUTE)
    return attribute.get("Value") if isinstance(attribute, dict) else attribute


def _loads(text: str) -> Any:
    """The parsed JSON, or UNPARSED: prepare() parses it again and says why it cannot be read."""
    try:
        return strict_json.loads(text)
    except Exception:  # any failure: the record's own rejection comes from prepare()
        return UNPARSED


def route(message: Incoming) -> Route:
    """The tenant ``message`` names and its parsed body. Never raises: a body that cannot be parsed is left
    to :func:`stream_ingest.records.prepare`, which refuses it with its reason."""
    named: Any = message.tenant
    data = _loads(message.body)
    if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        if named is None:
            named = _sns_tenant(data)
        data = _loads(data["Message"])
    if isinstance(data, dict) and ("header" in data or "body" in data) and ATTRIBUTE in data:
        data = dict(data)
        inside = data.pop(ATTRIBUTE)
        if named is None:
            named = inside
    if named is None:
        return Route(None, data)
    if not isinstance(named, str) or not _TENANT_ID.fullmatch(named):
        return Route(None, data, NOT_A_TENANT_ID)
    return Route(named, data)


def _queue_name(arn: str | None) -> str:
    return (arn or "?").rsplit(":", 1)[-1]


def tenant_stream_settings(base: StreamSettings, tenant: Tenant) -> StreamSettings:
    """The function's settings with the tenant's streaming overrides, validated.

    Raises AepConfigError naming the fields at fault (never their values)."""
    overrides = tenant.streaming.overrides()
    if not overrides:
        return base
    try:
        return StreamSettings.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise AepConfigError(
            f"tenant {tenant.tenant_id!r} has invalid streaming settings: {problems}"
        ) from None


@dataclass
class Lane:
    """A tenant's ingestor, for one version of the tenant and one client."""

    tenant: Tenant
    client: AepClient
    ingestor: StreamIngestor


@dataclass
class _Run:
    """One tenant's part of an invocation."""

    tenant: Tenant
    messages: list[Incoming]
    lane: Lane | None = None
    breaker: CircuitBreaker | None = None
    deadline: Deadline | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)

    @property
    def name(self) -> str:
        return self.tenant.tenant_id


class TenantRouter:
    """Routes each message to its tenant's lane; one outcome per message, in order, and the stats.

    ``registry``: the tenants (its default is the ``AEP_*`` configuration). ``clients``: the tenants'
    clients. ``settings``: the function's ``STREAM_*`` settings, which each tenant overrides with its
    ``streaming`` targets. ``fair``: the per-tenant circuit breakers (on when the registry has a table).
    ``validators``: the container's schema cache, shared by the lanes (None: no schema validation).
    """

    def __init__(
        self,
        registry: TenantRegistry,
        clients: ClientCache,
        settings: StreamSettings,
        dead_letters: DeadLetters,
        *,
        clock: Clock,
        fair: bool | None = None,
        breaker: Callable[[Clock], CircuitBreaker] = CircuitBreaker,
        validators: SchemaValidators | None = None,
    ) -> None:
        self.registry = registry
        self.validators = validators
        self.clients = clients
        self.settings = settings
        self.dead_letters = dead_letters
        self.clock = clock
        self.fair = registry.table_name is not None if fair is None else fair
        self._new_breaker = breaker
        self._lanes: OrderedDict[str, Lane] = OrderedDict()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    # -- lanes ------------------------------------------------------------------------------------------

    def lane(self, tenant: Tenant) -> Lane:
        """The tenant's lane, built again when its version or its client changed. Raises AepError when the
        tenant's client or settings cannot be built."""
        client = self.clients.get(tenant)
        with self._lock:
            lane = self._lanes.get(tenant.tenant_id)
            if lane is not None and lane.client is client and lane.tenant.version == tenant.version:
                self._lanes.move_to_end(tenant.tenant_id)
                return lane
        settings = tenant_stream_settings(self.settings, tenant)
        ingestor = StreamIngestor(
            client,
            settings,
            self.dead_letters,
            tenant=tenant.tenant_id,
            pacer=self._bucket(tenant),
            validators=self.validators,
        )
        lane = Lane(tenant, client, ingestor)
        with self._lock:
            self._lanes[tenant.tenant_id] = lane
            self._lanes.move_to_end(tenant.tenant_id)
            while len(self._lanes) > self.clients.size + 1:  # the default tenant's lane on top
                self._lanes.popitem(last=False)
        return lane

    def _bucket(self, tenant: Tenant) -> TokenBucket | None:
        if tenant.rate_ceiling is None:
            return None
        with self._lock:
            bucket = self._buckets.get(tenant.tenant_id)
            if bucket is None or bucket.rate != tenant.rate_ceiling:
                bucket = self._buckets[tenant.tenant_id] = TokenBucket(tenant.rate_ceiling, self.clock)
            return bucket

    def breaker(self, name: str) -> CircuitBreaker:
        with self._lock:
            if name not in self._breakers:
                self._breakers[name] = self._new_breaker(self.clock)
            return self._breakers[name]

    def take_ims_counts(self) -> dict[str, int]:
        """IMS token requests per tenant since the last call, the default tenant's included."""
        return self.clients.take_ims_counts()

    # -- one batch --------------------------------------------------------------------------------------

    def process(
        self, messages: Sequence[Incoming], deadline: Deadline, fifo: bool = False
    ) -> tuple[list[Outcome], Stats]:
        started = time.perf_counter()
        outcomes: dict[str, Outcome] = {}
        letters: dict[str, DeadLetter] = {}  # routing refusals, by message id
        names: dict[str, str] = {}  # message id -> the tenant dimension of its stats
        runs: dict[str, _Run] = {}
        config_errors: dict[str, int] = {}  # records sent back for an unusable registry item, by tenant
        with paused_gc():  # parsing allocates many short-lived objects (see paused_gc)
            routes = [route(message) for message in messages]
        tenants = self._tenants(
            list(dict.fromkeys(found.tenant or DEFAULT_TENANT for found in routes if found.problem is None))
        )
        for message, found in zip(messages, routes, strict=True):
            mid = message.message_id
            name = found.tenant or DEFAULT_TENANT
            names[mid] = UNKNOWN
            if found.problem is not None:
                letters[mid] = self._refusal(message, found.problem, None)
                continue
            tenant = tenants[name]
            if isinstance(tenant, TenantLookupError):
                outcomes[mid] = Outcome(mid, "retry", tenant.message, tenant=name)
            elif isinstance(tenant, InvalidTenantError):  # the item exists: its name is a real tenant's
                names[mid] = name
                config_errors[name] = config_errors.get(name, 0) + 1
                outcomes[mid] = Outcome(mid, "retry", tenant.message, tenant=name)
            elif isinstance(tenant, AepError):  # unknown or disabled
                letters[mid] = self._refusal(message, tenant.message, name)
            elif not self.admits(tenant, message.source):
                names[mid] = name
                reason = f"queue {_queue_name(message.source)} may not carry records of tenant {name!r}"
                letters[mid] = self._refusal(message, reason, name)
            else:
                names[mid] = name
                run = runs.setdefault(name, _Run(tenant, []))
                run.messages.append(message.parsed(found.data))
        stats = Stats(received=len(messages))
        for run in self._run_all(list(runs.values()), deadline, fifo):
            for outcome in run.outcomes:
                outcomes[outcome.message_id] = outcome.of_tenant(run.name)
            stats.request_ms.extend(run.stats.request_ms)
            stats.splits += run.stats.splits
            stats.overflowed += run.stats.overflowed
            stats.truncated += run.stats.truncated
            for name, extra in run.stats.per_tenant.items():
                stats.per_tenant[name] = extra
        for name, count in config_errors.items():
            stats.per_tenant[name] = TenantStats(config_errors=count)
        if fifo:
            _fifo_order(messages, outcomes, letters)
        self._dead_letter(list(letters.values()), outcomes, stats)
        ordered = [outcomes[m.message_id] for m in messages]
        _count(ordered, names, stats)
        stats.elapsed_ms = (time.perf_counter() - started) * 1000
        return ordered, stats

    def _dead_letter(self, letters: list[DeadLetter], outcomes: dict[str, Outcome], stats: Stats) -> None:
        report = self.dead_letters.send(letters)
        stats.overflowed += report.overflowed
        stats.truncated += report.truncated
        for letter in letters:
            mid = letter.message_id
            if mid in report.undelivered:
                reason = f"dead-letter queue unavailable; {letter.reason}"
                outcomes[mid] = Outcome(mid, "retry", reason, tenant=letter.tenant)
            else:
                outcomes[mid] = Outcome(mid, "dead_lettered", letter.reason, tenant=letter.tenant)

    def admits(self, tenant: Tenant, source: str | None) -> bool:
        """Whether the queue ``source`` may carry ``tenant``'s records: one of its ``source_queues``; when it
        lists none (the default tenant never does), one of the stack's own (``STREAM_DEFAULT_TENANT_QUEUES``);
        with that unset too, any queue."""
        allowed = tenant.source_queues or self.settings.default_tenant_queues
        return allowed is None or source in allowed

    def _tenants(self, names: list[str]) -> dict[str, Tenant | AepError]:
        """The invocation's tenants, read at once; an unusable item logged at ERROR (its tenant and fields,
        never their values), an unreadable registry at WARNING (once)."""
        found = self.registry.resolve(names)
        unread = [error for error in found.values() if isinstance(error, TenantLookupError)]
        if unread:
            logger.warning(
                "tenant registry unreadable; records go back to the queue",
                extra={"tenants": len(unread), "error": unread[0].message},
            )
        for name, tenant in found.items():
            if isinstance(tenant, InvalidTenantError):
                logger.error(
                    "tenant configuration unusable; its records go back to the queue",
                    extra={"tenant": name, "error": tenant.message},
                )
        return found

    @staticmethod
    def _refusal(message: Incoming, reason: str, tenant: str | None) -> DeadLetter:
        return DeadLetter(
            message.message_id, message.body, reason, None, None, "connector", message.group, tenant
        )

    def _run_all(self, runs: list[_Run], deadline: Deadline, fifo: bool) -> list[_Run]:
        ready = [run for run in runs if self._admit(run, deadline)]
        if len(ready) == 1:
            self._send(ready[0], fifo)
        elif ready:
            workers = min(len(ready), MAX_PARALLEL_TENANTS)
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aep-tenant") as pool:
                list(pool.map(lambda run: self._send(run, fifo), ready))
        return runs

    def _admit(self, run: _Run, deadline: Deadline) -> bool:
        """Build the tenant's lane and ask its breaker; False (its outcomes set) when it does not run."""
        try:
            run.lane = self.lane(run.tenant)
        except AepError as exc:
            logger.error(
                "tenant configuration unusable; its records go back to the queue",
                extra={"tenant": run.name, "error": exc.message},
            )
            reason = f"tenant {run.name!r} cannot be served: {exc.message}"
            run.outcomes = [Outcome(m.message_id, "retry", reason) for m in run.messages]
            run.stats = Stats(received=len(run.messages), retried=len(run.messages))
            run.stats.per_tenant[run.name] = TenantStats(config_errors=len(run.messages))
            return False
        run.deadline = deadline
        if not self.fair:
            return True
        run.breaker = self.breaker(run.name)
        admission = run.breaker.admit(deadline)
        if admission.deadline is None:
            reason = f"tenant {run.name!r}: AEP kept failing; cooling down ({admission.wait:.0f} s left)"
            run.outcomes = [Outcome(m.message_id, "retry", reason) for m in run.messages]
            run.stats.per_tenant[run.name] = TenantStats(cooled_down=len(run.messages))
            return False
        run.deadline = admission.deadline
        return True

    def _send(self, run: _Run, fifo: bool) -> None:
        assert run.lane is not None
        assert run.deadline is not None
        transport = run.lane.client.transport
        transport.deadline = run.deadline
        try:
            run.outcomes, run.stats = run.lane.ingestor.process(run.messages, run.deadline, fifo=fifo)
        except Exception as exc:  # one tenant's unexpected failure must not take the others' results
            # Type and place only: an exception's text may quote a record (an identity value).
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            logger.error(
                "tenant lane failed; its records go back to the queue",
                extra={
                    "tenant": run.name,
                    "error_type": type(exc).__name__,
                    "where": f"{PurePath(frame.filename).name}:{frame.lineno}",
                },
            )
            reason = f"unexpected error ({type(exc).__name__}); see the function's logs"
            run.outcomes = [Outcome(m.message_id, "retry", reason) for m in run.messages]
            run.stats = Stats(received=len(run.messages))
            run.stats.per_tenant[run.name] = TenantStats(lane_failures=len(run.messages))
        finally:
            transport.deadline = None
        if run.breaker is not None:
            stats = run.stats
            if stats.accepted:
                run.breaker.record("success")
            elif stats.request_ms and stats.retried:
                run.breaker.record("failure")
                if run.breaker.state() == "open":
                    logger.warning("tenant circuit open: AEP keeps failing", extra={"tenant": run.name})


def _count(ordered: list[Outcome], names: dict[str, str], stats: Stats) -> None:
    """Totals and per-tenant counts from the outcomes (the lanes' extra counts already in ``stats``)."""
    for outcome in ordered:
        mine = stats.per_tenant.setdefault(names[outcome.message_id], TenantStats())
        mine.received += 1
        if outcome.kind == "accepted":
            mine.accepted += 1
        elif outcome.kind == "dead_lettered":
            mine.rejected += 1
        else:
            mine.retried += 1
    stats.accepted = sum(o.kind == "accepted" for o in ordered)
    stats.rejected = sum(o.kind == "dead_lettered" for o in ordered)
    stats.retried = sum(o.kind == "retry" for o in ordered)


def _fifo_order(
    messages: Sequence[Incoming], outcomes: dict[str, Outcome], letters: dict[str, DeadLetter]
) -> None:
    """Across tenants too, a FIFO group waits behind its first retry: a later message of the group that was
    accepted is sent again after it (``RESENT``), one refused by routing is held back rather than
    dead-lettered ahead of it. (One a tenant's lane dead-lettered stays so: a group should carry one
    tenant, and within a tenant the lane keeps the order itself.)"""
    retrying: set[str | None] = set()
    for message in messages:
        mid = message.message_id
        if message.group in retrying:
            if mid in letters:
                outcomes[mid] = Outcome(mid, "retry", HELD_BACK, tenant=letters.pop(mid).tenant)
            elif outcomes[mid].kind == "accepted":
                outcomes[mid] = dataclasses.replace(
                    outcomes[mid], kind="retry", reason=RESENT, xaction_id=None
                )
        elif mid not in letters and outcomes[mid].kind == "retry":
            retrying.add(message.group)


__all__ = ["ATTRIBUTE", "UNKNOWN", "Lane", "Route", "TenantRouter", "route", "tenant_stream_settings"]
