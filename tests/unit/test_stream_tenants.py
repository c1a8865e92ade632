"""Tenants in the streaming function (stream_ingest.tenancy): where a message's tenant comes from, the
refusals (unknown, disabled, wrong queue, another org), per-tenant settings and packing, one tenant's
failure retried alone, configuration faults, the circuit breaker and the rate ceiling, FIFO across tenants.

AEP is a recording server on 127.0.0.1 answering every tenant on its own inlet; the registry is a DynamoDB
table in moto; the dead-letter queue records what it is given."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from aep import AepClient, AepCredentials, AepSettings, Deadline
from aep.streaming import PACED_OUT
from aep.tenants import Tenant, TenantRegistry, TenantStreaming
from aep.tenants.clients import ClientCache, base_settings
from stream_ingest.dead_letters import DeadLetter, DeliveryReport
from stream_ingest.fairness import CircuitBreaker
from stream_ingest.ingest import HELD_BACK, RESENT, Incoming, TenantStats
from stream_ingest.records import OTHER_ORG, UNPARSED
from stream_ingest.settings import StreamSettings
from stream_ingest.tenancy import NOT_A_TENANT_ID, UNKNOWN, TenantRouter, route, tenant_stream_settings
from tests.conftest import ORG_ID, exact_policy, make_client, token_reply
from tests.support.fakes import FakeClock
from tests.support.recorder import Recorded, Reply
from tests.unit.test_tenant_registry import Counting

TABLE = "tenants"
SCHEMA = "https://ns.adobe.com/acme/schemas/call"
SCHEMA_A = "https://ns.adobe.com/brand-a/schemas/call"
CONTENT_TYPE = "application/vnd.adobe.xed-full+json;version=1"
ORG_A = "AAAA0000000000000000AAAA@AdobeOrg"
ORG_B = "BBBB0000000000000000BBBB@AdobeOrg"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:aep-connector-stream"
QUEUE_A = "arn:aws:sqs:us-east-1:123456789012:brand-a-stream"
INLETS = {"in": "default", "inlet-a": "brand-a", "inlet-b": "brand-b"}


def tenant(name: str, org: str, **changes: Any) -> Tenant:
    values: dict[str, Any] = {
        "tenant_id": f"brand-{name}",
        "org_id": org,
        "sandbox_name": f"sandbox-{name}",
        "credentials_secret_id": f"aep/brand-{name}/credentials",
        "token_secret_id": f"aep/brand-{name}/token",
        "streaming": TenantStreaming(
            inlet_id=f"inlet-{name}", dataset_id=f"ds-{name}", flow_id=f"flow-{name}", schema_ref=SCHEMA_A
        ),
        **changes,
    }
    return Tenant(**values)


def record(event_id: str, **extra: Any) -> dict[str, Any]:
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {"_id": event_id, "timestamp": stamp, "identityMap": {"ECID": [{"id": "1234"}]}, **extra}


def body(event_id: str, **extra: Any) -> str:
    """A bare record; its ``_id`` says how the fake AEP answers (``retry*``: 503 for it, else accepted)."""
    return json.dumps(record(event_id, **extra))


def complete(event_id: str, org: str | None = None, schema: str = SCHEMA_A, **top: Any) -> str:
    header: dict[str, Any] = {"schemaRef": {"id": schema, "contentType": CONTENT_TYPE}}
    if org is not None:
        header["imsOrgId"] = org
    return json.dumps({**top, "header": header, "body": {"xdmEntity": record(event_id)}})


class Aep:
    """The recording AEP: per-message answers by ``_id``, and whole inlets that are down (503)."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.down: set[str] = set()
        recorder.on("POST", "/collection/batch/[^/]+", self.answer)
        recorder.on("POST", "/ims/token/v3", Reply(200, token_reply()))

    def answer(self, request: Recorded) -> Reply:
        inlet = request.path.rsplit("/", 1)[-1]
        if inlet in self.down:
            return Reply(503, {"message": "inlet down"})
        entries: list[dict[str, Any]] = []
        for message in request.json()["messages"]:
            event_id = message["body"]["xdmEntity"]["_id"]
            if event_id.startswith("retry"):
                entries.append({"statusCode": 503, "message": "busy"})
            else:
                entries.append({"xactionId": f"x:{event_id}"})
        return Reply(207, {"responses": entries})

    def requests(self) -> list[tuple[str, list[str], set[str], set[str]]]:
        """Each request: its tenant (by inlet), the _ids it carried, their header orgs and datasets."""
        out = []
        for call in self.recorder.calls("POST", "/collection/batch/"):
            messages = call.json()["messages"]
            out.append(
                (
                    INLETS[call.path.rsplit("/", 1)[-1]],
                    [m["body"]["xdmEntity"]["_id"] for m in messages],
                    {m["header"]["imsOrgId"] for m in messages},
                    {m["header"]["datasetId"] for m in messages},
                )
            )
        return out


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    def send(self, letters: list[DeadLetter]) -> DeliveryReport:
        self.sent.extend(letters)
        return DeliveryReport()


