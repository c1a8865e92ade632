"""The fault suite: 10,000 records through the streaming function against a hostile AEP, nothing lost.

SQS is simulated in memory (a message the function returns in ``batchItemFailures`` goes back to the end of
the queue, as a visibility timeout would); the DLQ is moto's SQS behind SQS's real size limits; AEP is the
emulator over HTTP with seeded faults on the streaming endpoint: 10% 429, 5% 503, 2% connections dropped
before processing and 2% dropped after it (the request's records are stored, the answer never arrives, so
the function sends them again: duplicates). Two containers (two clients sharing the token secret) hold two
different live tokens when every token is revoked mid-run. Five poison messages are mixed in.

It proves: 0 records lost, 0 valid records in the DLQ, each poison message in the DLQ with its own reason,
duplicates counted (and equal to what AEP stored twice), at most 2 IMS calls per container for the
revocation. Run alone: ``.venv/bin/pytest -m fault -s`` (prints the figures docs/operations.md quotes).
"""

from __future__ import annotations

import heapq
import json
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests

from aep import AepClient, RetryPolicy
from stream_ingest import service
from tests.integration.conftest import CALLERS, CALLERS_INLET, Admin, emulator_client
from tests.support.events import sqs_event
from tests.support.fakes import FakeClock, FakeLambdaContext
from tests.support.lambdas import load_app
from tests.support.strict_sqs import StrictSqs

pytestmark = [pytest.mark.integration, pytest.mark.fault]

CALLERS_FLOW = "d8a6f005-0000-4000-8000-00000000ca11"
RECORDS = 10_000
MAX_RECEIVE_COUNT = 5  # the template's StreamMaxReceiveCount default
VISIBILITY_TIMEOUT = 360.0  # the template's queue VisibilityTimeout
INVOCATION_SECONDS = 0.05  # simulated time between two invocations (the clock of both containers)

# Each rule is drawn only when the ones before it missed: these conditional rates give the shares above.
FAULTS = [
    {"path": "^/collection/batch", "status": 429, "retry_after": 0, "rate": 0.10},
    {"path": "^/collection/batch", "status": 503, "retry_after": 0, "rate": 0.05 / 0.90},
    {"path": "^/collection/batch", "kind": "drop", "rate": 0.02 / 0.85},
    {"path": "^/collection/batch", "kind": "drop_after", "rate": 0.02 / 0.83},
]

IDENTITY = '"identityMap": {"Phone": [{"id": "+14155550100", "primary": True}]}'.replace("True", "true")
POISON = {
    "not-json": ("{this is not json", "message body is not JSON"),
    "nan": ('{"_id": "poison-nan", ' + IDENTITY + ', "person": {"age": NaN}}', "NaN"),
    "deep": (
        '{"_id": "poison-deep", ' + IDENTITY + ', "a": ' + "[" * 5000 + "]" * 5000 + "}",
        "nested too deeply",
    ),
    "surrogate": (
        '{"_id": "poison-surrogate", ' + IDENTITY + ', "person": {"name": {"firstName": "\\ud800"}}}',
        "surrogate",
    ),
    "namespace": (
        json.dumps(
            {
                "_id": "poison-namespace",
                "identityMap": {"CRMID": [{"id": "c-1", "primary": True}]},
                "person": {"name": {"firstName": "Eve"}},
            }
        ),
        "namespace CRMID is not on the allowed list",
    ),
}


def profile(n: int) -> str:
    phone = f"+1415{n:07d}"
    return json.dumps(
        {
            "_id": f"caller-{n}",
            "identityMap": {"Phone": [{"id": phone, "primary": True}]},
            "person": {"name": {"firstName": f"Caller{n}"}},
        }
    )


@dataclass(order=True)
class Message:
    visible_at: float
    message_id: str = field(compare=False)
    body: str = field(compare=False)
    receives: int = field(default=0, compare=False)


@dataclass
class Run:
    invocations: int = 0
    redeliveries: int = 0
    max_receives: int = 0
    redriven: list[str] = field(default_factory=list)


