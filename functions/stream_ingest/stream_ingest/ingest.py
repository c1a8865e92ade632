"""One SQS batch in, one outcome per message out: accepted, dead-lettered, or to be retried.

Valid records are packed into multi-message requests under 1 MB and sent concurrently. Transient failures
(429, 5xx, timeouts, the invocation deadline) come back as ``retry`` so SQS delivers them again; permanent
ones (our validation, AEP's 400/413) go to the DLQ with their reason and count as handled. A record that
could not be dead-lettered is retried rather than dropped.

On a FIFO queue, each message group is sent in order on one lane. Once a message of a group must be
retried, every later message of that group goes back to the queue with it, in order: one not yet sent is
held back, one our validation refused is not dead-lettered ahead of it (it will be, when its turn comes),
and one AEP already accepted in the same request is sent again after it, so AEP sees the group's order
(at-least-once; the deterministic ``_id`` makes the resend the same event).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aep import AepClient, AepError, Deadline
from aep.models import MessageResult
from aep.schema_cache import SchemaValidators
from aep.streaming import Pacer, pack
from stream_ingest.dead_letters import DeadLetter, DeadLetters
from stream_ingest.records import UNPARSED, Prepared, Rejected, Target, prepare
from stream_ingest.settings import StreamSettings

logger = logging.getLogger(__name__)

Kind = Literal["accepted", "dead_lettered", "retry"]
HELD_BACK = "held back: an earlier message of its group must be retried"
RESENT = "accepted, but an earlier message of its group must be retried: sent again after it, in order"


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for one batch's preparation loop.

    Preparing 10,000 records allocates many short-lived, acyclic dicts (parsed JSON), which reference
    counting frees; the cyclic collector would rescan the growing set of prepared messages again and again
    (measured: 30% of preparation time). It runs again, as before, when the loop ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class Incoming:
    """One SQS message: its id, body and FIFO group; for routing, its ``tenant`` message attribute and its
    queue (``eventSourceARN``); ``data``, the body once parsed (by the routing step)."""

    message_id: str
    body: str
    group: str | None = None
    tenant: str | None = None
    source: str | None = None
    data: Any = field(default=UNPARSED, compare=False, repr=False)

    def parsed(self, data: Any) -> Incoming:
        """This message with its parsed body (``dataclasses.replace(self, data=data)``, a few microseconds
        cheaper: it runs for every record)."""
        return Incoming(self.message_id, self.body, self.group, self.tenant, self.source, data)


@dataclass(frozen=True)
class Outcome:
    message_id: str
    kind: Kind
    reason: str | None = None
    status: int | None = None
    field: str | None = None
    xaction_id: str | None = None
    tenant: str | None = None  # set when tenants are routed (the tenant named, even an unknown one)

    def of_tenant(self, tenant: str | None) -> Outcome:
        """This outcome for ``tenant`` (``dataclasses.replace(self, tenant=tenant)``, cheaper)."""
        return Outcome(
            self.message_id, self.kind, self.reason, self.status, self.field, self.xaction_id, tenant
        )


@dataclass
class TenantStats:
    """One tenant's share of an invocation (the ``tenant`` dimension of the metrics)."""

    received: int = 0
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    config_errors: int = 0  # records sent back: the tenant's configuration is broken (client, settings)
    cooled_down: int = 0  # records sent back unsent: the tenant's circuit breaker is open
    lane_failures: int = 0  # records sent back: the tenant's lane failed unexpectedly (a bug; see the logs)


@dataclass
class Stats:
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    elapsed_ms: float = 0.0
    request_ms: list[float] = field(default_factory=list)  # each AEP request, retries included
    splits: int = 0  # requests AEP refused as a whole, split in halves to isolate the refused messages
    overflowed: int = 0  # dead letters too large for SQS, body stored in the overflow bucket
    truncated: int = 0  # dead letters too large for SQS, no bucket: body cut to fit
    per_tenant: dict[str, TenantStats] = field(default_factory=dict)  # filled by the tenant router