@pytest.fixture
def aep(recorder) -> Aep:
    return Aep(recorder)


@pytest.fixture
def table(secrets) -> Any:
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for name, org in (("a", ORG_A), ("b", ORG_B), ("c", ORG_A)):
        secrets.create_secret(
            Name=f"aep/brand-{name}/credentials",
            SecretString=json.dumps({"client_id": f"client-{name}", "client_secret": "s", "org_id": org}),
        )
        secrets.create_secret(Name=f"aep/brand-{name}/token", SecretString="{}")
    resource = boto3.resource("dynamodb").Table(TABLE)
    resource.put_item(Item=tenant("a", ORG_A).to_item())
    resource.put_item(Item=tenant("b", ORG_B).to_item())
    resource.put_item(Item=tenant("c", ORG_A, enabled=False).to_item())
    return resource


SETTINGS = StreamSettings(
    inlet_id="in",
    dataset_id="ds1",
    schema_ref=SCHEMA,
    flow_id="flow-1",
    dlq_url="https://sqs/dlq",
    concurrency=2,
    max_messages_per_request=3,
)


def build_router(
    recorder: Any,
    secrets: Any,
    clock: FakeClock,
    *,
    table: str | None = TABLE,
    fair: bool | None = None,
    settings: StreamSettings = SETTINGS,
    breaker: Any = CircuitBreaker,
    registry: TenantRegistry | None = None,
) -> tuple[TenantRouter, FakeDeadLetters]:
    default = make_client(recorder.url, secrets, clock)

    def factory(s: AepSettings, c: AepCredentials, secrets_client: Any) -> AepClient:
        return AepClient(s, c, secrets_client=secrets_client, clock=clock, policy=exact_policy(2))

    url = recorder.url
    clients = ClientCache(
        base_settings({"AEP_IMS_URL": url, "AEP_PLATFORM_URL": url, "AEP_STREAMING_URL": url}),
        default=lambda: default,
        secrets_client=lambda: secrets,
        factory=factory,
    )
    if registry is None:
        registry = TenantRegistry(
            table,
            Tenant(tenant_id="default", credentials_secret_id="aep/credentials", token_secret_id="aep/token"),
            clock=clock,
        )
    dead = FakeDeadLetters()
    router = TenantRouter(
        registry,
        clients,
        settings,
        dead,  # type: ignore[arg-type]
        clock=clock,
        fair=fair,
        breaker=breaker,
    )
    return router, dead


@pytest.fixture
def router(recorder, secrets, clock, table, aep) -> tuple[TenantRouter, FakeDeadLetters]:
    return build_router(recorder, secrets, clock)


@pytest.fixture
def later(clock) -> Deadline:
    return Deadline.after(300.0, clock)


def summary(outcomes) -> list[tuple[str, str, str | None, str | None]]:
    return [(o.message_id, o.kind, o.tenant, o.reason) for o in outcomes]


# -- where the tenant comes from ----------------------------------------------------------------------------


def sns(message: str, tenant: Any = None) -> str:
    notification: dict[str, Any] = {"Type": "Notification", "Message": message}
    if tenant is not None:
        notification["MessageAttributes"] = {"tenant": {"Type": "String", "Value": tenant}}
    return json.dumps(notification)


def test_the_sqs_attribute_names_the_tenant():
    found = route(Incoming("m", body("e"), tenant="brand-a"))

    assert (found.tenant, found.problem) == ("brand-a", None)
    assert found.data == json.loads(body("e"))


def test_an_sns_notifications_attribute_names_the_tenant_and_the_message_is_unwrapped():
    found = route(Incoming("m", sns(body("e"), "brand-b")))

    assert found.tenant == "brand-b"
    assert found.data["_id"] == "e"


def test_a_complete_messages_tenant_key_names_the_tenant_and_is_removed():
    found = route(Incoming("m", complete("e", tenant="brand-a")))

    assert found.tenant == "brand-a"
    assert "tenant" not in found.data
    assert set(found.data) == {"header", "body"}


def test_inside_an_sns_notification_a_complete_messages_key_counts_too():
    found = route(Incoming("m", sns(complete("e", tenant="brand-a"))))

    assert found.tenant == "brand-a"
    assert "tenant" not in found.data


def test_the_sqs_attribute_wins_over_the_sns_attribute_which_wins_over_the_key():
    both = sns(complete("e", tenant="brand-c"), "brand-b")

    assert route(Incoming("m", both, tenant="brand-a")).tenant == "brand-a"
    assert route(Incoming("m", both)).tenant == "brand-b"
    assert route(Incoming("m", sns(complete("e", tenant="brand-c")))).tenant == "brand-c"
    # whoever named it, the key never travels
    assert "tenant" not in route(Incoming("m", both, tenant="brand-a")).data


