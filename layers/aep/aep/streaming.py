"""Streaming ingestion (DCCS): many XDM messages per request, a result per message, in order.

Messages are packed into ``/collection/batch/{inlet}`` requests under AEP's 1 MB request limit and sent
concurrently over the pooled session. Every message gets a :class:`MessageResult`: accepted with its
``xactionId``, or failed with a status, a reason and whether sending it again later may succeed.

A request AEP refuses as a whole (400, 413) is split in halves and the halves sent again, until the
messages it refuses on their own are isolated: one bad message never takes its neighbours with it. The
splitting is bounded (halving gives at most log2(n)+1 levels; at most ``MAX_SPLIT_REQUESTS`` extra
requests per packed request); what is left untested when the budget is spent is returned retryable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aep.errors import AepError, error_class_for
from aep.http import Transport
from aep.models import MessageResult, StreamBatchResponse, StreamSingleResponse
from aep.retry import RETRYABLE_STATUSES
from aep.strict_json import compact_encoder
from aep.timing import Deadline

logger = logging.getLogger(__name__)

#: AEP refuses a request over 1 MB with 413. We stay under 1,000,000 bytes, envelope included.
MAX_REQUEST_BYTES = 1_000_000
#: AEP documents no maximum count per request (its tutorial sends 200); the 1 MB size is the real limit.
#: The cap bounds how many records one failed request affects. bench/stream_bench.py measured caps of 200
#: and 500 slower than size-bound packing (more requests for the same records).
MAX_MESSAGES = 2000
#: Whole-request statuses that say "something in this request is refused": split it to find what.
SPLIT_STATUSES = frozenset({400, 413})
#: Extra requests one packed request may cost while its refused messages are isolated (two per split).
#: Isolating one bad message among n costs 2*log2(n) requests: 22 for 2000 messages.
MAX_SPLIT_REQUESTS = 64
_PREFIX = b'{"messages":['
_SUFFIX = b"]}"
_ENVELOPE = len(_PREFIX) + len(_SUFFIX)

#: Called before each HTTP request of a sender (splits included) with the sender's deadline: True to go
#: ahead (it may wait first, e.g. a per-tenant rate ceiling), False to leave the request unsent: its
#: messages fail retryable (429), so they go back to their queue.
Pacer = Callable[[Deadline | None], bool]
PACED_OUT = "not sent: the tenant's rate ceiling leaves no room for this request before the deadline"


_WIRE = compact_encoder(allow_nan=False)


def encode(message: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as it will travel (``json.dumps`` with ``separators=(",", ":")``,
    ``ensure_ascii=False``, ``allow_nan=False``, encoded)."""
    return _WIRE(message).encode()


def pack(
    sizes: Sequence[int], limit: int = MAX_REQUEST_BYTES, max_messages: int = MAX_MESSAGES
) -> tuple[list[list[int]], list[int]]:
    """Group message indices, in order, into requests of at most ``max_messages`` messages whose body stays
    within ``limit`` bytes.

    Returns (groups, too_large): ``too_large`` holds indices of messages that cannot fit even alone.
    """
    groups: list[list[int]] = []
    too_large: list[int] = []
    current: list[int] = []
    used = _ENVELOPE
    for index, size in enumerate(sizes):
        if size + _ENVELOPE > limit:
            too_large.append(index)
            continue
        extra = size + (1 if current else 0)  # the comma between messages
        if current and (used + extra > limit or len(current) >= max_messages):
            groups.append(current)
            current, used = [], _ENVELOPE
            extra = size
        current.append(index)
        used += extra
    if current:
        groups.append(current)
    return groups, too_large


def request_body(encoded: Sequence[bytes]) -> bytes:
    return _PREFIX + b",".join(encoded) + _SUFFIX


@dataclass
class RequestLedger:
    """What a sender's requests cost: the duration of each HTTP request (retries included) and the splits."""

    request_ms: list[float] = field(default_factory=list)
    splits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def request(self, ms: float) -> None:
        with self._lock:
            self.request_ms.append(ms)

    def split(self) -> None:
        with self._lock:
            self.splits += 1


@dataclass
class _Delivery:
    """What every request of one packed request shares, down through its splits."""

    inlet_id: str
    encoded: Sequence[bytes]
    flow_id: str | None
    authenticated: bool
    deadline: Deadline | None
    ledger: RequestLedger
    split_budget: int  # extra requests still allowed
    pacer: Pacer | None = None


