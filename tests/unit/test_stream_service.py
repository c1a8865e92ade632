"""The adaptation of one SQS event (stream_ingest.service): FIFO detection, groups, the invocation deadline,
metrics, logs and batchItemFailures; and the container's runtime."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from aep import Deadline
from stream_ingest import service
from stream_ingest.dead_letters import DeadLetters, OverflowStore
from stream_ingest.ingest import Incoming, Outcome, Stats, StreamIngestor, TenantStats
from tests.conftest import make_client
from tests.support.events import QUEUE_ARN, sqs_event
from tests.support.fakes import FakeClock, FakeLambdaContext


class FakeRouter:
    def __init__(self, clock: FakeClock, outcomes: list[Outcome], stats: Stats, ims: dict[str, int]) -> None:
        self.clock = clock
        self.outcomes = outcomes
        self.stats = stats
        self.ims = ims
        self.calls: list[tuple[list[Incoming], Deadline, bool]] = []

    def process(self, messages: list[Incoming], deadline: Deadline, fifo: bool = False) -> Any:
        self.calls.append((messages, deadline, fifo))
        if isinstance(self.outcomes, Exception):
            raise self.outcomes
        return self.outcomes, self.stats

    def take_ims_counts(self) -> dict[str, int]:
        counts, self.ims = self.ims, {}
        return counts


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


class RecordedTenantMetrics:
    """What ``service.tenant_metrics`` sinks receive, per tenant, and whether each was flushed."""

    def __init__(self) -> None:
        self.sent: dict[str, list[tuple[str, str, float]]] = {}
        self.flushed: list[str] = []

    def __call__(self, metrics: Any, tenant: str) -> Any:
        sink = self.sent.setdefault(tenant, [])
        recorded = self

        class Sink:
            def add_metric(self, name: str, unit: Any, value: float) -> None:
                sink.append((name, unit.value, value))

            def flush_metrics(self) -> None:
                recorded.flushed.append(tenant)

        return Sink()


@pytest.fixture(autouse=True)
def per_tenant(monkeypatch) -> RecordedTenantMetrics:
    recorded = RecordedTenantMetrics()
    monkeypatch.setattr(service, "tenant_metrics", recorded)
    return recorded


def runtime(
    outcomes: Any, stats: Stats | None = None, safety: float = 2.5, ims: dict[str, int] | None = None
) -> Any:
    router = FakeRouter(FakeClock(), outcomes, stats or Stats(), dict(ims or {}))
    return SimpleNamespace(
        client=None, settings=SimpleNamespace(deadline_safety_seconds=safety), router=router
    )


def test_a_standard_batch_is_adapted_and_answered(log, per_tenant):
    event = sqs_event(["a", "b", "c"])
    ids = [r["messageId"] for r in event["Records"]]
    outcomes = [
        Outcome(ids[0], "accepted", xaction_id="x:0", tenant="default"),
        Outcome(ids[1], "retry", "busy", 503, tenant="default"),
        Outcome(ids[2], "dead_lettered", "bad", 400, "identityMap", tenant="default"),
    ]
    stats = Stats(3, 1, 1, 1, 12.34, [5.0, 7.26], 2, 1, 0, {"default": TenantStats(3, 1, 1, 1)})
    rt = runtime(outcomes, stats, ims={"default": 2})
    metrics = RecordedMetrics()

    answer = service.handle(event, StoppedContext(remaining_ms=30_000), metrics, rt)  # type: ignore[arg-type]

    assert answer == {"batchItemFailures": [{"itemIdentifier": ids[1]}]}
    ((messages, deadline, fifo),) = rt.router.calls
    assert messages == [
        Incoming(ids[0], "a", None, None, QUEUE_ARN),
        Incoming(ids[1], "b", None, None, QUEUE_ARN),
        Incoming(ids[2], "c", None, None, QUEUE_ARN),
    ]
    assert fifo is False
    assert deadline.clock is rt.router.clock
    assert deadline.at == rt.router.clock.monotonic() + 30.0 - 2.5
    assert per_tenant.sent == {
        "default": [
            ("RecordsReceived", "Count", 3),
            ("RecordsSent", "Count", 1),
            ("RecordsRejected", "Count", 1),
            ("RecordsRetried", "Count", 1),
            ("ImsTokenRequests", "Count", 2),
        ]
    }
    assert per_tenant.flushed == ["default"]
    assert metrics.added == [
        ("RecordsReceived", "Count", 3),
        ("RecordsSent", "Count", 1),
        ("RecordsRejected", "Count", 1),
        ("RecordsRetried", "Count", 1),
        ("AepRequestSplits", "Count", 2),
        ("DeadLettersOverflowed", "Count", 1),
        ("DeadLettersTruncated", "Count", 0),
        ("ImsTokenRequests", "Count", 2),
        ("TenantConfigErrors", "Count", 0),
        ("LaneFailures", "Count", 0),
        ("AepSendLatency", "Milliseconds", 5.0),
        ("AepSendLatency", "Milliseconds", 7.26),
    ]
    assert log.lines == [
        ("debug", "accepted", {"message_id": ids[0], "xaction_id": "x:0", "tenant": "default"}),
        (
            "info",
            "not accepted",
            {
                "message_id": ids[1],
                "outcome": "retry",
                "status": 503,
                "reason": "busy",
                "field": None,
                "tenant": "default",
            },
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
                "tenant": "default",
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

    ((messages, _, fifo),) = rt.router.calls
    assert fifo is True
    assert [(m.message_id, m.group) for m in messages] == [(ids[0], "g1"), (ids[1], "g2")]
    assert answer == {"batchItemFailures": [{"itemIdentifier": ids[0]}, {"itemIdentifier": ids[1]}]}


def test_an_empty_event_is_not_fifo_and_logs_zeroes(log):
    rt = runtime([])

    assert service.handle({}, StoppedContext(), RecordedMetrics(), rt) == {"batchItemFailures": []}  # type: ignore[arg-type]
    ((messages, _, fifo),) = rt.router.calls
    assert (messages, fifo) == ([], False)
    ((_, message, fields),) = log.lines
    assert (message, fields["requests"], fields["slowest_request_ms"]) == ("batch done", 0, 0.0)


def test_a_failing_router_fails_the_invocation(log):
    rt = runtime(RuntimeError("boom"))

    with pytest.raises(RuntimeError):
        service.handle(sqs_event(["a"]), StoppedContext(), RecordedMetrics(), rt)  # type: ignore[arg-type]

    assert len(rt.router.calls) == 1


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
    default = plain.router.lane(plain.router.registry.get(None))
    assert isinstance(default.ingestor, StreamIngestor)
    assert default.ingestor.client is client
    assert default.ingestor.settings is plain.settings
    assert default.ingestor.tenant == "default"
    assert plain.router.clock is client.clock
    assert plain.router.fair is False  # no registry table: no circuit breakers, as before tenants
    letters = plain.router.dead_letters
    assert isinstance(letters, DeadLetters)
    assert (letters._url, letters._fifo, letters._overflow, letters._sqs()) == (
        "https://sqs/dlq.fifo",
        True,
        None,
        sqs,
    )
    overflow = spilling.router.dead_letters._overflow
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

    assert len(rt.router.calls) == 1


def test_the_logger_names_the_service():
    assert service.logger.service == "stream-ingest"