def test_a_bare_records_own_tenant_field_is_data_not_routing():
    found = route(Incoming("m", body("e", tenant="brand-a")))

    assert found.tenant is None  # the default tenant
    assert found.data["tenant"] == "brand-a"


def test_no_tenant_anywhere_is_the_default():
    assert route(Incoming("m", body("e"))).tenant is None
    assert route(Incoming("m", complete("e"))).tenant is None


@pytest.mark.parametrize(
    "message",
    [
        Incoming("m", body("e"), tenant=""),  # an attribute that is not a String
        Incoming("m", body("e"), tenant="Brand-A"),
        Incoming("m", body("e"), tenant="brand a"),
        Incoming("m", body("e"), tenant="brand-a\n"),  # "$" alone would let a trailing newline through
        Incoming("m", complete("e", tenant=7)),
        Incoming("m", complete("e", tenant="../other")),
        Incoming("m", sns(body("e"), {"nested": "x"})),
    ],
)
def test_a_tenant_that_is_not_a_tenant_id_is_a_problem(message):
    found = route(message)

    assert found.tenant is None
    assert found.problem == NOT_A_TENANT_ID


def test_a_body_that_cannot_be_parsed_is_left_to_prepare():
    assert route(Incoming("m", "{not json")).data is UNPARSED
    assert route(Incoming("m", sns("{not json"))).data is UNPARSED
    assert route(Incoming("m", '{"a": NaN}')).data is UNPARSED
    assert route(Incoming("m", "[" * 5000 + "]" * 5000)).tenant is None


# -- per-tenant lanes -----------------------------------------------------------------------------------


def test_a_mixed_batch_is_packed_per_tenant_with_each_tenants_settings(router, aep, later):
    router, dead = router
    messages = [
        Incoming("m0", body("a0"), tenant="brand-a"),
        Incoming("m1", body("b1"), tenant="brand-b"),
        Incoming("m2", body("d2")),
        Incoming("m3", complete("a3", ORG_A, tenant="brand-a")),
        Incoming("m4", sns(body("b4"), "brand-b")),
        Incoming("m5", body("a5"), tenant="brand-a"),
        Incoming("m6", body("b6"), tenant="brand-b"),
    ]

    outcomes, stats = router.process(messages, later)

    assert [(o.message_id, o.kind, o.tenant, o.xaction_id) for o in outcomes] == [
        ("m0", "accepted", "brand-a", "x:a0"),
        ("m1", "accepted", "brand-b", "x:b1"),
        ("m2", "accepted", "default", "x:d2"),
        ("m3", "accepted", "brand-a", "x:a3"),
        ("m4", "accepted", "brand-b", "x:b4"),
        ("m5", "accepted", "brand-a", "x:a5"),
        ("m6", "accepted", "brand-b", "x:b6"),
    ]
    assert sorted(aep.requests()) == [
        ("brand-a", ["a0", "a3", "a5"], {ORG_A}, {"ds-a"}),
        ("brand-b", ["b1", "b4", "b6"], {ORG_B}, {"ds-b"}),
        ("default", ["d2"], {ORG_ID}, {"ds1"}),
    ]
    for call in aep.recorder.calls("POST", "/collection/batch/"):
        tenant_name = INLETS[call.path.rsplit("/", 1)[-1]]
        expected = {"brand-a": ("sandbox-a", "flow-a"), "brand-b": ("sandbox-b", "flow-b")}
        sandbox, flow = expected.get(tenant_name, ("prod", "flow-1"))
        assert (call.headers["x-sandbox-name"], call.headers["x-adobe-flow-id"]) == (sandbox, flow)
        for message in call.json()["messages"]:
            assert "tenant" not in message
            assert message["header"]["flowId"] == flow
    assert dead.sent == []
    assert (stats.received, stats.accepted, stats.rejected, stats.retried) == (7, 7, 0, 0)
    assert stats.per_tenant == {
        "brand-a": TenantStats(3, 3, 0, 0),
        "brand-b": TenantStats(3, 3, 0, 0),
        "default": TenantStats(1, 1, 0, 0),
    }
    assert len(stats.request_ms) == 3


def test_requests_never_mix_tenants_even_when_the_cap_would_let_them(router, aep, later):
    router, _ = router
    messages = [Incoming(f"m{n}", body(f"e{n}"), tenant=("brand-a", "brand-b")[n % 2]) for n in range(12)]

    router.process(messages, later)

    requests = aep.requests()
    assert len(requests) == 4  # 6 per tenant, at most 3 per request
    for tenant_name, ids, orgs, _ in requests:
        parity = {"brand-a": 0, "brand-b": 1}[tenant_name]
        assert all(int(i[1:]) % 2 == parity for i in ids)
        assert orgs == {(ORG_A, ORG_B)[parity]}