def ims_calls(admin: Admin) -> int:
    return sum(r["path"].startswith("/ims/token") for r in admin.requests())


class Queue:
    """SQS as the function sees it: a returned message is visible again after the visibility timeout;
    one returned on its ``MAX_RECEIVE_COUNT``-th receive is moved to the DLQ by the redrive policy (with
    no reason: that is what must never happen to a valid record)."""

    def __init__(self, messages: list[Message], clock: FakeClock) -> None:
        self._heap = list(messages)
        heapq.heapify(self._heap)
        self._clock = clock

    def __bool__(self) -> bool:
        return bool(self._heap)

    def receive(self, size: int) -> list[Message]:
        self._clock.advance(INVOCATION_SECONDS)
        if self._heap[0].visible_at > self._clock.now():
            self._clock.set(self._heap[0].visible_at)  # nothing visible: time passes
        batch: list[Message] = []
        while self._heap and len(batch) < size and self._heap[0].visible_at <= self._clock.now():
            batch.append(heapq.heappop(self._heap))
        return batch

    def give_back(self, message: Message) -> None:
        message.visible_at = self._clock.now() + VISIBILITY_TIMEOUT
        heapq.heappush(self._heap, message)


def drive(
    queue: Queue, batch_size: int, runtimes: list[service.Runtime], revoke_after: int, admin: Admin
) -> tuple[Run, set[str], int]:
    """Deliver until the queue is empty: the run's figures, the deleted ids, IMS calls at revocation."""
    app = load_app("stream_ingest")
    run = Run()
    deleted: set[str] = set()
    ims_before_revocation = -1
    while queue:
        if run.invocations == revoke_after:
            ims_before_revocation = ims_calls(admin)
            assert admin.revoke_all() == 2, "two live tokens (one per container) are revoked"
        batch = queue.receive(batch_size)
        event = sqs_event([m.body for m in batch])
        for record, message in zip(event["Records"], batch, strict=True):
            record["messageId"] = message.message_id
        service.set_runtime(runtimes[run.invocations % len(runtimes)])
        answer = app.lambda_handler(event, FakeLambdaContext(remaining_ms=120_000))
        run.invocations += 1
        returned = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        for message in batch:
            message.receives += 1
            run.max_receives = max(run.max_receives, message.receives)
            if message.message_id not in returned:
                deleted.add(message.message_id)
            elif message.receives >= MAX_RECEIVE_COUNT:
                run.redriven.append(message.message_id)
                deleted.add(message.message_id)
            else:
                run.redeliveries += 1
                queue.give_back(message)
    return run, deleted, ims_before_revocation


def dead_letters(url: str) -> dict[str, str]:
    sqs = boto3.client("sqs")
    found: dict[str, str] = {}
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        messages = answer.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
            assert attrs["aep.source.messageId"] not in found, "dead-lettered once"
            found[attrs["aep.source.messageId"]] = attrs["aep.error.reason"]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def container(emulator: Any, dlq: str, clock: FakeClock) -> service.Runtime:
    """One Lambda container: its own client (token in memory), the shared token secret, the world's clock."""
    client: AepClient = emulator_client(
        emulator, clock, RetryPolicy(max_attempts=3, base=0.001, max_wait=0.002)
    )
    environ = {
        "STREAM_INLET_ID": CALLERS_INLET,
        "STREAM_DATASET_ID": CALLERS,
        "STREAM_INLET_AUTHENTICATED": "true",
        "STREAM_RECORD_CLASS": "profile",
        "STREAM_FLOW_ID": CALLERS_FLOW,
        "STREAM_DLQ_URL": dlq,
        "STREAM_DEADLINE_SAFETY_SECONDS": "0.2",
    }
    return service.build_runtime(environ, client, lambda: StrictSqs(boto3.client("sqs")))


