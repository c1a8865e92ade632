"""Two tenants on two emulator orgs through the streaming function: mixed SQS batches land each record in
its own org only; crossing attempts are refused; and with tenant A's AEP answering 503 for a simulated
minute, tenant B keeps flowing at its normal rate (fairness).

The registry is a DynamoDB table in moto, each tenant's credentials and token in its own moto secrets, the
DLQ moto's SQS; AEP is the emulator with org A (sandbox.default.json) and org B (sandbox.brand-b.json).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from aep import AepClient, AepCredentials, AepSettings, RetryPolicy
from aep.tenants import Tenant, TenantRegistry, TenantStreaming
from aep.tenants.clients import ClientCache, base_settings
from stream_ingest import service
from stream_ingest.records import OTHER_ORG
from tests.integration.conftest import (
    BRAND_B_CALL_EVENTS,
    BRAND_B_EVENTS_FLOW,
    BRAND_B_EVENTS_INLET,
    CALL_EVENTS,
    EVENTS_FLOW,
    EVENTS_INLET,
    Admin,
    TwoOrgs,
    call_event,
    emulator_client,
)
from tests.support.events import QUEUE_ARN, sqs_event
from tests.support.fakes import FakeClock, FakeLambdaContext
from tests.support.lambdas import load_app

pytestmark = pytest.mark.integration

TABLE = "tenants"
B_QUEUE = "arn:aws:sqs:us-east-1:123456789012:aep-brand-b"
CONTENT_TYPE = "application/vnd.adobe.xed-full+json;version=1"


def register(orgs: TwoOrgs, *, b_queues: tuple[str, ...] = ()) -> Any:
    """The registry with brand-a (org A) and brand-b (org B), each with its own two secrets."""
    secrets = boto3.client("secretsmanager")
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb").Table(TABLE)
    targets = {
        "a": (orgs.a, EVENTS_INLET, CALL_EVENTS, EVENTS_FLOW, ()),
        "b": (orgs.b, BRAND_B_EVENTS_INLET, BRAND_B_CALL_EVENTS, BRAND_B_EVENTS_FLOW, b_queues),
    }
    for name, (org, inlet, dataset, flow, queues) in targets.items():
        secrets.create_secret(
            Name=f"aep/brand-{name}/credentials",
            SecretString=json.dumps(
                {"client_id": org.client_id, "client_secret": org.client_secret, "org_id": org.org_id}
            ),
        )
        secrets.create_secret(Name=f"aep/brand-{name}/token", SecretString="{}")
        item = Tenant(
            tenant_id=f"brand-{name}",
            org_id=org.org_id,
            credentials_secret_id=f"aep/brand-{name}/credentials",
            token_secret_id=f"aep/brand-{name}/token",
            # no schema_ref: each tenant's schema is read from its own dataset, in its own org
            streaming=TenantStreaming(inlet_id=inlet, dataset_id=dataset, flow_id=flow),
            source_queues=queues,
        )
        table.put_item(Item=item.to_item())
    return secrets


def container(
    orgs: TwoOrgs, clock: FakeClock, policy: RetryPolicy, dlq: str, **extra: str
) -> service.Runtime:
    """One Lambda container: the default tenant on org A (the stack's own variables), the registry's
    tenants each with its own client of the emulator; ``extra``: more variables."""
    secrets = boto3.client("secretsmanager")
    url = orgs.url

    def factory(settings: AepSettings, credentials: AepCredentials, secrets_client: Any) -> AepClient:
        return AepClient(settings, credentials, secrets_client=secrets_client, clock=clock, policy=policy)

    environ = {
        "STREAM_INLET_ID": EVENTS_INLET,
        "STREAM_DATASET_ID": CALL_EVENTS,
        "STREAM_FLOW_ID": EVENTS_FLOW,
        "STREAM_DLQ_URL": dlq,
        "STREAM_DEADLINE_SAFETY_SECONDS": "0.5",
        "AEP_TENANTS_TABLE": TABLE,
        **extra,
    }
    clients = ClientCache(
        base_settings({"AEP_IMS_URL": url, "AEP_PLATFORM_URL": url, "AEP_STREAMING_URL": url}),
        default=lambda: default,
        secrets_client=lambda: secrets,
        factory=factory,
    )
    default = emulator_client(orgs.emulator, clock, policy, org=orgs.a.config)
    registry = TenantRegistry.from_env(environ, clock=clock)
    return service.build_runtime(
        environ, default, lambda: boto3.client("sqs"), clients=clients, registry=registry, clock=clock
    )


def dead_letters(dlq: str) -> dict[str, dict[str, str]]:
    sqs = boto3.client("sqs")
    found: dict[str, dict[str, str]] = {}
    while True:
        answer = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        if not answer.get("Messages"):
            return found
        for message in answer["Messages"]:
            attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
            found[attrs["aep.source.messageId"]] = attrs
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])


def complete(orgs: TwoOrgs, record: dict[str, Any], org_id: str, dataset: str, **top: Any) -> str:
    schema = orgs.a.config.dataset(CALL_EVENTS)
    assert schema is not None
    ref = {"id": schema.schema_ref, "contentType": CONTENT_TYPE}
    header = {"schemaRef": ref, "imsOrgId": org_id, "datasetId": dataset}
    return json.dumps({**top, "header": header, "body": {"xdmMeta": {"schemaRef": ref}, "xdmEntity": record}})


def sns(message: str, tenant: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "Message": message,
            "MessageAttributes": {"tenant": {"Type": "String", "Value": tenant}},
        }
    )


def test_mixed_batches_of_two_tenants_land_each_record_in_its_own_org_only(two_orgs, aws):
    orgs = two_orgs
    register(orgs, b_queues=(QUEUE_ARN, B_QUEUE))
    dlq = str(boto3.client("sqs").create_queue(QueueName="dlq")["QueueUrl"])
    clock = FakeClock(now=time.time())
    rt = container(orgs, clock, RetryPolicy(max_attempts=3, base=0.01, max_wait=0.02), dlq)
    app = load_app("stream_ingest")
    expected: dict[str, set[str]] = {"a": set(), "b": set()}
    bodies: list[str] = []
    tenants: list[str | None] = []
    for n in range(60):
        name = "ab"[n % 2] if n % 5 else "d"  # every fifth record names no tenant: the default, org A
        record = call_event(f"+1415555{n:04d}", n)
        record["_id"] = f"{name}-{n}"
        expected["a" if name in "ad" else "b"].add(record["_id"])
        style = n % 3
        if name == "d":
            bodies.append(json.dumps(record))
            tenants.append(None)
        elif style == 0:  # the SQS attribute
            bodies.append(json.dumps(record))
            tenants.append(f"brand-{name}")
        elif style == 1:  # the envelope of a complete message
            org, dataset = (
                (orgs.a.org_id, CALL_EVENTS) if name == "a" else (orgs.b.org_id, BRAND_B_CALL_EVENTS)
            )
            bodies.append(complete(orgs, record, org, dataset, tenant=f"brand-{name}"))
            tenants.append(None)
        else:  # an SNS notification's attribute
            bodies.append(sns(json.dumps(record), f"brand-{name}"))
            tenants.append(None)
    failures: list[str] = []
    service.set_runtime(rt)
    try:
        for start in range(0, len(bodies), 10):
            event = sqs_event(bodies[start : start + 10], tenants=tenants[start : start + 10])
            for index, item in enumerate(event["Records"]):
                item["messageId"] = f"m-{start + index}"
            answer = app.lambda_handler(event, FakeLambdaContext())
            failures += [f["itemIdentifier"] for f in answer["batchItemFailures"]]
    finally:
        service.set_runtime(None)

    in_a = set(orgs.emulator.space(orgs.a.org_id).streamed_ids)
    in_b = set(orgs.emulator.space(orgs.b.org_id).streamed_ids)
    assert failures == []
    assert in_a == expected["a"]
    assert in_b == expected["b"]
    assert not in_a & in_b
    assert dead_letters(dlq) == {}
    a_requests = [
        r for r in Admin(orgs.url).requests(org=orgs.a.org_id) if r["path"].startswith("/collection")
    ]
    b_requests = [
        r for r in Admin(orgs.url).requests(org=orgs.b.org_id) if r["path"].startswith("/collection")
    ]
    assert {r["path"] for r in a_requests} == {f"/collection/batch/{EVENTS_INLET}"}
    assert {r["path"] for r in b_requests} == {f"/collection/batch/{BRAND_B_EVENTS_INLET}"}


def test_crossing_tenants_is_refused(two_orgs, aws):
    orgs = two_orgs
    register(orgs, b_queues=(B_QUEUE,))
    dlq = str(boto3.client("sqs").create_queue(QueueName="dlq")["QueueUrl"])
    clock = FakeClock(now=time.time())
    # as the template sets it: the stack's queue alone carries the default tenant and brand-a (no queue)
    policy = RetryPolicy(max_attempts=2, base=0.01, max_wait=0.02)
    rt = container(orgs, clock, policy, dlq, STREAM_DEFAULT_TENANT_QUEUES=QUEUE_ARN)
    records = [call_event(f"+1415555{n:04d}", n) for n in range(7)]
    for n, record in enumerate(records):
        record["_id"] = f"cross-{n}"
    bodies = [
        # brand-b claimed on the stack's queue, which only brand A's producer may write to
        json.dumps(records[0]),
        # brand-a's queue position, an envelope naming brand B's org
        complete(orgs, records[1], orgs.b.org_id, CALL_EVENTS, tenant="brand-a"),
        # brand-b's own queue, but the message names org A
        complete(orgs, records[2], orgs.a.org_id, BRAND_B_CALL_EVENTS),
        # a tenant that does not exist
        json.dumps(records[3]),
        # brand-b from its own queue: accepted, in org B
        json.dumps(records[4]),
        # brand-b's queue, a bare record naming no tenant: not the default tenant's (org A) from there
        json.dumps(records[5]),
        # brand-b's queue, naming brand-a, which has no queue of its own: the stack's queue only
        json.dumps(records[6]),
    ]
    first = sqs_event(bodies[:2], tenants=["brand-b", None])
    second = sqs_event(bodies[2:], tenants=["brand-b", "brand-z", "brand-b", None, "brand-a"], source=B_QUEUE)
    for event, prefix in ((first, "q"), (second, "b")):
        for index, item in enumerate(event["Records"]):
            item["messageId"] = f"{prefix}-{index}"

    for event in (first, second):
        answer = service.handle(event, FakeLambdaContext(), _NoMetrics(), rt)  # type: ignore[arg-type]
        assert answer == {"batchItemFailures": []}

    letters = dead_letters(dlq)
    assert {mid: (a["tenant"], a["aep.error.reason"]) for mid, a in letters.items()} == {
        "q-0": ("brand-b", "queue aep-connector-stream may not carry records of tenant 'brand-b'"),
        "q-1": ("brand-a", OTHER_ORG),
        "b-0": ("brand-b", OTHER_ORG),
        "b-1": ("brand-z", "unknown tenant 'brand-z'"),
        "b-3": ("default", "queue aep-brand-b may not carry records of tenant 'default'"),
        "b-4": ("brand-a", "queue aep-brand-b may not carry records of tenant 'brand-a'"),
    }
    assert set(orgs.emulator.space(orgs.a.org_id).streamed_ids) == set()
    assert set(orgs.emulator.space(orgs.b.org_id).streamed_ids) == {"cross-4"}


class _NoMetrics:
    def add_metric(self, *_: Any) -> None:
        pass


# -- fairness ---------------------------------------------------------------------------------------------

#: Simulated time of one invocation besides the client's waits (polling, preparation, requests).
INVOCATION_SECONDS = 0.2
VISIBILITY_TIMEOUT = 360.0
BATCH = 20
MINUTE = 60.0


@dataclass
class Sim:
    """A queue of interleaved A and B records drained for a simulated minute by one container."""

    invocations: int = 0
    accepted: dict[str, int] = field(default_factory=lambda: {"a": 0, "b": 0})
    invocation_seconds: list[float] = field(default_factory=list)

    def b_rate(self) -> float:
        return self.accepted["b"] / MINUTE

    def mean_invocation(self) -> float:
        return sum(self.invocation_seconds) / len(self.invocation_seconds)


def drive(rt: service.Runtime, clock: FakeClock, run: str, seconds: float = MINUTE) -> Sim:
    app = load_app("stream_ingest")
    sim = Sim()
    backlog = [
        (f"{run}-{'ab'[n % 2]}-{n}", "ab"[n % 2]) for n in range(int(seconds / INVOCATION_SECONDS) * BATCH)
    ]
    waiting: list[tuple[float, str, str]] = []  # returned: visible again after the visibility timeout
    started = clock.monotonic()
    service.set_runtime(rt)
    try:
        while clock.monotonic() - started < seconds:
            batch = [m for m in waiting if m[0] <= clock.monotonic()][:BATCH]
            taken = {m[1] for m in batch}
            waiting = [m for m in waiting if m[1] not in taken]
            fresh = BATCH - len(batch)
            batch_ids = [(mid, name) for _, mid, name in batch] + backlog[:fresh]
            del backlog[:fresh]
            bodies: list[str] = []
            tenants: list[str | None] = []
            for mid, name in batch_ids:
                record = call_event("+14155550100", len(bodies))
                record["_id"] = mid
                bodies.append(json.dumps(record))
                tenants.append(f"brand-{name}")
            event = sqs_event(bodies, tenants=tenants)
            for item, (mid, _) in zip(event["Records"], batch_ids, strict=True):
                item["messageId"] = mid
            before = clock.monotonic()
            answer = app.lambda_handler(event, FakeLambdaContext(remaining_ms=60_000))
            clock.advance(INVOCATION_SECONDS)
            sim.invocation_seconds.append(clock.monotonic() - before)
            sim.invocations += 1
            returned = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            for mid, name in batch_ids:
                if mid in returned:
                    waiting.append((clock.monotonic() + VISIBILITY_TIMEOUT, mid, name))
                else:
                    sim.accepted[name] += 1
    finally:
        service.set_runtime(None)
    return sim


def realistic_policy(seed: int) -> RetryPolicy:
    """The client's defaults (5 attempts, 0.2 s doubling, full jitter), the jitter seeded."""
    rng = random.Random(seed)
    return RetryPolicy(jitter=lambda ceiling: rng.uniform(0.0, ceiling))


@pytest.mark.fault
def test_tenant_a_answering_503_for_a_minute_does_not_slow_tenant_b(two_orgs, aws, capsys):
    orgs = two_orgs
    register(orgs)
    admin = Admin(orgs.url)
    dlq = str(boto3.client("sqs").create_queue(QueueName="dlq")["QueueUrl"])

    healthy_clock = FakeClock(now=time.time())
    healthy = drive(container(orgs, healthy_clock, realistic_policy(1), dlq), healthy_clock, "healthy")

    admin.faults({"path": "^/collection", "status": 503}, org=orgs.a.org_id)
    clock = FakeClock(now=time.time())
    rt = container(orgs, clock, realistic_policy(1), dlq)
    outage = drive(rt, clock, "outage")
    breaker = rt.router.breaker("brand-a")
    a_requests_in_outage = sum(
        r["path"].startswith("/collection") and r.get("fault") == "status"
        for r in admin.requests(org=orgs.a.org_id)
    )

    # The same outage without the breakers: every invocation spends A's retries (what fairness prevents).
    unfair_clock = FakeClock(now=time.time())
    unfair_rt = container(orgs, unfair_clock, realistic_policy(1), dlq)
    unfair_rt.router.fair = False
    unfair = drive(unfair_rt, unfair_clock, "unfair")

    rate_ratio = outage.b_rate() / healthy.b_rate()
    time_ratio = outage.mean_invocation() / healthy.mean_invocation()
    with capsys.disabled():
        print(
            f"\nfairness: B accepted {healthy.accepted['b']} / {outage.accepted['b']} records in a "
            f"simulated minute (A healthy / A answering 503): {healthy.b_rate():.1f} / "
            f"{outage.b_rate():.1f} records/s, "
            f"ratio {rate_ratio:.3f}; mean invocation {healthy.mean_invocation():.3f} / "
            f"{outage.mean_invocation():.3f} s, ratio {time_ratio:.3f}; invocations {healthy.invocations} / "
            f"{outage.invocations}; A's requests during the outage {a_requests_in_outage}, "
            f"breaker opened {breaker.opened} times; without breakers: B {unfair.b_rate():.1f} records/s "
            f"(ratio {unfair.b_rate() / healthy.b_rate():.3f}), "
            f"mean invocation {unfair.mean_invocation():.3f} s"
        )

    assert healthy.accepted["a"] > 0
    assert outage.accepted["a"] == 0
    assert rate_ratio >= 0.9
    assert time_ratio <= 1.1
    assert breaker.opened >= 1
    # cooling down, A cost next to nothing: a handful of its requests, not one per invocation
    assert a_requests_in_outage < outage.invocations / 10
    assert unfair.b_rate() / healthy.b_rate() < 0.5

    # A recovers: faults cleared, the next probe after the cool-down goes through
    admin.faults(org=orgs.a.org_id)
    clock.advance(300.0)
    recovered = drive(rt, clock, "after", seconds=1.0)
    assert recovered.accepted["a"] > 0
    assert breaker.state() == "closed"