def test_one_tenants_transient_failure_sends_back_only_its_records(router, aep, later):
    router, dead = router
    aep.down.add("inlet-a")
    messages = [
        Incoming("m0", body("a0"), tenant="brand-a"),
        Incoming("m1", body("b1"), tenant="brand-b"),
        Incoming("m2", body("a2"), tenant="brand-a"),
        Incoming("m3", body("d3")),
        Incoming("m4", body("retry4"), tenant="brand-b"),
    ]

    outcomes, stats = router.process(messages, later)

    assert [(o.message_id, o.kind, o.tenant, o.status) for o in outcomes] == [
        ("m0", "retry", "brand-a", 503),
        ("m1", "accepted", "brand-b", None),
        ("m2", "retry", "brand-a", 503),
        ("m3", "accepted", "default", None),
        ("m4", "retry", "brand-b", 503),  # its own per-message 503, not tenant a's
    ]
    assert dead.sent == []
    assert stats.per_tenant["brand-a"] == TenantStats(2, 0, 0, 2)
    assert stats.per_tenant["brand-b"] == TenantStats(2, 1, 0, 1)


def test_the_transport_deadline_is_set_on_each_tenants_client_during_its_run_and_cleared(
    router, aep, later, monkeypatch
):
    router, _ = router
    seen: dict[str, Any] = {}
    real = router.lane

    def spy(t: Tenant) -> Any:
        lane = real(t)
        original = lane.ingestor.process

        def process(messages: Any, deadline: Deadline, fifo: bool = False) -> Any:
            seen[t.tenant_id] = (lane.client.transport.deadline, deadline)
            return original(messages, deadline, fifo=fifo)

        monkeypatch.setattr(lane.ingestor, "process", process)
        return lane

    monkeypatch.setattr(router, "lane", spy)
    router.process([Incoming("m0", body("a0"), tenant="brand-a"), Incoming("m1", body("d1"))], later)

    assert seen == {"brand-a": (later, later), "default": (later, later)}
    for name in ("brand-a", "default"):
        assert router.lane(router.registry.get(name)).client.transport.deadline is None


# -- refusals -------------------------------------------------------------------------------------------


def test_unknown_and_disabled_tenants_and_bad_names_are_dead_lettered_with_their_reasons(router, aep, later):
    router, dead = router
    messages = [
        Incoming("m0", body("e0"), tenant="brand-z"),
        Incoming("m1", body("e1"), tenant="brand-c"),
        Incoming("m2", body("e2"), tenant="Brand-A"),
        Incoming("m3", body("e3"), tenant="brand-a"),
    ]

    outcomes, stats = router.process(messages, later)

    assert summary(outcomes) == [
        ("m0", "dead_lettered", "brand-z", "unknown tenant 'brand-z'"),
        ("m1", "dead_lettered", "brand-c", "tenant 'brand-c' is disabled"),
        ("m2", "dead_lettered", None, NOT_A_TENANT_ID),
        ("m3", "accepted", "brand-a", None),
    ]
    assert [(d.message_id, d.reason, d.stage, d.tenant, d.body) for d in dead.sent] == [
        ("m0", "unknown tenant 'brand-z'", "connector", "brand-z", messages[0].body),
        ("m1", "tenant 'brand-c' is disabled", "connector", "brand-c", messages[1].body),
        ("m2", NOT_A_TENANT_ID, "connector", None, messages[2].body),
    ]
    assert stats.per_tenant == {UNKNOWN: TenantStats(3, 0, 3, 0), "brand-a": TenantStats(1, 1, 0, 0)}
    assert [ids for _, ids, _, _ in aep.requests()] == [["e3"]]


def test_a_message_from_a_queue_the_tenant_does_not_list_is_refused(
    recorder, secrets, clock, table, aep, later
):
    table.put_item(Item=tenant("a", ORG_A, source_queues=(QUEUE_A,)).to_item())
    router, dead = build_router(recorder, secrets, clock)
    messages = [
        Incoming("m0", body("a0"), tenant="brand-a", source=QUEUE),
        Incoming("m1", body("a1"), tenant="brand-a", source=QUEUE_A),
        # b lists no queue and STREAM_DEFAULT_TENANT_QUEUES is unset: any queue, as is the default's
        Incoming("m2", body("b2"), tenant="brand-b", source=QUEUE_A),
        Incoming("m3", body("d3"), source=QUEUE_A),
    ]

    outcomes, _ = router.process(messages, later)

    reason = "queue aep-connector-stream may not carry records of tenant 'brand-a'"
    assert summary(outcomes) == [
        ("m0", "dead_lettered", "brand-a", reason),
        ("m1", "accepted", "brand-a", None),
        ("m2", "accepted", "brand-b", None),
        ("m3", "accepted", "default", None),
    ]
    assert [(d.message_id, d.tenant) for d in dead.sent] == [("m0", "brand-a")]