def two_live_tokens(runtimes: list[service.Runtime]) -> None:
    """Container A holds the shared token; container B is told that token was rejected (as after a 401),
    refreshes, and shares a second one: both tokens are live at the emulator when it revokes them."""
    a, b = (rt.client for rt in runtimes)
    assert a is not None
    assert b is not None
    first = a.tokens.get()
    b.tokens.invalidate(first.value)
    second = b.tokens.get()
    assert second.value != first.value
    assert a.tokens.get().value == first.value


@pytest.mark.parametrize("batch_size", [10, 100])
def test_ten_thousand_records_under_faults_lose_nothing(emulator, admin, aws, batch_size, capsys):
    dlq = str(boto3.client("sqs").create_queue(QueueName=f"fault-dlq-{batch_size}")["QueueUrl"])
    clock = FakeClock(now=time.time(), real_sleep=0.0005)
    runtimes = [container(emulator, dlq, clock), container(emulator, dlq, clock)]
    two_live_tokens(runtimes)
    messages = [Message(0.0, f"m-{n}", profile(n)) for n in range(RECORDS)]
    spacing = RECORDS // (len(POISON) + 1)
    poison_ids = {}
    for index, (name, (body, _)) in enumerate(POISON.items(), start=1):
        message = Message(0.0, f"poison-{name}", body)
        messages.insert(index * spacing, message)
        poison_ids[message.message_id] = name
    admin.faults(*FAULTS, seed=20261201)
    invocations = -(-len(messages) // batch_size)

    try:
        run, deleted, ims_at_revocation = drive(
            Queue(messages, clock), batch_size, runtimes, invocations // 3, admin
        )
    finally:
        service.set_runtime(None)

    streamed = requests.get(f"{emulator.url}/_admin/streamed", timeout=5).json()
    stored = emulator.state.streamed_ids
    valid_ids = {f"caller-{n}" for n in range(RECORDS)}
    letters = dead_letters(dlq)
    ims_after = ims_calls(admin) - ims_at_revocation
    faults_hit: dict[str, int] = {}
    for entry in admin.requests():
        if entry["path"].startswith("/collection/batch"):
            key = f"{entry['fault']} {entry['status']}" if entry.get("fault") else str(entry["status"])
            faults_hit[key] = faults_hit.get(key, 0) + 1
    with capsys.disabled():
        print(
            f"\nfault suite, batches of {batch_size}: {run.invocations} invocations, "
            f"{run.redeliveries} redeliveries (max {run.max_receives} receives, "
            f"{len(run.redriven)} redriven), "
            f"AEP requests {faults_hit}, "
            f"{len(set(stored) & valid_ids)} of {RECORDS} valid records in AEP, "
            f"{streamed['duplicates']} duplicates, {len(letters)} dead letters, "
            f"{ims_after} IMS calls after the revocation"
        )

    # Every message left the queue: accepted, or dead-lettered by the function; none by the redrive policy.
    assert deleted == {m.message_id for m in messages}
    assert run.redriven == []
    # 0 records lost: every valid record is in AEP.
    assert valid_ids <= set(stored)
    # 0 valid records in the DLQ; every poison message there, with its own reason.
    assert set(letters) == set(poison_ids)
    for message_id, name in poison_ids.items():
        assert POISON[name][1] in letters[message_id], (name, letters[message_id])
    # Duplicates happen (drop_after) and are counted: exactly the records AEP stored more than once.
    duplicates = sum(n - 1 for n in stored.values())
    assert duplicates == streamed["duplicates"]
    assert sum(n for key, n in faults_hit.items() if key.startswith("drop_after")) > 0
    assert duplicates > 0
    # The faults were really there, in the proportions asked for (within sampling noise).
    total = sum(faults_hit.values())
    for key, share in (("status 429", 0.10), ("status 503", 0.05), ("drop 0", 0.02), ("drop_after 0", 0.02)):
        spread = 4 * (share * (1 - share) / total) ** 0.5  # four standard deviations of the sample
        assert abs(faults_hit.get(key, 0) / total - share) < spread, (key, faults_hit)
    # The revocation cost at most 2 IMS calls per container.
    assert 1 <= ims_after <= 2 * len(runtimes)
