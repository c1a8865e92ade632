"""The ingestor end to end against a recording AEP on 127.0.0.1: what it passes on to each request (flow,
authentication, count cap, deadline), FIFO lanes and groups, the schema lookup, the stats, the letters."""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest

from aep import Deadline
from aep.schema_cache import SchemaValidators, ValidationSettings
from stream_ingest.dead_letters import DeadLetter, DeliveryReport
from stream_ingest.ingest import HELD_BACK, Incoming, StreamIngestor, paused_gc
from stream_ingest.records import Target
from stream_ingest.settings import StreamSettings
from tests.conftest import ORG_ID, make_client, token_reply
from tests.support.recorder import Recorded, Reply

BATCH = "/collection/batch/in"
DATASET = "/data/foundation/catalog/dataSets/ds1"
SCHEMA = "https://ns.adobe.com/acme/schemas/call"
CONTENT_TYPE = "application/vnd.adobe.xed-full+json;version=1"


def body(event_id: str) -> str:
    """A valid bare record; its ``_id`` says how the fake AEP answers it (``retry*``, ``bad*``, else ok)."""
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return json.dumps({"_id": event_id, "timestamp": stamp, "identityMap": {"ECID": [{"id": "1234"}]}})


def answer(request: Recorded) -> Reply:
    entries: list[dict[str, Any]] = []
    for message in request.json()["messages"]:
        event_id = message["body"]["xdmEntity"]["_id"]
        if event_id.startswith("retry"):
            entries.append({"statusCode": 503, "message": "busy"})
        elif event_id.startswith("bad"):
            entries.append({"statusCode": 400, "message": "bad xdm"})
        else:
            entries.append({"xactionId": f"x:{event_id}"})
    return Reply(207, {"responses": entries})


def sent_ids(recorder) -> list[list[str]]:
    return [
        [m["body"]["xdmEntity"]["_id"] for m in call.json()["messages"]]
        for call in recorder.calls("POST", BATCH)
    ]


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    def send(self, letters: list[DeadLetter]) -> DeliveryReport:
        self.sent.extend(letters)
        return DeliveryReport()


@pytest.fixture
def build(recorder, secrets, clock):
    recorder.on("POST", BATCH, answer)
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply()))

    def make(**overrides: Any) -> tuple[StreamIngestor, FakeDeadLetters]:
        values: dict[str, Any] = {
            "inlet_id": "in",
            "dataset_id": "ds1",
            "schema_ref": SCHEMA,
            "flow_id": "flow-1",
            "dlq_url": "https://sqs/dlq",
            "concurrency": 1,
            "max_messages_per_request": 2,
            **overrides,
        }
        dead = FakeDeadLetters()
        client = make_client(recorder.url, secrets, clock)
        return StreamIngestor(client, StreamSettings(**values), dead), dead  # type: ignore[arg-type]

    return make


@pytest.fixture
def later(clock) -> Deadline:
    return Deadline.after(300.0, clock)


def summary(outcomes) -> list[tuple[str, str, str | None, int | None]]:
    return [(o.message_id, o.kind, o.reason, o.status) for o in outcomes]


@pytest.mark.parametrize("fifo", [False, True])
def test_each_request_carries_the_configured_flow_authentication_and_count(build, recorder, later, fifo):
    ingestor, _ = build(inlet_authenticated=True)
    messages = [Incoming(f"m{n}", body(f"e{n}"), "g" if fifo else None) for n in range(5)]

    outcomes, stats = ingestor.process(messages, later, fifo=fifo)

    assert [(o.kind, o.xaction_id) for o in outcomes] == [("accepted", f"x:e{n}") for n in range(5)]
    assert sent_ids(recorder) == [["e0", "e1"], ["e2", "e3"], ["e4"]]
    for call in recorder.calls("POST", BATCH):
        assert call.headers["x-adobe-flow-id"] == "flow-1"
        assert call.headers["authorization"] == "Bearer token-1"
    assert (stats.received, stats.accepted, stats.rejected, stats.retried, stats.splits) == (5, 5, 0, 0, 0)
    assert len(stats.request_ms) == 3
    assert stats.elapsed_ms > 0