def test_the_stacks_queues_alone_carry_the_default_tenant_and_brands_without_their_own_queue(
    recorder, secrets, clock, table, aep, later
):
    table.put_item(Item=tenant("a", ORG_A, source_queues=(QUEUE_A,)).to_item())
    settings = StreamSettings.model_validate({**SETTINGS.model_dump(), "default_tenant_queues": (QUEUE,)})
    router, dead = build_router(recorder, secrets, clock, settings=settings)
    messages = [
        # brand A's producer writes no tenant: on its own queue that must not mean the default's org
        Incoming("m0", body("d0"), source=QUEUE_A),
        Incoming("m1", complete("d1", ORG_ID, SCHEMA), source=QUEUE_A),  # the org check alone would pass
        Incoming("m2", body("b2"), tenant="brand-b", source=QUEUE_A),  # b lists no queue: the stack's only
        Incoming("m3", body("a3"), tenant="brand-a", source=QUEUE_A),
        Incoming("m4", body("d4"), source=QUEUE),
        Incoming("m5", body("b5"), tenant="brand-b", source=QUEUE),
        Incoming("m6", body("a6"), tenant="brand-a", source=QUEUE),
        Incoming("m7", body("d7")),  # no queue known
    ]

    outcomes, stats = router.process(messages, later)

    def refused(queue: str, name: str) -> str:
        return f"queue {queue} may not carry records of tenant {name!r}"

    assert summary(outcomes) == [
        ("m0", "dead_lettered", "default", refused("brand-a-stream", "default")),
        ("m1", "dead_lettered", "default", refused("brand-a-stream", "default")),
        ("m2", "dead_lettered", "brand-b", refused("brand-a-stream", "brand-b")),
        ("m3", "accepted", "brand-a", None),
        ("m4", "accepted", "default", None),
        ("m5", "accepted", "brand-b", None),
        ("m6", "dead_lettered", "brand-a", refused("aep-connector-stream", "brand-a")),
        ("m7", "dead_lettered", "default", refused("?", "default")),
    ]
    assert [(d.message_id, d.tenant, d.stage, d.body) for d in dead.sent] == [
        (m.message_id, o.tenant, "connector", m.body)
        for m, o in zip(messages, outcomes, strict=True)
        if o.kind == "dead_lettered"
    ]
    assert sorted((name, ids) for name, ids, _, _ in aep.requests()) == [
        ("brand-a", ["a3"]),
        ("brand-b", ["b5"]),
        ("default", ["d4"]),
    ]
    assert stats.per_tenant["default"] == TenantStats(4, 1, 3, 0)


def test_an_unusable_registry_item_sends_back_only_its_tenants_records(
    recorder, secrets, clock, table, aep, later, caplog
):
    table.put_item(Item={**tenant("a", ORG_A).to_item(), "note": "caller +14155550100"})
    router, dead = build_router(recorder, secrets, clock)
    messages = [
        Incoming("m0", body("a0"), tenant="brand-a"),
        Incoming("m1", body("b1"), tenant="brand-b"),
        Incoming("m2", complete("a2", ORG_A, tenant="brand-a")),
        Incoming("m3", body("d3")),
    ]

    with caplog.at_level(logging.INFO, logger="stream_ingest.tenancy"):
        outcomes, stats = router.process(messages, later)

    reason = "tenant 'brand-a' in the registry is invalid: note: Extra inputs are not permitted"
    assert summary(outcomes) == [
        ("m0", "retry", "brand-a", reason),
        ("m1", "accepted", "brand-b", None),
        ("m2", "retry", "brand-a", reason),
        ("m3", "accepted", "default", None),
    ]
    assert dead.sent == []
    assert stats.per_tenant["brand-a"] == TenantStats(2, 0, 0, 2, config_errors=2)
    assert (stats.accepted, stats.retried) == (2, 2)
    (line,) = caplog.records
    assert (line.levelno, line.getMessage()) == (
        logging.ERROR,
        "tenant configuration unusable; its records go back to the queue",
    )
    assert (line.tenant, line.error) == ("brand-a", reason)
    assert "+1415" not in caplog.text
    assert sorted(name for name, _, _, _ in aep.requests()) == ["brand-b", "default"]
    assert router.breaker("brand-a").state() == "closed"  # AEP was never asked: nothing to say of it


