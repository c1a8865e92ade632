"""Auth failures against the emulator over real HTTP: revocation across containers, and the streaming
function handing every record back to SQS (never to the DLQ) while auth fails."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aep import AepAuthError, RetryPolicy
from stream_ingest import service
from tests.integration.conftest import CALLERS, CALLERS_INLET, emulator_client
from tests.integration.test_stream_function import dead_letters, dlq, failures, invoke  # noqa: F401
from tests.support.events import sqs_event
from tests.support.fakes import FakeClock, FakeLambdaContext

pytestmark = pytest.mark.integration
PHONE = "+14155550100"
AUTHENTICATED = {
    "STREAM_INLET_ID": CALLERS_INLET,
    "STREAM_DATASET_ID": CALLERS,
    "STREAM_INLET_AUTHENTICATED": "true",
    "STREAM_RECORD_CLASS": "profile",
    "STREAM_FLOW_ID": "d8a6f005-0000-4000-8000-00000000ca11",  # the callers inlet's dataflow
}


def ims_calls(admin: Any) -> int:
    return sum(1 for r in admin.requests() if r["path"] == "/ims/token/v3")


def test_revocation_with_two_live_tokens_costs_one_ims_call_in_all(emulator, admin, aws):
    clock = FakeClock(real_sleep=0.001)
    policy = RetryPolicy(max_attempts=3, base=0.01, max_wait=0.05, jitter=lambda c: c)
    a = emulator_client(emulator, clock, policy)
    b = emulator_client(emulator, clock, policy)
    a.identities.namespaces()  # container A holds token 1 (shared)
    b.tokens.invalidate(b.tokens.get().value)
    b.identities.namespaces()  # container B replaced it: token 2 (shared); A still holds token 1
    assert admin.counters()["tokens_issued"] == 2
    clock.advance(600)  # both tokens have been in use for a while
    a.ims.take_count()
    b.ims.take_count()
    assert admin.revoke_all() == 2

    with pytest.raises(AepAuthError) as caught:
        a.identities.namespaces()  # token 1 rejected, then token 2 (adopted from the secret) rejected
    outcomes = []
    for _ in range(3):
        a.identities.namespaces()
        b.identities.namespaces()
        outcomes.append("ok")

    assert caught.value.retryable
    assert outcomes == ["ok"] * 3
    assert (a.ims.take_count(), b.ims.take_count()) == (1, 0)
    assert admin.counters()["tokens_issued"] == 3


def profile(name: str) -> str:
    record = {
        "_id": f"caller-{name}",
        "identityMap": {"Phone": [{"id": PHONE, "primary": True}]},
        "person": {"name": {"firstName": name}},
        "_acme": {"tier": "gold"},
    }
    return json.dumps(record)


class Metrics:
    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.values.setdefault(name, []).append(value)


def handle(run: Any, event: dict[str, Any], metrics: Metrics) -> dict[str, Any]:
    return dict(service.handle(event, FakeLambdaContext(), metrics, run.state["runtime"]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fault",
    [
        {"path": "^/collection/batch", "status": 403},
        {"path": "^/collection/batch", "status": 401},
        {"path": "^/ims/token/v3", "status": 401},
    ],
    ids=["streaming-403", "streaming-401", "ims-refuses"],
)
def test_an_auth_failure_puts_every_record_back_on_the_queue(invoke, admin, dlq, fault):  # noqa: F811
    assert failures(invoke(sqs_event([profile("first")]), **AUTHENTICATED)) == set()  # token and schema known
    assert admin.revoke_all() == 1
    admin.faults(fault)
    metrics = Metrics()

    responses = [
        handle(invoke, sqs_event([profile(f"t{n}-{i}") for i in range(5)]), metrics) for n in range(4)
    ]

    for response, sent in zip(responses, [5, 5, 5, 5], strict=True):
        assert len(failures(response)) == sent
    assert dead_letters(dlq) == {}
    assert ims_calls(admin) <= 3  # the first token, then at most two for the four invocations
    assert sum(metrics.values["ImsTokenRequests"]) == ims_calls(admin) - 1
    assert metrics.values["RecordsRetried"] == [5, 5, 5, 5]
    assert metrics.values["RecordsRejected"] == [0, 0, 0, 0]