@pytest.mark.parametrize("fifo", [False, True])
def test_an_unauthenticated_inlet_sends_no_token_but_its_flow(build, recorder, later, fifo):
    ingestor, _ = build()

    ingestor.process([Incoming("m0", body("e0"), "g")], later, fifo=fifo)

    (call,) = recorder.calls("POST", BATCH)
    assert "authorization" not in call.headers
    assert call.headers["x-adobe-flow-id"] == "flow-1"


def test_the_message_header_comes_from_configuration(build, recorder, later):
    ingestor, _ = build()

    ingestor.process([Incoming("m0", body("e0"))], later)

    (call,) = recorder.calls("POST", BATCH)
    (message,) = call.json()["messages"]
    assert message["header"] == {
        "schemaRef": {"id": SCHEMA, "contentType": CONTENT_TYPE},
        "imsOrgId": ORG_ID,
        "datasetId": "ds1",
        "flowId": "flow-1",
    }


@pytest.mark.parametrize("fifo", [False, True])
def test_the_invocation_deadline_is_passed_on(build, recorder, clock, fifo):
    ingestor, dead = build()
    passed = Deadline(clock.monotonic() - 1.0, clock)
    messages = [Incoming(f"m{n}", body(f"e{n}"), "g") for n in range(3)]

    outcomes, stats = ingestor.process(messages, passed, fifo=fifo)

    assert recorder.calls("POST", BATCH) == []
    reason = "stream messages: deadline reached before attempt 1"
    if fifo:  # the group's first retry holds the rest of its group back
        assert summary(outcomes) == [
            ("m0", "retry", reason, None),
            ("m1", "retry", HELD_BACK, None),
            ("m2", "retry", HELD_BACK, None),
        ]
    else:
        assert summary(outcomes) == [(f"m{n}", "retry", reason, None) for n in range(3)]
    assert (stats.accepted, stats.rejected, stats.retried) == (0, 0, 3)
    assert dead.sent == []


def test_fifo_holds_back_only_the_group_that_must_wait(build, recorder, later):
    ingestor, dead = build(max_messages_per_request=1)
    messages = [
        Incoming("m0", body("retry0"), "g"),
        Incoming("m1", body("e1"), "h"),
        Incoming("m2", body("e2"), "g"),
        Incoming("m3", "not json", "g"),
        Incoming("m4", body("bad4"), "h"),
        Incoming("m5", body("e5"), "h"),
    ]

    outcomes, stats = ingestor.process(messages, later, fifo=True)

    assert sent_ids(recorder) == [["retry0"], ["e1"], ["bad4"], ["e5"]]  # one lane, m2 never sent
    assert summary(outcomes) == [
        ("m0", "retry", "busy", 503),
        ("m1", "accepted", None, None),
        ("m2", "retry", HELD_BACK, None),
        ("m3", "retry", HELD_BACK, None),  # not dead-lettered ahead of m0
        ("m4", "dead_lettered", "bad xdm", 400),
        ("m5", "accepted", None, None),
    ]
    assert dead.sent == [DeadLetter("m4", messages[4].body, "bad xdm", None, 400, "aep", "h")]
    assert (stats.received, stats.accepted, stats.rejected, stats.retried) == (6, 2, 1, 3)


def test_fifo_groups_are_laned_by_the_crc32_of_their_name(build, recorder, later):
    # crc32("g") is even, crc32("h") odd: on two lanes each group has its own requests
    messages = [Incoming(f"m{n}", body(f"{'gh'[n % 2]}{n}"), "gh"[n % 2]) for n in range(4)]

    build(concurrency=2)[0].process(messages, later, fifo=True)
    two_lanes = sorted(sent_ids(recorder))
    recorder.requests.clear()
    build(concurrency=1)[0].process(messages, later, fifo=True)

    assert two_lanes == [["g0", "g2"], ["h1", "h3"]]
    assert sent_ids(recorder) == [["g0", "h1"], ["g2", "h3"]]


def test_fifo_messages_without_a_group_share_the_lane_of_the_empty_name(build, recorder, later):
    messages = [Incoming("m0", body("e0"), None), Incoming("m1", body("d1"), "d")]  # crc32 "" and "d": even

    outcomes, _ = build(concurrency=2)[0].process(messages, later, fifo=True)

    assert [o.kind for o in outcomes] == ["accepted", "accepted"]
    assert sent_ids(recorder) == [["e0", "d1"]]