def test_made_up_tenant_names_cost_a_few_batch_reads_and_a_bounded_cache(
    recorder, secrets, clock, table, aep, later
):
    counting = Counting()
    default = Tenant(
        tenant_id="default", credentials_secret_id="aep/credentials", token_secret_id="aep/token"
    )
    registry = TenantRegistry(TABLE, default, clock=clock, dynamodb_client=lambda: counting, cache_size=400)
    router, dead = build_router(recorder, secrets, clock, registry=registry)
    made_up = [f"made-up-{n}" for n in range(298)]
    messages = [Incoming(f"m{n}", body(f"e{n}"), tenant=name) for n, name in enumerate(made_up)]
    messages += [
        Incoming("a", body("a"), tenant="brand-a"),
        Incoming("b", body("b"), tenant="brand-b"),
        Incoming("d", body("d")),
    ]

    outcomes, stats = router.process(messages, later)

    assert counting.calls == [("BatchGetItem", 100)] * 3  # 300 names read, the default is not in the table
    assert [o.kind for o in outcomes[-3:]] == ["accepted"] * 3
    assert all(
        o.kind == "dead_lettered" and o.reason == f"unknown tenant {o.tenant!r}" for o in outcomes[:-3]
    )
    assert stats.per_tenant[UNKNOWN] == TenantStats(298, 0, 298, 0)
    assert len(dead.sent) == 298

    router.process(messages[:150], later)
    assert len(counting.calls) == 3  # cached
    more = [Incoming(f"n{n}", body(f"n{n}"), tenant=f"other-{n}") for n in range(200)]
    router.process(more, later)
    assert len(counting.calls) == 5
    assert len(registry.cached()) == 400  # bounded: the least recently used names went


def test_a_complete_message_naming_another_org_than_its_tenants_is_refused(router, aep, later):
    router, dead = router
    messages = [
        Incoming("m0", complete("a0", ORG_B), tenant="brand-a"),  # claims to be for B's org under A
        Incoming("m1", complete("a1", ORG_A), tenant="brand-a"),
        Incoming("m2", complete("d2", ORG_A, SCHEMA)),  # the default tenant's org: its credentials'
        Incoming("m3", complete("d3", ORG_ID, SCHEMA)),
    ]

    outcomes, _ = router.process(messages, later)

    assert summary(outcomes) == [
        ("m0", "dead_lettered", "brand-a", OTHER_ORG),
        ("m1", "accepted", "brand-a", None),
        ("m2", "dead_lettered", "default", OTHER_ORG),
        ("m3", "accepted", "default", None),
    ]
    assert sorted((d.message_id, d.field, d.tenant) for d in dead.sent) == [
        ("m0", "header.imsOrgId", "brand-a"),
        ("m2", "header.imsOrgId", "default"),
    ]
    sent_orgs = {org for _, _, orgs, _ in aep.requests() for org in orgs}
    assert ORG_B not in sent_orgs


def test_an_unreadable_registry_sends_the_records_back(recorder, secrets, clock, aep, later):
    class Down:
        def batch_get_item(self, **_: Any) -> Any:
            raise RuntimeError("unreachable")

    default = Tenant(
        tenant_id="default", credentials_secret_id="aep/credentials", token_secret_id="aep/token"
    )
    registry = TenantRegistry(TABLE, default, dynamodb_client=Down, clock=clock)
    router, dead = build_router(recorder, secrets, clock, registry=registry)

    outcomes, stats = router.process(
        [Incoming("m0", body("a0"), tenant="brand-a"), Incoming("m1", body("d1"))], later
    )

    assert summary(outcomes) == [
        ("m0", "retry", "brand-a", "cannot read tenant 'brand-a' from the registry: RuntimeError"),
        ("m1", "accepted", "default", None),
    ]
    assert dead.sent == []
    assert stats.per_tenant[UNKNOWN] == TenantStats(1, 0, 0, 1)


def test_a_tenant_whose_credentials_name_another_org_waits_in_the_queue(
    recorder, secrets, clock, table, aep, later, caplog
):
    table.put_item(Item=tenant("a", ORG_A, credentials_secret_id="aep/brand-b/credentials").to_item())
    router, dead = build_router(recorder, secrets, clock)

    with caplog.at_level(logging.ERROR, logger="stream_ingest.tenancy"):
        outcomes, stats = router.process(
            [Incoming("m0", body("a0"), tenant="brand-a"), Incoming("m1", body("b1"), tenant="brand-b")],
            later,
        )

    assert [(o.message_id, o.kind, o.tenant) for o in outcomes] == [
        ("m0", "retry", "brand-a"),
        ("m1", "accepted", "brand-b"),
    ]
    assert "names another org than the tenant's org_id" in (outcomes[0].reason or "")
    assert dead.sent == []
    assert stats.per_tenant["brand-a"] == TenantStats(1, 0, 0, 1, config_errors=1)
    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert line.getMessage() == "tenant configuration unusable; its records go back to the queue"
    assert line.tenant == "brand-a"
    assert [name for name, _, _, _ in aep.requests()] == ["brand-b"]


