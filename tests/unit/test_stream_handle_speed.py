"""What the streaming handler does for speed keeps its behaviour: copies of messages and outcomes equal
``dataclasses.replace``'s, and the cyclic collector is paused for the whole batch, then resumed."""

from __future__ import annotations

import dataclasses
import gc
from typing import Any

from stream_ingest import service
from stream_ingest.ingest import Incoming, Outcome, Stats
from tests.support.events import sqs_event
from tests.unit.test_stream_service import RecordedMetrics, StoppedContext, runtime


def test_a_message_with_its_parsed_body_is_the_message_with_only_its_data_replaced():
    message = Incoming("m1", '{"a":1}', "g1", "brand-a", "arn:aws:sqs:us-east-1:1:q")
    data = {"a": 1}

    copy = message.parsed(data)

    assert copy == dataclasses.replace(message, data=data)
    assert copy.data is data
    assert dataclasses.astuple(copy)[:-1] == dataclasses.astuple(message)[:-1]


def test_an_outcome_for_a_tenant_is_the_outcome_with_only_its_tenant_replaced():
    outcome = Outcome("m1", "dead_lettered", "bad", 400, "identityMap", "x:1", None)

    assert outcome.of_tenant("brand-a") == dataclasses.replace(outcome, tenant="brand-a")
    assert outcome.of_tenant(None) == outcome


def test_the_collector_is_paused_while_a_batch_is_handled_and_resumed_after():
    event = sqs_event(["a"])
    mid = event["Records"][0]["messageId"]
    rt = runtime([Outcome(mid, "accepted", xaction_id="x:0")], Stats(1, 1))
    seen: list[bool] = []
    process = rt.router.process

    def watching(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return process(*args, **kwargs)

    rt.router.process = watching
    assert gc.isenabled()

    answer = service.handle(event, StoppedContext(), RecordedMetrics(), rt)  # type: ignore[arg-type]

    assert answer == {"batchItemFailures": []}
    assert seen == [False]
    assert gc.isenabled()