def test_the_standard_path_dead_letters_our_refusals_and_aeps(build, recorder, later):
    ingestor, dead = build()
    messages = [Incoming("m0", "[1]"), Incoming("m1", body("bad1")), Incoming("m2", body("e2"))]

    outcomes, stats = ingestor.process(messages, later)

    assert summary(outcomes) == [
        ("m0", "dead_lettered", "message body must be a JSON object", None),
        ("m1", "dead_lettered", "bad xdm", 400),
        ("m2", "accepted", None, None),
    ]
    assert dead.sent == [
        DeadLetter("m0", "[1]", "message body must be a JSON object", None, None, "connector", None),
        DeadLetter("m1", messages[1].body, "bad xdm", None, 400, "aep", None),
    ]
    assert (stats.accepted, stats.rejected, stats.retried) == (1, 2, 0)


def test_splits_are_counted_on_both_paths(build, recorder, later):
    recorder.on("POST", BATCH, Reply(400, {"title": "refused", "status": 400}), answer)
    ingestor, _ = build()

    _, standard = ingestor.process([Incoming("m0", body("e0")), Incoming("m1", body("e1"))], later)
    recorder.on("POST", BATCH, Reply(400, {"title": "refused", "status": 400}), answer)
    _, fifo = ingestor.process(
        [Incoming("m0", body("e0"), "g"), Incoming("m1", body("e1"), "g")], later, True
    )

    assert (standard.splits, len(standard.request_ms), standard.accepted) == (1, 3, 2)
    assert (fifo.splits, len(fifo.request_ms), fifo.accepted) == (1, 3, 2)


def test_the_schema_comes_from_the_dataset_once(build, recorder, later):
    recorder.on("GET", DATASET, Reply(200, {"ds1": {"schemaRef": {"id": "https://ns/s2"}}}))
    ingestor, _ = build(schema_ref=None)

    ingestor.process([Incoming("m0", body("e0"))], later)
    ingestor.process([Incoming("m1", body("e1"))], later)

    assert len(recorder.calls("GET", DATASET)) == 1
    for call in recorder.calls("POST", BATCH):
        assert call.json()["messages"][0]["header"]["schemaRef"]["id"] == "https://ns/s2"


@pytest.mark.parametrize(
    ("reply", "reason", "status"),
    [
        (Reply(200, {"ds1": {"name": "calls"}}), "schema lookup failed: dataset ds1 has no schemaRef", None),
        (Reply(404, {"title": "gone", "status": 404}), "schema lookup failed: dataset lookup: gone", 404),
    ],
)
def test_a_failed_schema_lookup_retries_the_whole_batch(build, recorder, later, reply, reason, status):
    recorder.on("GET", DATASET, reply)
    ingestor, dead = build(schema_ref=None)

    outcomes, stats = ingestor.process([Incoming("m0", body("e0")), Incoming("m1", "not json")], later)

    assert summary(outcomes) == [("m0", "retry", reason, status), ("m1", "retry", reason, status)]
    assert (stats.received, stats.retried, stats.accepted, stats.rejected) == (2, 2, 0, 0)
    assert recorder.calls("POST", BATCH) == []
    assert dead.sent == []


def test_the_collector_is_paused_while_preparing_and_restored():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()

    gc.disable()
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_the_collector_comes_back_after_an_error():
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("boom")

    assert gc.isenabled()


def test_elapsed_time_is_measured_in_milliseconds(build, recorder, later):
    def slow(request: Recorded) -> Reply:
        time.sleep(0.05)
        return answer(request)

    recorder.on("POST", BATCH, slow)
    ingestor, _ = build()

    _, standard = ingestor.process([Incoming("m0", body("e0"))], later)
    _, fifo = ingestor.process([Incoming("m0", body("e0"), "g")], later, fifo=True)

    for stats in (standard, fifo):
        assert 50 <= stats.elapsed_ms < 10_000
        assert 50 <= stats.request_ms[0] <= stats.elapsed_ms