def test_invalid_tenant_streaming_settings_are_a_configuration_fault(
    recorder, secrets, clock, table, aep, later
):
    bad = tenant(
        "a", ORG_A, streaming=TenantStreaming(inlet_id="inlet-a", allowed_namespaces=("not a code",))
    )
    table.put_item(Item=bad.to_item())
    router, dead = build_router(recorder, secrets, clock)

    outcomes, stats = router.process([Incoming("m0", body("a0"), tenant="brand-a")], later)

    assert outcomes[0].kind == "retry"
    assert "tenant 'brand-a' has invalid streaming settings: allowed_namespaces" in (outcomes[0].reason or "")
    assert stats.per_tenant["brand-a"].config_errors == 1
    assert dead.sent == []


def test_tenant_stream_settings_override_only_what_the_tenant_sets():
    plain = Tenant(tenant_id="brand-x", org_id=ORG_A, credentials_secret_id="c", token_secret_id="t")
    assert tenant_stream_settings(SETTINGS, plain) is SETTINGS

    custom = tenant_stream_settings(
        SETTINGS,
        tenant(
            "a",
            ORG_A,
            streaming=TenantStreaming(
                inlet_id="i",
                allowed_namespaces=("Phone",),
                default_phone_region="GB",
                inlet_authenticated=True,
            ),
        ),
    )

    assert (custom.inlet_id, custom.dataset_id, custom.flow_id) == ("i", "ds1", "flow-1")
    assert (custom.default_phone_region, custom.inlet_authenticated) == ("GB", True)
    assert custom.namespaces == frozenset({"phone"})
    assert SETTINGS.namespaces != custom.namespaces


def test_a_tenants_phone_region_normalises_its_numbers(router, aep, later):
    router, _ = router
    phone = {"identityMap": {"Phone": [{"id": "020 7946 0000", "primary": True}]}}
    registry = router.registry
    region_b = tenant("b", ORG_B, streaming=TenantStreaming(inlet_id="inlet-b", default_phone_region="GB"))
    boto3.resource("dynamodb").Table(TABLE).put_item(Item=region_b.to_item())
    registry._cache.clear()

    router.process([Incoming("m0", json.dumps({**record("b0"), **phone}), tenant="brand-b")], later)

    (call,) = aep.recorder.calls("POST", "/collection/batch/inlet-b")
    assert call.json()["messages"][0]["body"]["xdmEntity"]["identityMap"]["Phone"][0]["id"] == "+442079460000"


# -- the single-tenant path -----------------------------------------------------------------------------


def test_without_a_registry_everything_is_the_default_tenant_and_no_breaker_runs(
    recorder, secrets, clock, aep, later
):
    router, _ = build_router(recorder, secrets, clock, table=None)
    aep.down.add("in")

    for _ in range(5):  # a breaker would have opened; without a registry every invocation tries
        outcomes, _ = router.process([Incoming("m0", body("d0")), Incoming("m1", body("d1"))], later)
        assert [o.status for o in outcomes] == [503, 503]
    assert router.fair is False
    assert len(aep.requests()) == 5 * 5  # every invocation, every attempt of the default client

    outcomes, _ = router.process([Incoming("m2", body("d2"), tenant="brand-a")], later)
    assert summary(outcomes) == [("m2", "dead_lettered", "brand-a", "unknown tenant 'brand-a'")]


# -- fairness: the circuit breaker and the rate ceiling ---------------------------------------------------


def test_a_failing_tenant_is_cooled_down_while_the_other_flows_then_probed(
    recorder, secrets, clock, table, aep
):
    router, _ = build_router(recorder, secrets, clock)
    assert router.fair is True
    aep.down.add("inlet-a")

    def batch(n: int) -> list[Incoming]:
        return [
            Incoming(f"a{n}", body(f"a{n}"), tenant="brand-a"),
            Incoming(f"b{n}", body(f"b{n}"), tenant="brand-b"),
        ]

    def run(n: int) -> list[tuple[str, str]]:
        outcomes, _ = router.process(batch(n), Deadline.after(300.0, clock))
        return [(o.kind, o.reason or "") for o in outcomes]

    def a_requests() -> int:
        return sum(name == "brand-a" for name, _, _, _ in aep.requests())

    assert run(0)[0] == ("retry", "stream messages: inlet down")  # closed: the full retry budget
    assert router.breaker("brand-a").state() == "suspect"
    assert run(1)[0] == ("retry", "stream messages: inlet down")  # suspect: bounded, then the breaker opens
    assert router.breaker("brand-a").state() == "open"
    sent = a_requests()
    for n in range(2, 6):  # cooling down: no request for A, B unaffected
        kind_a, reason_a = run(n)[0]
        assert kind_a == "retry"
        assert reason_a.startswith("tenant 'brand-a': AEP kept failing; cooling down")
    assert a_requests() == sent
    assert [name for name, _, _, _ in aep.requests()].count("brand-b") == 6
    _, stats = router.process(batch(9), Deadline.after(300.0, clock))
    assert stats.per_tenant["brand-a"] == TenantStats(1, 0, 0, 1, cooled_down=1)

    clock.advance(30.0)
    aep.down.clear()
    assert run(10) == [("accepted", ""), ("accepted", "")]  # the probe succeeds: closed again
    assert router.breaker("brand-a").state() == "closed"