class StreamSender:
    """Packs encoded messages into requests under ``limit`` bytes, in order, and sends each request as soon
    as it is full, on a pool of ``concurrency`` threads, while the caller keeps adding messages.

    Use as a context manager; :meth:`results` gives one :class:`MessageResult` per added message, in order.
    """

    def __init__(
        self,
        api: StreamingApi,
        inlet_id: str,
        *,
        flow_id: str | None,
        authenticated: bool,
        concurrency: int,
        limit: int,
        max_messages: int = MAX_MESSAGES,
        deadline: Deadline | None,
        max_split_requests: int = MAX_SPLIT_REQUESTS,
        pacer: Pacer | None = None,
    ) -> None:
        self._api = api
        self._pacer = pacer
        self._max_split_requests = max_split_requests
        self._max_messages = max_messages
        self._inlet_id = inlet_id
        self._flow_id = flow_id
        self._authenticated = authenticated
        self._limit = limit
        self._deadline = deadline
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="aep-stream")
        self._futures: list[Future[list[MessageResult]]] = []
        self._encoded: list[bytes] = []
        self._current: list[int] = []
        self._used = _ENVELOPE
        self._local: dict[int, MessageResult] = {}
        self._done: list[MessageResult] | None = None
        self.ledger = RequestLedger()

    @property
    def request_ms(self) -> list[float]:
        """How long each HTTP request took, retries included (split requests each count)."""
        return self.ledger.request_ms

    @property
    def splits(self) -> int:
        """How many refused requests were split in halves."""
        return self.ledger.splits

    def __enter__(self) -> StreamSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, encoded: bytes) -> int:
        """Queue one encoded message; returns its index. A message too large for any request fails (413)."""
        index = len(self._encoded)
        self._encoded.append(encoded)
        size = len(encoded)
        if size + _ENVELOPE > self._limit:
            self._local[index] = MessageResult(
                index=index,
                ok=False,
                status=413,
                reason=f"message is {size} bytes; AEP's request limit is {self._limit} bytes",
            )
            return index
        extra = size + (1 if self._current else 0)
        if self._current and (self._used + extra > self._limit or len(self._current) >= self._max_messages):
            self._flush()
            extra = size
        self._current.append(index)
        self._used += extra
        return index

    def _flush(self) -> None:
        if self._current:
            group, self._current, self._used = self._current, [], _ENVELOPE
            self._futures.append(self._pool.submit(self._send, group))

    def _send(self, group: list[int]) -> list[MessageResult]:
        delivery = _Delivery(
            inlet_id=self._inlet_id,
            encoded=self._encoded,
            flow_id=self._flow_id,
            authenticated=self._authenticated,
            deadline=self._deadline,
            ledger=self.ledger,
            split_budget=self._max_split_requests,
            pacer=self._pacer,
        )
        return self._api._send_group(group, delivery)

    def close(self) -> None:
        """Send what is left and wait for every request."""
        if self._done is not None:
            return
        self._flush()
        results: list[MessageResult | None] = [None] * len(self._encoded)
        for index, result in self._local.items():
            results[index] = result
        try:
            for future in self._futures:
                for result in future.result():
                    results[result.index] = result
        finally:
            self._pool.shutdown(wait=True)
        self._done = [r for r in results if r is not None]

    def results(self) -> list[MessageResult]:
        self.close()
        assert self._done is not None
        return self._done