def test_fifo_lanes_run_on_their_own_named_threads(build, recorder, later):
    ingestor, _ = build(concurrency=2)
    streaming = ingestor._client.streaming
    threads: list[str] = []
    sender = streaming.sender

    def recording_sender(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return sender(*args, **kwargs)

    streaming.sender = recording_sender
    messages = [Incoming("m0", body("g0"), "g"), Incoming("m1", body("h1"), "h")]

    ingestor.process(messages, later, fifo=True)

    assert len(threads) == 2
    assert all(name.startswith("aep-fifo_") for name in threads)


def test_a_fifo_lane_keeps_a_count_cap_above_the_senders_default(build, recorder, later):
    ingestor, _ = build(max_messages_per_request=2100)
    messages = [Incoming(f"m{n}", body(f"e{n}"), "g") for n in range(2150)]

    outcomes, _ = ingestor.process(messages, later, fifo=True)

    assert [len(ids) for ids in sent_ids(recorder)] == [2100, 50]
    assert all(o.kind == "accepted" for o in outcomes)


def test_fifo_splits_of_every_request_are_added_up(build, recorder, later):
    refused = Reply(400, {"title": "refused", "status": 400})
    recorder.on("POST", BATCH, refused, answer, answer, refused, answer)
    ingestor, _ = build()  # two messages per request

    _, stats = ingestor.process([Incoming(f"m{n}", body(f"e{n}"), "g") for n in range(4)], later, fifo=True)

    assert [len(ids) for ids in sent_ids(recorder)] == [2, 1, 1, 2, 1, 1]
    assert (stats.splits, len(stats.request_ms), stats.accepted) == (2, 6, 4)


def test_the_target_comes_from_configuration_and_credentials(build):
    ingestor, _ = build()

    assert ingestor.target() == Target("in", "ds1", SCHEMA, "flow-1", ORG_ID)
    assert ingestor.target() is ingestor.target()


def test_a_batch_is_standard_unless_told_otherwise(build, recorder, later):
    ingestor, _ = build(max_messages_per_request=1)

    outcomes, _ = ingestor.process([Incoming("m0", body("retry0")), Incoming("m1", body("e1"))], later)

    assert [o.kind for o in outcomes] == ["retry", "accepted"]  # on FIFO, m1 would wait behind m0


def test_every_outcome_names_its_own_message(build, later):
    class Unavailable(FakeDeadLetters):
        def send(self, letters: list[DeadLetter]) -> DeliveryReport:
            return DeliveryReport(undelivered={letter.message_id for letter in letters})

    ingestor, _ = build()
    ingestor._dead_letters = Unavailable()

    outcomes, _ = ingestor.process([Incoming("m0", "[1]"), Incoming("m1", body("bad1"))], later)
    lost, _ = StreamIngestor._sort([Incoming("m2", "{}")], [], [], fifo=False)

    assert [(o.message_id, o.kind) for o in outcomes] == [("m0", "retry"), ("m1", "retry")]
    assert outcomes[0].reason == "dead-letter queue unavailable; message body must be a JSON object"
    assert lost["m2"].message_id == "m2"


def test_a_failed_schema_lookup_is_logged(build, recorder, later, caplog):
    recorder.on("GET", DATASET, Reply(200, {"ds1": {"name": "calls"}}))
    ingestor, _ = build(schema_ref=None)

    with caplog.at_level(logging.WARNING, logger="stream_ingest.ingest"):
        ingestor.process([Incoming("m0", body("e0"))], later)

    (record,) = [r for r in caplog.records if r.name == "stream_ingest.ingest"]
    assert record.getMessage() == "cannot resolve the target schema; retrying the batch"
    assert record.error == "dataset ds1 has no schemaRef"


def test_elapsed_and_request_times_are_exact_milliseconds(build, recorder, later, monkeypatch):
    ticks = iter(range(100))
    monkeypatch.setattr("stream_ingest.ingest.time.perf_counter", lambda: next(ticks) / 4)
    ingestor, _ = build()

    _, stats = ingestor.process([Incoming("m0", body("e0"))], later)

    # started 0.0 s; the request from 0.25 s to 0.5 s; done at 0.75 s
    assert (stats.elapsed_ms, stats.request_ms) == (750.0, [250.0])


def test_every_busy_fifo_lane_runs_at_once(build, recorder, later):
    lanes = 33  # more than a thread pool's default size (at most 32)
    groups: dict[int, str] = {}
    for n in range(10_000):
        groups.setdefault(zlib.crc32(f"g{n}".encode()) % lanes, f"g{n}")
        if len(groups) == lanes:
            break
    changed = threading.Condition()
    in_flight = [0, 0]  # now, most

    def waiting(request: Recorded) -> Reply:
        with changed:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
            changed.notify_all()
            changed.wait_for(lambda: in_flight[1] >= lanes, timeout=5)
        with changed:
            in_flight[0] -= 1
        return answer(request)

    recorder.on("POST", BATCH, waiting)
    messages = [Incoming(f"m{lane}", body(f"e{lane}"), group) for lane, group in groups.items()]

    outcomes, _ = build(concurrency=lanes)[0].process(messages, later, fifo=True)

    assert all(o.kind == "accepted" for o in outcomes)
    assert in_flight[1] == lanes


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


REGISTRY = r"/data/foundation/schemaregistry/tenant/schemas/.+"
# The schema the container fetched before ``_acme.intent`` was added in AEP.
OLD_SCHEMA = {
    "$id": SCHEMA,
    "type": "object",
    "properties": {
        "_id": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "identityMap": {"type": "object", "meta:xdmType": "map", "additionalProperties": {"type": "array"}},
        "_acme": {"type": "object", "properties": {"queue": {"type": "string"}}},
    },
}


def with_acme(event_id: str, **acme: Any) -> str:
    return json.dumps({**json.loads(body(event_id)), "_acme": acme})


@pytest.fixture
def stale(recorder, secrets, clock):
    """An ingestor whose schema was fetched 2 minutes ago; the registry now answers 503."""
    recorder.on("POST", BATCH, answer)
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply()))
    recorder.on("GET", REGISTRY, Reply(200, OLD_SCHEMA), Reply(503, {"title": "down", "status": 503}))
    ticks = Ticks()
    validators = SchemaValidators(ValidationSettings(recheck_seconds=60), clock=ticks)
    settings = StreamSettings(
        inlet_id="in", dataset_id="ds1", schema_ref=SCHEMA, flow_id="flow-1", dlq_url="https://sqs/dlq"
    )
    dead = FakeDeadLetters()
    client = make_client(recorder.url, secrets, clock, max_attempts=1)
    ingestor = StreamIngestor(client, settings, dead, validators=validators)  # type: ignore[arg-type]
    assert ingestor.checked_target().check is not None
    ticks.now += 120
    return ingestor, dead


