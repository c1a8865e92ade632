"""The adaptation of one SQS event (stream_ingest.service): FIFO detection, groups, the invocation deadline,
metrics, logs and batchItemFailures; and the container's runtime."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from aep import Deadline
from stream_ingest import service
from stream_ingest.dead_letters import DeadLetters, OverflowStore
from stream_ingest.ingest import Incoming, Outcome, Stats, StreamIngestor
from tests.conftest import make_client
from tests.support.events import sqs_event
from tests.support.fakes import FakeClock, FakeLambdaContext


class FakeIngestor:
    def __init__(self, transport: Any, outcomes: list[Outcome], stats: Stats) -> None:
        self.transport = transport
        self.outcomes = outcomes
        self.stats = stats
        self.calls: list[tuple[list[Incoming], Deadline, bool, Any]] = []

    def process(self, messages: list[Incoming], deadline: Deadline, fifo: bool = False) -> Any:
        self.calls.append((messages, deadline, fifo, self.transport.deadline))
        if isinstance(self.outcomes, Exception):
            raise self.outcomes
        return self.outcomes, self.stats


class RecordedMetrics:
    def __init__(self) -> None:
        self.added: list[tuple[str, str, float]] = []

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.added.append((name, unit.value, value))


class RecordedLogger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def debug(self, message: str, **fields: Any) -> None:
        self.lines.append(("debug", message, fields))

    def info(self, message: str, **fields: Any) -> None:
        self.lines.append(("info", message, fields))


class StoppedContext(FakeLambdaContext):
    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def log(monkeypatch) -> RecordedLogger:
    recorded = RecordedLogger()
    monkeypatch.setattr(service, "logger", recorded)
    return recorded


def runtime(outcomes: Any, stats: Stats | None = None, safety: float = 2.5, ims_calls: int = 0) -> Any:
    clock = FakeClock()
    transport = SimpleNamespace(deadline=None)
    ingestor = FakeIngestor(transport, outcomes, stats or Stats())
    ims = SimpleNamespace(take_count=lambda: ims_calls)
    client = SimpleNamespace(clock=clock, transport=transport, ims=ims)
    return SimpleNamespace(
        client=client, settings=SimpleNamespace(deadline_safety_seconds=safety), ingestor=ingestor
    )


def test_a_standard_batch_is_adapted_and_answered(log):
    event = sqs_event(["a", "b", "c"])
    ids = [r["messageId"] for r in event["Records"]]
    outcomes = [
        Outcome(ids[0], "accepted", xaction_id="x:0"),
        Outcome(ids[1], "retry", "busy", 503),
        Outcome(ids[2], "dead_lettered", "bad", 400, "identityMap"),
    ]
    stats = Stats(3, 1, 1, 1, 12.34, [5.0, 7.26], 2, 1, 0)
    rt = runtime(outcomes, stats, ims_calls=2)
    metrics = RecordedMetrics()

    answer = service.handle(event, StoppedContext(remaining_ms=30_000), metrics, rt)  # type: ignore[arg-type]

    assert answer == {"batchItemFailures": [{"itemIdentifier": ids[1]}]}
    ((messages, deadline, fifo, during),) = rt.ingestor.calls
    assert messages == [Incoming(ids[0], "a", None), Incoming(ids[1], "b", None), Incoming(ids[2], "c", None)]
    assert fifo is False
    assert deadline.clock is rt.client.clock
    assert deadline.at == rt.client.clock.monotonic() + 30.0 - 2.5
    assert during is deadline
    assert rt.client.transport.deadline is None
    assert metrics.added == [
        ("RecordsReceived", "Count", 3),
        ("RecordsSent", "Count", 1),
        ("RecordsRejected", "Count", 1),
        ("RecordsRetried", "Count", 1),
        ("AepRequestSplits", "Count", 2),
        ("DeadLettersOverflowed", "Count", 1),
        ("DeadLettersTruncated", "Count", 0),
        ("ImsTokenRequests", "Count", 2),
        ("AepSendLatency", "Milliseconds", 5.0),
        ("AepSendLatency", "Milliseconds", 7.26),
    ]
    assert log.lines == [
        ("debug", "accepted", {"message_id": ids[0], "xaction_id": "x:0"}),
        (
            "info",
            "not accepted",
            {"message_id": ids[1], "outcome": "retry", "status": 503, "reason": "busy", "field": None},
        ),
        (
            "info",
            "not accepted",
            {
                "message_id": ids[2],
                "outcome": "dead_lettered",
                "status": 400,
                "reason": "bad",
                "field": "identityMap",
            },
        ),
        (
            "info",
            "batch done",
            {
                "received": 3,
                "accepted": 1,
                "dead_lettered": 1,
                "retried": 1,
                "requests": 2,
                "splits": 2,
                "overflowed": 1,
                "truncated": 0,
                "slowest_request_ms": 7.3,
                "elapsed_ms": 12.3,
            },
        ),
    ]


def test_a_fifo_batch_carries_its_groups(log):
    event = sqs_event(["a", "b"], fifo=True, groups=["g1", "g2"])
    ids = [r["messageId"] for r in event["Records"]]
    rt = runtime([Outcome(ids[0], "retry", "held"), Outcome(ids[1], "retry", "held")])

    answer = service.handle(event, StoppedContext(), RecordedMetrics(), rt)  # type: ignore[arg-type]

    ((messages, _, fifo, _),) = rt.ingestor.calls
    assert fifo is True
    assert [(m.message_id, m.group) for m in messages] == [(ids[0], "g1"), (ids[1], "g2")]
    assert answer == {"batchItemFailures": [{"itemIdentifier": ids[0]}, {"itemIdentifier": ids[1]}]}


def test_an_empty_event_is_not_fifo_and_logs_zeroes(log):
    rt = runtime([])

    assert service.handle({}, StoppedContext(), RecordedMetrics(), rt) == {"batchItemFailures": []}  # type: ignore[arg-type]
    ((messages, _, fifo, _),) = rt.ingestor.calls
    assert (messages, fifo) == ([], False)
    ((_, message, fields),) = log.lines
    assert (message, fields["requests"], fields["slowest_request_ms"]) == ("batch done", 0, 0.0)


def test_the_transport_deadline_is_cleared_even_when_processing_fails(log):
    rt = runtime(RuntimeError("boom"))

    with pytest.raises(RuntimeError):
        service.handle(sqs_event(["a"]), StoppedContext(), RecordedMetrics(), rt)  # type: ignore[arg-type]

    assert rt.ingestor.calls[0][3] is not None
    assert rt.client.transport.deadline is None


def test_the_runtime_is_built_from_the_environment_with_its_dead_letter_queue(secrets, clock, monkeypatch):
    client = make_client("http://127.0.0.1:9", secrets, clock)
    environ = {
        "STREAM_INLET_ID": "in",
        "STREAM_DATASET_ID": "ds",
        "STREAM_FLOW_ID": "flow",
        "STREAM_DLQ_URL": "https://sqs/dlq.fifo",
    }
    sqs, s3 = object(), object()

    plain = service.build_runtime(environ, client, lambda: sqs, lambda: s3)
    monkeypatch.setenv("STREAM_INLET_ID", "in2")
    monkeypatch.setenv("STREAM_DATASET_ID", "ds2")
    monkeypatch.setenv("STREAM_FLOW_ID", "flow2")
    monkeypatch.setenv("STREAM_DLQ_URL", "https://sqs/dlq")
    monkeypatch.setenv("STREAM_DLQ_OVERFLOW_BUCKET", "spill")
    spilling = service.build_runtime(None, client, lambda: sqs, lambda: s3)

    assert (plain.client, plain.settings.inlet_id, spilling.settings.inlet_id) == (client, "in", "in2")
    assert isinstance(plain.ingestor, StreamIngestor)
    assert plain.ingestor._client is client
    assert plain.ingestor._settings is plain.settings
    letters = plain.ingestor._dead_letters
    assert isinstance(letters, DeadLetters)
    assert (letters._url, letters._fifo, letters._overflow, letters._sqs()) == (
        "https://sqs/dlq.fifo",
        True,
        None,
        sqs,
    )
    overflow = spilling.ingestor._dead_letters._overflow
    assert isinstance(overflow, OverflowStore)
    assert overflow.bucket == "spill"
    assert overflow._client_factory() is s3


def test_the_default_aws_clients(aws):
    assert service._sqs_client().meta.service_model.service_name == "sqs"
    assert service._s3_client().meta.service_model.service_name == "s3"


def test_one_runtime_per_container(monkeypatch):
    built: list[object] = []

    def build() -> object:
        built.append(object())
        return built[-1]

    monkeypatch.setattr(service, "build_runtime", build)
    service.set_runtime(None)
    try:
        first = service.runtime()
        assert service.runtime() is first
        assert built == [first]
        replacement = object()
        service.set_runtime(replacement)  # type: ignore[arg-type]
        assert service.runtime() is replacement
    finally:
        service.set_runtime(None)


def test_handle_uses_the_container_runtime_when_none_is_given(log, monkeypatch):
    rt = runtime([])
    monkeypatch.setattr(service, "runtime", lambda: rt)

    service.handle({"Records": []}, StoppedContext(), RecordedMetrics())  # type: ignore[arg-type]

    assert len(rt.ingestor.calls) == 1


def test_the_logger_names_the_service():
    assert service.logger.service == "stream-ingest"