def test_a_tenant_with_only_rejected_records_says_nothing_to_its_breaker(router, aep, later):
    router, _ = router
    for _ in range(3):
        router.process([Incoming("m", "not json", tenant="brand-a")], later)
    assert router.breaker("brand-a").state() == "closed"


def test_the_rate_ceiling_paces_a_tenants_requests(recorder, secrets, clock, table, aep):
    table.put_item(Item=tenant("a", ORG_A, rate_ceiling=2.0).to_item())
    settings = SETTINGS.model_copy(update={"max_messages_per_request": 1, "concurrency": 1})
    router, _ = build_router(recorder, secrets, clock, settings=settings)
    messages = [Incoming(f"m{n}", body(f"a{n}"), tenant="brand-a") for n in range(6)]
    started = clock.monotonic()

    outcomes, _ = router.process(messages, Deadline.after(300.0, clock))

    assert all(o.kind == "accepted" for o in outcomes)
    # 2 requests at once (a burst of one second's worth), then one each half second
    assert clock.monotonic() - started == pytest.approx(2.0)
    assert clock.sleeps == [pytest.approx(0.5)] * 4


def test_a_rate_ceiling_that_cannot_be_met_before_the_deadline_sends_records_back(
    recorder, secrets, clock, table, aep
):
    table.put_item(Item=tenant("a", ORG_A, rate_ceiling=0.5).to_item())
    settings = SETTINGS.model_copy(update={"max_messages_per_request": 1, "concurrency": 1})
    router, _ = build_router(recorder, secrets, clock, settings=settings)
    messages = [Incoming(f"m{n}", body(f"a{n}"), tenant="brand-a") for n in range(3)]

    outcomes, _ = router.process(messages, Deadline.after(1.0, clock))

    assert [(o.kind, o.status, o.reason) for o in outcomes] == [
        ("accepted", None, None),
        ("retry", 429, PACED_OUT),
        ("retry", 429, PACED_OUT),
    ]
    assert len(aep.requests()) == 1


# -- FIFO across tenants ----------------------------------------------------------------------------------


def test_fifo_order_holds_across_tenants_sharing_a_group(router, aep, later):
    router, dead = router
    aep.down.add("inlet-a")
    messages = [
        Incoming("m0", body("b0"), "g", tenant="brand-b"),
        Incoming("m1", body("a1"), "g", tenant="brand-a"),  # must be retried
        Incoming("m2", body("b2"), "g", tenant="brand-b"),  # accepted, but after m1: sent again
        Incoming("m3", body("x3"), "g", tenant="brand-z"),  # refused by routing: held back, not lettered
        Incoming("m4", body("b4"), "h", tenant="brand-b"),
        Incoming("m5", body("x5"), "h", tenant="brand-z"),
    ]

    outcomes, _ = router.process(messages, later, fifo=True)

    assert [(o.message_id, o.kind, o.reason if o.kind == "retry" else None) for o in outcomes] == [
        ("m0", "accepted", None),
        ("m1", "retry", "stream messages: inlet down"),
        ("m2", "retry", RESENT),
        ("m3", "retry", HELD_BACK),
        ("m4", "accepted", None),
        ("m5", "dead_lettered", None),
    ]
    assert [d.message_id for d in dead.sent] == ["m5"]
    assert outcomes[2].xaction_id is None


def test_an_unexpected_failure_of_one_tenants_lane_sends_back_only_its_records(
    router, aep, later, monkeypatch, caplog
):
    router, dead = router
    lane = router.lane(router.registry.get("brand-a"))

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("+14155550100 leaked into a message")

    monkeypatch.setattr(lane.ingestor, "process", broken)
    with caplog.at_level(logging.ERROR, logger="stream_ingest.tenancy"):
        outcomes, stats = router.process(
            [Incoming("m0", body("a0"), tenant="brand-a"), Incoming("m1", body("b1"), tenant="brand-b")],
            later,
        )

    assert (stats.per_tenant["brand-a"].lane_failures, stats.per_tenant["brand-b"].lane_failures) == (1, 0)
    assert [(o.message_id, o.kind, o.reason) for o in outcomes] == [
        ("m0", "retry", "unexpected error (RuntimeError); see the function's logs"),
        ("m1", "accepted", None),
    ]
    (line,) = caplog.records
    assert line.getMessage() == "tenant lane failed; its records go back to the queue"
    assert (line.tenant, line.error_type) == ("brand-a", "RuntimeError")
    assert "+1415" not in caplog.text
    assert dead.sent == []