def test_an_unknown_field_goes_back_to_the_queue_when_the_newer_schema_cannot_be_fetched(
    stale, recorder, later
):
    ingestor, dead = stale
    messages = [
        Incoming("m0", with_acme("e0", queue="billing")),
        Incoming("m1", with_acme("e1", queue="billing", intent="refund")),
        Incoming("m2", with_acme("e2", queue=7)),
    ]

    outcomes, stats = ingestor.process(messages, later)

    # the record with the field the cached schema lacks is retried, not dead-lettered; the others as usual
    (retried,) = [o for o in outcomes if o.message_id == "m1"]
    assert retried.kind == "retry"
    assert retried.reason is not None
    assert retried.reason.startswith("schema lookup failed: a field is not in the schema of dataset ds1")
    assert [(o.message_id, o.kind) for o in outcomes] == [
        ("m0", "accepted"),
        ("m1", "retry"),
        ("m2", "dead_lettered"),
    ]
    assert [(d.message_id, d.field) for d in dead.sent] == [("m2", "_acme.queue")]
    assert sent_ids(recorder) == [["e0"]]
    assert (stats.accepted, stats.rejected, stats.retried) == (1, 1, 1)


def test_on_fifo_a_group_waits_behind_its_record_whose_schema_cannot_be_rechecked(stale, recorder, later):
    ingestor, dead = stale
    messages = [
        Incoming("m0", with_acme("g0", intent="refund"), "g"),
        Incoming("m1", with_acme("h1"), "h"),
        Incoming("m2", with_acme("g2"), "g"),
    ]

    outcomes, _ = ingestor.process(messages, later, fifo=True)

    assert [(o.message_id, o.kind, o.reason == HELD_BACK) for o in outcomes] == [
        ("m0", "retry", False),
        ("m1", "accepted", False),
        ("m2", "retry", True),  # never sent ahead of m0
    ]
    assert sent_ids(recorder) == [["h1"]]
    assert dead.sent == []
