"""What invokes the functions while the stack is up, as Lambda's triggers would: a poller per SQS event
source (it gathers up to the mapping's batch size for at most its batching window, invokes, and deletes
the records the function did not report as failed: a failed one comes back after the queue's visibility
timeout, and moves to the dead-letter queue after its redrive policy's receive count, as deployed), and a
timer per schedule."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from stack.events import schedule_event, sqs_record
from stack.functions import SqsSource
from stack.lambdas import Container, InvocationError
from stack.resources import queue_url

log = logging.getLogger("stack")
#: Long-poll wait while nothing has arrived (also how soon a poller sees the stack stop).
IDLE_WAIT_SECONDS = 1
#: A short pause between receives while a batching window is open.
GATHER_PAUSE_SECONDS = 0.05
#: SQS hands out at most 10 messages a receive.
RECEIVE_MAX = 10


@dataclass
class Counts:
    invocations: int = 0
    records: int = 0
    reported_failures: int = 0
    errors: list[str] = field(default_factory=list)


class SqsPoller(threading.Thread):
    """Lambda's SQS event source mapping for one queue and one function."""

    def __init__(self, source: SqsSource, container: Container, stopping: threading.Event) -> None:
        name = source.queue_arn.rsplit(":", 1)[-1]
        super().__init__(name=f"sqs-{name}", daemon=True)
        self.source = source
        self.container = container
        self.url = queue_url(name)
        self.stopping = stopping
        self.counts = Counts()
        self.busy = threading.Event()  # set while a batch is being gathered or handled
        self._sqs: Any = boto3.client("sqs")

    def _receive(self, limit: int, wait: int) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=min(RECEIVE_MAX, limit),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def gather(self) -> list[dict[str, Any]]:
        """One batch: the first messages (long poll), then more until the batch size or the window's end."""
        batch = self._receive(self.source.batch_size, IDLE_WAIT_SECONDS)
        if not batch:
            return batch
        self.busy.set()
        closes = time.monotonic() + self.source.window_seconds
        while len(batch) < self.source.batch_size and not self.stopping.is_set():
            more = self._receive(self.source.batch_size - len(batch), 0)
            batch += more
            if time.monotonic() >= closes:
                break
            if not more:
                time.sleep(min(GATHER_PAUSE_SECONDS, max(0.0, closes - time.monotonic())))
        return batch

    def handle(self, batch: list[dict[str, Any]]) -> None:
        event = {"Records": [sqs_record(m, self.source.queue_arn) for m in batch]}
        self.counts.invocations += 1
        self.counts.records += len(batch)
        try:
            response = self.container.invoke(event)
        except InvocationError as exc:  # the whole batch comes back after the visibility timeout
            self.counts.errors.append(str(exc))
            log.warning("%s", exc)
            return
        failed: set[str] = set()
        if self.source.report_failures and isinstance(response, dict):
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures") or []}
        self.counts.reported_failures += len(failed)
        done = [m for m in batch if m["MessageId"] not in failed]
        for start in range(0, len(done), RECEIVE_MAX):
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                for n, m in enumerate(done[start : start + RECEIVE_MAX])
            ]
            self._sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                batch = self.gather()
                if batch and not self.stopping.is_set():  # else they come back after the timeout
                    self.handle(batch)
            except Exception as exc:
                if not self.stopping.is_set():
                    self.counts.errors.append(f"{self.name}: {exc}")
                    log.warning("%s: %s", self.name, exc)
                    self.stopping.wait(IDLE_WAIT_SECONDS)
            finally:
                self.busy.clear()


class Scheduler(threading.Thread):
    """An EventBridge schedule: invokes the function every ``every`` seconds (the first after one period)."""

    def __init__(
        self,
        container: Container,
        every: float,
        stopping: threading.Event,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name=f"schedule-{container.name}", daemon=True)
        self.container = container
        self.every = every
        self.stopping = stopping
        self.counts = Counts()
        self.on_error = on_error
        self.rule_arn = f"arn:aws:events:us-east-1:123456789012:rule/{container.name}-schedule"

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            self.counts.invocations += 1
            try:
                self.container.invoke(schedule_event(self.rule_arn))
            except InvocationError as exc:
                self.counts.errors.append(str(exc))
                log.warning("%s", exc)
