"""The streaming handler with tenants, end to end in one process: the SQS ``tenant`` attribute, the queue,
per-tenant EMF metrics beside the totals, and dead letters carrying the tenant (DLQ in moto's SQS, AEP a
recording server on 127.0.0.1, the registry a DynamoDB table in moto)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Metrics

from aep import AepClient, AepCredentials, AepSettings
from aep.tenants import Tenant, TenantRegistry, TenantStreaming
from aep.tenants.clients import ClientCache, base_settings
from stream_ingest import service
from stream_ingest.ingest import Incoming, Stats, TenantStats
from tests.conftest import ORG_ID, exact_policy, make_client, token_reply
from tests.support.events import QUEUE_ARN, sqs_event
from tests.support.fakes import FakeClock, FakeLambdaContext
from tests.support.lambdas import load_app
from tests.support.recorder import Recorded, Reply
from tests.unit.test_stream_tenants import ORG_A, ORG_B, body, tenant

TABLE = "tenants"


def answer(request: Recorded) -> Reply:
    if request.path.endswith("/inlet-a"):
        return Reply(503, {"message": "down"})
    return Reply(207, {"responses": [{"xactionId": "x"} for _ in request.json()["messages"]]})


@pytest.fixture
def stack(recorder, secrets, clock) -> dict[str, Any]:
    """The registry (brand-a, brand-b), their secrets, the DLQ; AEP answering brand-a with 503."""
    recorder.on("POST", "/collection/batch/[^/]+", answer)
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply()))
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb").Table(TABLE)
    for name, org in (("a", ORG_A), ("b", ORG_B)):
        secrets.create_secret(
            Name=f"aep/brand-{name}/credentials",
            SecretString=json.dumps({"client_id": f"client-{name}", "client_secret": "s", "org_id": org}),
        )
        secrets.create_secret(Name=f"aep/brand-{name}/token", SecretString="{}")
        table.put_item(Item=tenant(name, org).to_item())
    dlq = str(boto3.client("sqs").create_queue(QueueName="dlq")["QueueUrl"])
    url = recorder.url

    def factory(s: AepSettings, c: AepCredentials, secrets_client: Any) -> AepClient:
        return AepClient(s, c, secrets_client=secrets_client, clock=clock, policy=exact_policy(1))

    default = make_client(url, secrets, clock, max_attempts=1)
    environ = {
        "STREAM_INLET_ID": "in",
        "STREAM_DATASET_ID": "ds1",
        "STREAM_SCHEMA_REF": "https://ns.adobe.com/acme/schemas/call",
        "STREAM_FLOW_ID": "flow-1",
        "STREAM_DLQ_URL": dlq,
        "AEP_SCHEMA_VALIDATION": "off",  # the recorder serves no Schema Registry
        "AEP_TENANTS_TABLE": TABLE,
        "AEP_CREDENTIALS_SECRET_ID": "aep/credentials",
        "AEP_TOKEN_SECRET_ID": "aep/token",
    }
    clients = ClientCache(
        base_settings({"AEP_IMS_URL": url, "AEP_PLATFORM_URL": url, "AEP_STREAMING_URL": url}),
        default=lambda: default,
        secrets_client=lambda: secrets,
        factory=factory,
    )

    def build(**extra: str) -> service.Runtime:
        env = {**environ, **extra}
        registry = TenantRegistry.from_env(env, clock=clock)
        return service.build_runtime(
            env, default, lambda: boto3.client("sqs"), clients=clients, registry=registry
        )

    return {"runtime": build(), "build": build, "dlq": dlq, "table": table}


def dead_letters(dlq: str) -> dict[str, dict[str, str]]:
    answer = boto3.client("sqs").receive_message(
        QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return {
        m["MessageAttributes"]["aep.source.messageId"]["StringValue"]: {
            k: v["StringValue"] for k, v in m["MessageAttributes"].items()
        }
        for m in answer.get("Messages", [])
    }


def emf_documents(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def value(document: dict[str, Any], name: str) -> float:
    """A metric's value in an EMF document (Powertools writes a list of the values added)."""
    found = document[name]
    if isinstance(found, list):
        (found,) = found
    return float(found)