class StreamIngestor:
    """One tenant's records: prepared with its settings, sent with its client, rejects to the DLQ.

    ``tenant`` (the tenant's id) is written on each dead letter; ``pacer`` is asked before each request
    (the tenant's rate ceiling); ``validators``, the container's schema cache (None: records are not
    checked against the schema)."""

    def __init__(
        self,
        client: AepClient,
        settings: StreamSettings,
        dead_letters: DeadLetters,
        *,
        tenant: str | None = None,
        pacer: Pacer | None = None,
        validators: SchemaValidators | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._dead_letters = dead_letters
        self.tenant = tenant
        self._pacer = pacer
        self._validators = validators
        self._target: Target | None = None
        self._stats_lock = threading.Lock()

    @property
    def client(self) -> AepClient:
        return self._client

    @property
    def settings(self) -> StreamSettings:
        return self._settings

    def target(self) -> Target:
        """Inlet, dataset, schema, org; without STREAM_SCHEMA_REF the schema comes from the dataset."""
        if self._target is None:
            schema = self._settings.schema_ref
            if not schema:
                dataset = self._client.catalog.dataset(self._settings.dataset_id)
                if dataset.schema_ref is None:
                    raise AepError(f"dataset {self._settings.dataset_id} has no schemaRef")
                schema = dataset.schema_ref.id
            self._target = Target(
                inlet_id=self._settings.inlet_id,
                dataset_id=self._settings.dataset_id,
                schema_ref=schema,
                flow_id=self._settings.flow_id,
                org_id=self._client.credentials.org_id,
            )
        return self._target

    def checked_target(self) -> Target:
        """The target with its schema's validator (from the container's cache: fetched once, refreshed
        after its TTL). Raises AepError when the schema cannot be had (SchemaUnavailableError: retryable)."""
        target = self.target()
        if self._validators is None:
            return target
        check = self._validators.validator(self._client, target.dataset_id, target.schema_ref)
        return target if check is None else dataclasses.replace(target, check=check)

    def process(
        self, messages: Sequence[Incoming], deadline: Deadline, fifo: bool = False
    ) -> tuple[list[Outcome], Stats]:
        stats = Stats(received=len(messages))
        try:
            target = self.checked_target()
        except AepError as exc:
            logger.warning("cannot resolve the target schema; retrying the batch", extra={"error": str(exc)})
            waiting = [
                Outcome(m.message_id, "retry", f"schema lookup failed: {exc.message}", exc.status)
                for m in messages
            ]
            stats.retried = len(waiting)
            return waiting, stats
        rejected: list[Rejected] = []
        started = time.perf_counter()
        if fifo:
            prepared: list[Prepared] = []
            held: set[str | None] = set()  # groups behind a message going back to the queue
            for message in messages:
                if message.group in held:
                    continue  # held back: _sort returns it to the queue behind the first one
                result = self._prepare(message, target)
                if isinstance(result, Prepared):
                    prepared.append(result)
                else:
                    rejected.append(result)
                    if result.retryable:
                        held.add(message.group)
            sent = self._send_fifo(prepared, deadline, stats)
        else:
            sent = self._prepare_and_send(messages, target, deadline, rejected, stats)
        stats.elapsed_ms = (time.perf_counter() - started) * 1000
        outcomes, letters = self._sort(messages, rejected, sent, fifo, self.tenant)
        outcomes.update(self._dead_letter(letters, stats))
        ordered = [outcomes[m.message_id] for m in messages]
        stats.accepted = sum(o.kind == "accepted" for o in ordered)
        stats.rejected = sum(o.kind == "dead_lettered" for o in ordered)
        stats.retried = sum(o.kind == "retry" for o in ordered)
        return ordered, stats

    @staticmethod
    def _sort(
        messages: Sequence[Incoming],
        rejected: list[Rejected],
        sent: list[tuple[Prepared, MessageResult]],
        fifo: bool,
        tenant: str | None = None,
    ) -> tuple[dict[str, Outcome], list[DeadLetter]]:
        """Each message's outcome, or its dead letter; on FIFO, a group waits behind its first retry."""
        refused = {r.message_id: r for r in rejected}
        answers = {item.message_id: answer for item, answer in sent}
        outcomes: dict[str, Outcome] = {}
        letters: list[DeadLetter] = []
        retrying: set[str | None] = set()  # FIFO groups with a message to retry
        for message in messages:
            mid = message.message_id
            answer = answers.get(mid)
            if fifo and message.group in retrying:
                reason = RESENT if answer is not None and answer.ok else HELD_BACK
                outcomes[mid] = Outcome(mid, "retry", reason)
            elif mid in refused and refused[mid].retryable:
                r = refused[mid]
                outcomes[mid] = Outcome(mid, "retry", r.reason, r.status)
                retrying.add(message.group)
            elif mid in refused:
                r = refused[mid]
                letters.append(
                    DeadLetter(
                        mid, message.body, r.reason, r.field, r.status, "connector", message.group, tenant
                    )
                )
            elif answer is None:  # cannot happen: every prepared message not held back has a result
                outcomes[mid] = Outcome(mid, "retry", "no result for this message")
            elif answer.ok:
                outcomes[mid] = Outcome(mid, "accepted", xaction_id=answer.xaction_id)
            elif answer.retryable:
                outcomes[mid] = Outcome(mid, "retry", answer.reason, answer.status)
                retrying.add(message.group)
            else:
                reason = answer.reason or "rejected by AEP"
                letter = DeadLetter(
                    mid, message.body, reason, None, answer.status, "aep", message.group, tenant
                )
                letters.append(letter)
        return outcomes, letters

    def _dead_letter(self, letters: list[DeadLetter], stats: Stats) -> dict[str, Outcome]:
        """Write the letters; one the DLQ did not take goes back to the queue instead."""
        report = self._dead_letters.send(letters)  # no letters: no call, an empty report
        stats.overflowed, stats.truncated = report.overflowed, report.truncated
        outcomes = {}
        for letter in letters:
            if letter.message_id in report.undelivered:
                outcomes[letter.message_id] = Outcome(
                    letter.message_id,
                    "retry",
                    f"dead-letter queue unavailable; {letter.reason}",
                    letter.status,
                )
            else:
                outcomes[letter.message_id] = Outcome(
                    letter.message_id, "dead_lettered", letter.reason, letter.status, letter.field
                )
        return outcomes

    def _prepare(self, message: Incoming, target: Target) -> Prepared | Rejected:
        return prepare(
            message.message_id,
            message.body,
            group=message.group,
            settings=self._settings,
            target=target,
            data=message.data,
        )

    def _prepare_and_send(
        self,
        messages: Sequence[Incoming],
        target: Target,
        deadline: Deadline,
        rejected: list[Rejected],
        stats: Stats,
    ) -> list[tuple[Prepared, MessageResult]]:
        """Prepare and send in one pass: each request leaves as soon as it is full, so validation here
        overlaps with AEP's processing of the requests already sent."""
        queued: list[tuple[int, Prepared]] = []
        with (
            paused_gc(),
            self._client.streaming.sender(
                self._settings.inlet_id,
                flow_id=self._settings.flow_id,
                authenticated=self._settings.inlet_authenticated,
                concurrency=self._settings.concurrency,
                max_messages=self._settings.max_messages_per_request,
                deadline=deadline,
                pacer=self._pacer,
            ) as sender,
        ):
            for message in messages:
                result = self._prepare(message, target)
                if isinstance(result, Prepared):
                    queued.append((sender.add(result.encoded), result))
                else:
                    rejected.append(result)
        results = sender.results()
        stats.request_ms.extend(sender.request_ms)
        stats.splits = sender.splits  # the batch's only sender
        return [(item, results[index]) for index, item in queued]

    def _send_fifo(
        self, items: list[Prepared], deadline: Deadline, stats: Stats
    ) -> list[tuple[Prepared, MessageResult]]:
        """Each group on one lane (hash of the group), requests of a lane one after the other, in order."""
        lanes: list[list[Prepared]] = [[] for _ in range(self._settings.concurrency)]
        for item in items:
            lanes[zlib.crc32((item.group or "").encode()) % len(lanes)].append(item)
        busy = [lane for lane in lanes if lane]
        if not busy:
            return []
        with ThreadPoolExecutor(max_workers=len(busy), thread_name_prefix="aep-fifo") as pool:
            done = list(pool.map(lambda lane: self._send_lane(lane, deadline, stats), busy))
        return [pair for lane in done for pair in lane]

    def _send_lane(
        self, lane: list[Prepared], deadline: Deadline, stats: Stats
    ) -> list[tuple[Prepared, MessageResult]]:
        sizes = [len(item.encoded) for item in lane]
        groups, _ = pack(sizes, max_messages=self._settings.max_messages_per_request)
        blocked: set[str | None] = set()
        out: list[tuple[Prepared, MessageResult]] = []
        for group in groups:
            # A group with a message to retry sends nothing more: _sort holds its later messages back.
            to_send = [lane[i] for i in group if lane[i].group not in blocked]
            for item, result in self._send_ordered(to_send, deadline, stats):
                out.append((item, result))
                if not result.ok and result.retryable:
                    blocked.add(item.group)
        return out

    def _send_ordered(
        self, items: list[Prepared], deadline: Deadline, stats: Stats
    ) -> list[tuple[Prepared, MessageResult]]:
        """One lane's request: its messages in order, already encoded (packed by the lane: one request)."""
        if not items:
            return []
        with self._client.streaming.sender(
            self._settings.inlet_id,
            flow_id=self._settings.flow_id,
            authenticated=self._settings.inlet_authenticated,
            concurrency=1,
            max_messages=self._settings.max_messages_per_request,
            deadline=deadline,
            pacer=self._pacer,
        ) as sender:
            for item in items:
                sender.add(item.encoded)
        results = sender.results()
        with self._stats_lock:  # lanes run on threads
            stats.request_ms.extend(sender.request_ms)
            stats.splits += sender.splits
        return list(zip(items, results, strict=True))
