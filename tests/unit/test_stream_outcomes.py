"""Where each record of a batch ends: accepted, dead-lettered, or back on the queue; FIFO groups in order."""

from __future__ import annotations

from typing import Any

from aep.models import MessageResult
from stream_ingest.dead_letters import DeadLetter, DeliveryReport
from stream_ingest.ingest import HELD_BACK, RESENT, Incoming, Stats, StreamIngestor
from stream_ingest.records import Prepared, Rejected


def incoming(n: int, group: str | None = None) -> Incoming:
    return Incoming(f"m{n}", f'{{"n":{n}}}', group)


def prepared(message: Incoming) -> Prepared:
    return Prepared(message.message_id, {}, message.group, b"{}")


def ok(xaction: str) -> MessageResult:
    return MessageResult(index=0, ok=True, xaction_id=xaction)


def transient() -> MessageResult:
    return MessageResult(index=0, ok=False, status=503, reason="unavailable", retryable=True)


def refused() -> MessageResult:
    return MessageResult(index=0, ok=False, status=400, reason="bad xdm", retryable=False)


def scenario() -> tuple[list[Incoming], list[Rejected], list[tuple[Prepared, MessageResult]]]:
    """g: 503, then a record our validation refused, then one AEP accepted; h: accepted, then refused."""
    messages = [incoming(0, "g"), incoming(1, "g"), incoming(2, "g"), incoming(3, "h"), incoming(4, "h")]
    rejected = [Rejected("m1", "not JSON", None, None)]
    sent = [
        (prepared(messages[0]), transient()),
        (prepared(messages[2]), ok("x:2")),
        (prepared(messages[3]), ok("x:3")),
        (prepared(messages[4]), refused()),
    ]
    return messages, rejected, sent


def summary(outcomes: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {mid: (o.kind, o.reason) for mid, o in sorted(outcomes.items())}


def test_fifo_group_waits_behind_its_first_retry():
    messages, rejected, sent = scenario()

    outcomes, letters = StreamIngestor._sort(messages, rejected, sent, fifo=True)

    assert summary(outcomes) == {
        "m0": ("retry", "unavailable"),
        "m1": ("retry", HELD_BACK),  # not dead-lettered ahead of m0
        "m2": ("retry", RESENT),  # accepted in the same request: sent again after m0
        "m3": ("accepted", None),
    }
    assert outcomes["m0"].status == 503
    assert outcomes["m3"].xaction_id == "x:3"
    assert letters == [DeadLetter("m4", '{"n":4}', "bad xdm", None, 400, "aep", "h")]


def test_standard_queue_records_are_independent():
    messages, rejected, sent = scenario()

    outcomes, letters = StreamIngestor._sort(messages, rejected, sent, fifo=False)

    assert summary(outcomes) == {
        "m0": ("retry", "unavailable"),
        "m2": ("accepted", None),
        "m3": ("accepted", None),
    }
    assert letters == [
        DeadLetter("m1", '{"n":1}', "not JSON", None, None, "connector", "g"),
        DeadLetter("m4", '{"n":4}', "bad xdm", None, 400, "aep", "h"),
    ]


def test_a_refusal_before_the_retry_is_dead_lettered_and_does_not_block():
    messages = [incoming(0, "g"), incoming(1, "g"), incoming(2, "g")]
    rejected = [Rejected("m0", "not JSON", "body", 400)]
    sent = [(prepared(messages[1]), refused()), (prepared(messages[2]), ok("x:2"))]

    outcomes, letters = StreamIngestor._sort(messages, rejected, sent, fifo=True)

    assert summary(outcomes) == {"m2": ("accepted", None)}
    assert [(x.message_id, x.stage, x.field, x.status) for x in letters] == [
        ("m0", "connector", "body", 400),
        ("m1", "aep", None, 400),
    ]


def test_a_message_without_a_result_is_retried_never_lost():
    outcomes, letters = StreamIngestor._sort([incoming(0)], [], [], fifo=False)

    assert summary(outcomes) == {"m0": ("retry", "no result for this message")}
    assert letters == []


def test_an_aep_refusal_without_a_reason_gets_one():
    message = incoming(0)
    answer = MessageResult(index=0, ok=False, status=400, retryable=False)

    _, (letter,) = StreamIngestor._sort([message], [], [(prepared(message), answer)], fifo=False)

    assert letter.reason == "rejected by AEP"


class FakeDeadLetters:
    def __init__(self, report: DeliveryReport) -> None:
        self.report = report
        self.sent: list[DeadLetter] = []

    def send(self, letters: list[DeadLetter]) -> DeliveryReport:
        self.sent.extend(letters)
        return self.report


def test_a_letter_the_dlq_did_not_take_goes_back_to_the_queue():
    dead = FakeDeadLetters(DeliveryReport(undelivered={"m1"}, overflowed=2, truncated=1))
    ingestor = StreamIngestor.__new__(StreamIngestor)
    ingestor._dead_letters = dead  # type: ignore[assignment]
    letters = [
        DeadLetter("m0", "{}", "bad", "identityMap", 400, "connector"),
        DeadLetter("m1", "{}", "worse", None, 413, "aep"),
    ]
    stats = Stats()

    outcomes = ingestor._dead_letter(letters, stats)

    assert {mid: (o.kind, o.reason, o.status, o.field) for mid, o in outcomes.items()} == {
        "m0": ("dead_lettered", "bad", 400, "identityMap"),
        "m1": ("retry", "dead-letter queue unavailable; worse", 413, None),
    }
    assert (stats.overflowed, stats.truncated) == (2, 1)


def test_no_letters_no_dlq_call():
    dead = FakeDeadLetters(DeliveryReport())
    ingestor = StreamIngestor.__new__(StreamIngestor)
    ingestor._dead_letters = dead  # type: ignore[assignment]

    assert ingestor._dead_letter([], Stats()) == {}
    assert dead.sent == []