def test_a_mixed_batch_through_the_handler(stack, capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    app = load_app("stream_ingest")
    service.set_runtime(stack["runtime"])
    event = sqs_event(
        [body("a0"), body("b1"), body("d2"), body("z3"), body("b4")],
        tenants=["brand-a", "brand-b", None, "brand-z", "brand-b"],
    )
    ids = [r["messageId"] for r in event["Records"]]
    try:
        capsys.readouterr()
        result = app.lambda_handler(event, FakeLambdaContext())
    finally:
        service.set_runtime(None)
    printed = capsys.readouterr().out

    assert result == {"batchItemFailures": [{"itemIdentifier": ids[0]}]}  # only brand-a's record comes back
    letters = dead_letters(stack["dlq"])
    assert set(letters) == {ids[3]}
    assert letters[ids[3]]["tenant"] == "brand-z"
    assert letters[ids[3]]["aep.error.reason"] == "unknown tenant 'brand-z'"

    documents = emf_documents(printed)
    per_tenant = {d["tenant"]: d for d in documents if "tenant" in d}
    assert set(per_tenant) == {"brand-a", "brand-b", "default", "(unknown)"}
    for document in per_tenant.values():
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert [sorted(d) for d in directive["Dimensions"]] == [["service", "tenant"]]
        assert directive["Namespace"] == "AepConnectorTests"
    pick = ("RecordsReceived", "RecordsSent", "RecordsRejected", "RecordsRetried", "ImsTokenRequests")
    counts = {name: tuple(value(d, m) for m in pick) for name, d in per_tenant.items()}
    assert counts == {
        "brand-a": (1, 0, 0, 1, 0),
        "brand-b": (2, 2, 0, 0, 0),
        "default": (1, 1, 0, 0, 0),
        "(unknown)": (1, 0, 1, 0, 0),
    }
    (totals,) = [d for d in documents if "tenant" not in d]  # today's un-dimensioned totals, kept
    assert totals["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert [value(totals, m) for m in pick[:4]] == [5, 3, 1, 1]


def test_a_queue_outside_the_tenants_list_is_refused_through_the_handler(stack):
    allowed = "arn:aws:sqs:us-east-1:123456789012:brand-b-stream"
    stack["table"].put_item(Item=tenant("b", ORG_B, source_queues=(allowed,)).to_item())
    rt = stack["runtime"]
    rt.router.registry._cache.clear()
    wrong = sqs_event([body("b0")], tenants=["brand-b"])
    right = sqs_event([body("b1")], tenants=["brand-b"], source=allowed)

    service.handle(wrong, FakeLambdaContext(), _NoMetrics(), rt)  # type: ignore[arg-type]
    service.handle(right, FakeLambdaContext(), _NoMetrics(), rt)  # type: ignore[arg-type]

    letters = dead_letters(stack["dlq"])
    (only,) = letters.values()
    assert only["aep.source.messageId"] == wrong["Records"][0]["messageId"]
    assert only["aep.error.reason"] == "queue aep-connector-stream may not carry records of tenant 'brand-b'"
    assert only["tenant"] == "brand-b"


def test_the_stacks_queues_come_from_the_environment_and_refuse_the_default_elsewhere(stack):
    brand_queue = "arn:aws:sqs:us-east-1:123456789012:brand-b-stream"
    rt = stack["build"](STREAM_DEFAULT_TENANT_QUEUES=QUEUE_ARN)
    assert rt.settings.default_tenant_queues == (QUEUE_ARN,)
    elsewhere = sqs_event([body("d0"), body("b1")], tenants=[None, "brand-b"], source=brand_queue)
    home = sqs_event([body("d2"), body("b3")], tenants=[None, "brand-b"])

    for event in (elsewhere, home):
        answer = service.handle(event, FakeLambdaContext(), _NoMetrics(), rt)  # type: ignore[arg-type]
        assert answer == {"batchItemFailures": []}

    letters = dead_letters(stack["dlq"])
    ids = [r["messageId"] for r in elsewhere["Records"]]
    assert {mid: (a["tenant"], a["aep.error.reason"]) for mid, a in letters.items()} == {
        ids[0]: ("default", "queue brand-b-stream may not carry records of tenant 'default'"),
        ids[1]: ("brand-b", "queue brand-b-stream may not carry records of tenant 'brand-b'"),
    }


def test_an_unusable_registry_item_is_counted_and_alarmed_and_the_batch_goes_on(stack, capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    stack["table"].put_item(Item={**tenant("b", ORG_B).to_item(), "enabled": "maybe"})
    app = load_app("stream_ingest")
    service.set_runtime(stack["runtime"])
    event = sqs_event([body("b0"), body("d1"), body("b2")], tenants=["brand-b", None, "brand-b"])
    ids = [r["messageId"] for r in event["Records"]]
    try:
        capsys.readouterr()
        result = app.lambda_handler(event, FakeLambdaContext())
    finally:
        service.set_runtime(None)
    printed = capsys.readouterr().out

    assert result == {"batchItemFailures": [{"itemIdentifier": ids[0]}, {"itemIdentifier": ids[2]}]}
    assert dead_letters(stack["dlq"]) == {}
    documents = emf_documents(printed)
    (totals,) = [d for d in documents if "tenant" not in d]
    assert (value(totals, "TenantConfigErrors"), value(totals, "RecordsSent")) == (2, 1)
    (brand_b,) = [d for d in documents if d.get("tenant") == "brand-b"]
    assert (value(brand_b, "TenantConfigErrors"), value(brand_b, "RecordsRetried")) == (2, 2)


class _NoMetrics:
    def add_metric(self, *_: Any) -> None:
        pass


class RecordingRouter:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.messages: list[Incoming] = []

    def process(self, messages: list[Incoming], deadline: Any, fifo: bool = False) -> Any:
        self.messages = list(messages)
        return [], Stats()

    def take_ims_counts(self) -> dict[str, int]:
        return {}


def test_the_handler_reads_the_tenant_attribute_and_the_queue():
    event = sqs_event(["x", "y", "z"], tenants=["brand-a", None, None])
    event["Records"][2]["messageAttributes"] = {"tenant": {"binaryValue": "AAE=", "dataType": "Binary"}}
    router = RecordingRouter()
    rt = type("Rt", (), {"router": router, "settings": type("S", (), {"deadline_safety_seconds": 1.0})()})()

    service.handle(event, FakeLambdaContext(), _NoMetrics(), rt)  # type: ignore[arg-type]

    assert [(m.tenant, m.source) for m in router.messages] == [
        ("brand-a", QUEUE_ARN),
        (None, QUEUE_ARN),
        ("", QUEUE_ARN),  # there, but not a string: refused by routing as "not a tenant id"
    ]


def test_no_tenant_metrics_for_a_sink_that_is_not_powertools(capsys):
    service._publish_per_tenant(_NoMetrics(), Stats(per_tenant={"brand-a": TenantStats(1)}), {})  # type: ignore[arg-type]

    assert capsys.readouterr().out == ""


def test_tenant_metrics_carry_the_tenant_dimension(capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    stats = Stats(per_tenant={"brand-a": TenantStats(4, 1, 1, 2, config_errors=0, cooled_down=2)})
    service._publish_per_tenant(Metrics(), stats, {"brand-a": 1, "brand-b": 2})

    documents = {d["tenant"]: d for d in emf_documents(capsys.readouterr().out)}
    assert set(documents) == {"brand-a", "brand-b"}
    a, b = documents["brand-a"], documents["brand-b"]
    assert [value(a, m) for m in ("RecordsReceived", "RecordsSent", "RecordsRejected", "RecordsRetried")] == [
        4,
        1,
        1,
        2,
    ]
    assert (value(a, "ImsTokenRequests"), value(a, "TenantCooledDown")) == (1, 2)
    assert "TenantConfigErrors" not in a
    assert (value(b, "RecordsReceived"), value(b, "ImsTokenRequests")) == (0, 2)


def test_the_runtime_from_the_environment_without_a_registry_keeps_the_default_only(secrets, clock):
    client = make_client("http://127.0.0.1:9", secrets, clock)
    environ = {
        "STREAM_INLET_ID": "in",
        "STREAM_DATASET_ID": "ds",
        "STREAM_FLOW_ID": "f",
        "STREAM_DLQ_URL": "q",
    }

    rt = service.build_runtime(environ, client, lambda: None)

    assert rt.router.registry.table_name is None
    default = rt.router.registry.get(None)
    assert (default.credentials_secret_id, default.token_secret_id) == ("aep/credentials", "aep/token")
    assert rt.router.clients.get(default) is client
    assert rt.router.fair is False
    assert client.credentials.org_id == ORG_ID


def test_a_registry_only_deployment_has_no_default_client(monkeypatch):
    built: list[int] = []
    monkeypatch.setattr(service, "shared_client", lambda: built.append(1))
    environ = {
        "STREAM_INLET_ID": "in",
        "STREAM_DATASET_ID": "ds",
        "STREAM_FLOW_ID": "f",
        "STREAM_DLQ_URL": "q",
        "AEP_TENANTS_TABLE": TABLE,
        "AEP_TENANT_CLIENT_CACHE_SIZE": "4",
    }

    rt = service.build_runtime(environ, None, lambda: None)

    assert rt.client is None
    assert built == []
    assert rt.router.registry.default is None
    assert rt.router.clients.size == 4
    assert rt.router.fair is True
    with pytest.raises(Exception, match="unknown tenant 'default'"):
        rt.router.registry.get(None)
    with pytest.raises(Exception, match="no default tenant"):
        rt.router.clients.get(Tenant(tenant_id="default", credentials_secret_id="c", token_secret_id="t"))
    assert TenantStreaming().overrides() == {}