class StreamingApi:
    """DCCS streaming. Every request carries ``x-sandbox-name`` (the spec requires it on both endpoints,
    authenticated inlet or not) and ``Content-Type``; ``Authorization`` only for authenticated inlets."""

    def __init__(self, transport: Transport, streaming_url: str, *, sandbox_name: str) -> None:
        self._t = transport
        self._base = streaming_url.rstrip("/") + "/collection"
        self._sandbox_name = sandbox_name

    def _headers(self, flow_id: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "x-sandbox-name": self._sandbox_name}
        if flow_id:
            headers["x-adobe-flow-id"] = flow_id
        return headers

    def sender(
        self,
        inlet_id: str,
        *,
        flow_id: str | None = None,
        authenticated: bool = False,
        concurrency: int = 8,
        limit: int = MAX_REQUEST_BYTES,
        max_messages: int = MAX_MESSAGES,
        deadline: Deadline | None = None,
        max_split_requests: int = MAX_SPLIT_REQUESTS,
        pacer: Pacer | None = None,
    ) -> StreamSender:
        """An incremental sender: each request leaves as soon as it is full (see :class:`StreamSender`).

        ``pacer``: asked before each request (see :data:`Pacer`)."""
        return StreamSender(
            self,
            inlet_id,
            flow_id=flow_id,
            authenticated=authenticated,
            concurrency=concurrency,
            limit=limit,
            max_messages=max_messages,
            deadline=deadline,
            max_split_requests=max_split_requests,
            pacer=pacer,
        )

    def send_many(
        self,
        inlet_id: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        flow_id: str | None = None,
        authenticated: bool = False,
        concurrency: int = 8,
        limit: int = MAX_REQUEST_BYTES,
        max_messages: int = MAX_MESSAGES,
        deadline: Deadline | None = None,
    ) -> list[MessageResult]:
        """Send ``messages``: one result per message, in order. AEP errors become failed results."""
        with self.sender(
            inlet_id,
            flow_id=flow_id,
            authenticated=authenticated,
            concurrency=concurrency,
            limit=limit,
            max_messages=max_messages,
            deadline=deadline,
        ) as sender:
            for message in messages:
                sender.add(encode(message))
        return sender.results()

    def _send_group(self, group: list[int], delivery: _Delivery) -> list[MessageResult]:
        """Send ``group``; split it while AEP refuses it as a whole and the budget allows."""
        answer = self._post(group, delivery)
        if not isinstance(answer, AepError):
            return answer
        if len(group) == 1:  # refused on its own: that message's permanent rejection, with AEP's reason
            return _all_failed(group, answer.status, answer.message, retryable=False)
        if delivery.split_budget < 2:
            reason = f"{answer.message}; AEP refused the request as a whole and the split budget is spent"
            return _all_failed(group, answer.status, reason, retryable=True)
        delivery.split_budget -= 2
        delivery.ledger.split()
        logger.info(
            "AEP refused a request as a whole; sending its halves",
            extra={"status": answer.status, "messages": len(group), "request_id": answer.request_id},
        )
        middle = len(group) // 2
        return self._send_group(group[:middle], delivery) + self._send_group(group[middle:], delivery)

    def _post(self, group: list[int], delivery: _Delivery) -> list[MessageResult] | AepError:
        """One request: a result per message, or the error of a whole-request refusal worth splitting."""
        # Past the deadline the transport raises a retryable AepTimeoutError: every message fails, retryable.
        if delivery.pacer is not None and not delivery.pacer(delivery.deadline):
            return _all_failed(group, 429, PACED_OUT, retryable=True)
        started = time.perf_counter()
        try:
            response = self._t.request(
                "POST",
                f"{self._base}/batch/{quote(delivery.inlet_id, safe='')}",
                headers=self._headers(delivery.flow_id),
                data=request_body([delivery.encoded[index] for index in group]),
                authenticated=delivery.authenticated,
                refresh_on=(401, 403),
                deadline=delivery.deadline,
                context="stream messages",
            )
        except AepError as exc:
            if exc.status in SPLIT_STATUSES:
                return exc
            # Anything else refused the request as a whole (throttling, an outage, a timeout, auth that
            # survived the token refresh, an unknown inlet, a redirect): it says nothing about the
            # messages, so none of them is dead-lettered for it; they go back to the queue.
            return _all_failed(group, exc.status, exc.message, retryable=True)
        finally:
            delivery.ledger.request((time.perf_counter() - started) * 1000)
        try:
            parsed = StreamBatchResponse.model_validate(response.json())
        except ValueError:
            return _all_failed(group, response.status_code, "unreadable streaming response", retryable=True)
        if len(parsed.responses) != len(group):
            # Never matched by position: which entry belongs to which message is unknown.
            answered = len(parsed.responses)
            reason = f"AEP answered {answered} results for {len(group)} messages; the request is retried"
            logger.warning("streaming answer does not match the request", extra={"reason": reason})
            return _all_failed(group, response.status_code, reason, retryable=True)
        results = []
        for index, entry in zip(group, parsed.responses, strict=True):
            status = entry.status_code
            if entry.xaction_id and (status is None or status < 400):
                results.append(
                    MessageResult(index=index, ok=True, xaction_id=entry.xaction_id, status=status)
                )
            else:
                results.append(
                    MessageResult(
                        index=index,
                        ok=False,
                        status=status,
                        reason=entry.message or "rejected by AEP",
                        retryable=status is None or status in RETRYABLE_STATUSES,
                    )
                )
        return results

    def send_one(
        self,
        inlet_id: str,
        message: Mapping[str, Any],
        *,
        flow_id: str | None = None,
        authenticated: bool = False,
        sync_validation: bool = False,
    ) -> StreamSingleResponse:
        """``POST /collection/{inlet}``. Raises the typed AepError when AEP refuses the message."""
        headers = self._headers(flow_id)
        data = encode(message)
        if len(data) > MAX_REQUEST_BYTES:
            raise error_class_for(413)(f"message is {len(data)} bytes; over the 1 MB limit", status=413)
        response = self._t.request(
            "POST",
            f"{self._base}/{quote(inlet_id, safe='')}",
            params={"syncValidation": "true"} if sync_validation else None,
            headers=headers,
            data=data,
            authenticated=authenticated,
            refresh_on=(401, 403),
            context="stream message",
        )
        return StreamSingleResponse.model_validate(response.json())


def _all_failed(group: list[int], status: int | None, reason: str, *, retryable: bool) -> list[MessageResult]:
    return [
        MessageResult(index=i, ok=False, status=status, reason=reason, retryable=retryable) for i in group
    ]
