"""The offline demo: moto's server for AWS, the emulator for AEP, nothing leaves the machine.

What exists today runs end to end: caller profiles are loaded by batch ingestion (through the shared
client; the S3 batch function is a later issue), the call-center's call events go through the SQS
streaming function (its handler invoked as Lambda would, the DLQ on moto's server), and the IVR's lookup
reads each caller's unified profile back by phone number with the client (the lookup API is a later
issue). Then a second brand joins the same deployment: its registry item is written with the tenant CLI,
one mixed SQS batch carries both brands' call events (and one record on a queue brand B may not use), and
each brand's callers are found in its own AEP org only. The emulator serves both sample orgs
(``sandbox.default.json`` and ``sandbox.brand-b.json``). Callers carry labels, never a person's name;
their phone numbers are from ranges reserved for fiction. Run with ``make demo``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import json
import logging
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import phonenumbers
from moto.server import ThreadedMotoServer

from aep import AepClient, AepError, BytesSource
from aep.logs import protect_logs
from aep.tenants import cli as tenants_cli
from aep_emulator import Emulator, load_orgs, running
from aep_emulator.config import DEFAULT_CONFIG

CALLERS = "65f0c0a1e4b0c1d2e3f40001"
CALL_EVENTS = "65f0c0a1e4b0c1d2e3f40002"
EVENTS_INLET = "9b0c7f3e1d2a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e"
EVENTS_FLOW = "d8a6f005-0000-4000-8000-00000000c411"
STACK_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:aep-connector-stream"
INTENTS = ["billing", "roaming", "upgrade", "cancel"]
CALLS_EACH = 4

# Brand B: the second sample org, its registry item, its secrets and its own queue.
BRAND_B = "brand-b"
BRAND_B_CONFIG = DEFAULT_CONFIG.with_name("sandbox.brand-b.json")
BRAND_B_CALLERS = "65f0c0a1e4b0c1d2e3f4b001"
BRAND_B_CALL_EVENTS = "65f0c0a1e4b0c1d2e3f4b002"
BRAND_B_EVENTS_INLET = "968ddf2eeef4269bf21cbde8e097e9770051dec24aee5548895471fd4282a30f"
BRAND_B_EVENTS_FLOW = "d8a6f005-0000-4000-8000-0000000bc411"
BRAND_B_REGION = "GB"  # its call center's country: numbers dialled there are written nationally
BRAND_B_CALLS_EACH = 2
STACK = "aep-connector-demo"
TENANTS_TABLE = "aep-connector-demo-tenants"
READER_ROLE = "arn:aws:iam::123456789012:role/aep-connector-demo-StreamIngestRole"


@dataclass(frozen=True)
class Caller:
    """A caller of the story: a phone number from a range reserved for fiction, a label (never a person's
    name; the profile's ``person.name.firstName``, what the IVR greets with), a country, a tier."""

    phone: str
    label: str
    region: str
    tier: str


CALLERS_IN_STORY = [
    Caller("+14155550100", "caller 1", "US", "gold"),
    Caller("+442079460123", "caller 2", "GB", "silver"),
    Caller("+33199001234", "caller 3", "FR", "silver"),
]
BRAND_B_CALLERS_IN_STORY = [
    Caller("+442079460456", "caller B1", "GB", "gold"),
    Caller("+14155550142", "caller B2", "US", "bronze"),
]


def say(text: str) -> None:
    print(text, flush=True)


def quiet_functions() -> None:
    """The story only: Powertools reads these when the function's Logger and Metrics are created, that is
    when its modules are imported, so they are set before any of them is. A log level set in the shell
    wins (``POWERTOOLS_LOG_LEVEL=INFO make demo`` shows the function's own log lines)."""
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AepConnectorDemo")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


def load_function() -> ModuleType:
    """The streaming function's app.py, loaded as Lambda loads it."""
    quiet_functions()
    path = Path(__file__).resolve().parents[1] / "functions" / "stream_ingest" / "app.py"
    spec = importlib.util.spec_from_file_location("stream_ingest_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class DemoContext:
    aws_request_id = "demo-invocation"
    function_name = "stream-ingest"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:stream-ingest"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass(frozen=True)
class Message:
    """One SQS message: its body, its ``tenant`` attribute (None: none), the queue it was read from."""

    body: str
    tenant: str | None = None
    source: str = STACK_QUEUE_ARN


def sqs_event(messages: list[Message]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"demo-{n:04d}",
                "receiptHandle": f"h{n}",
                "body": message.body,
                "attributes": {},
                "messageAttributes": (
                    {}
                    if message.tenant is None
                    else {"tenant": {"stringValue": message.tenant, "dataType": "String"}}
                ),
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "awsRegion": "us-east-1",
                "eventSourceARN": message.source,
            }
            for n, message in enumerate(messages)
        ]
    }


def national(phone: str) -> str:
    """How a call-center system may record the number: national format, as dialled."""
    return phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.NATIONAL)


def international(phone: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def dialled(phone: str, home: str) -> str:
    """As a call center in ``home`` writes it: national when the number is domestic, else international."""
    domestic = phonenumbers.region_code_for_number(phonenumbers.parse(phone)) == home
    return national(phone) if domestic else international(phone)


def call_events(written: str, count: int) -> list[dict[str, Any]]:
    """Bare XDM ExperienceEvents without _id (the function derives a deterministic one), the caller's
    number ``written`` as the call center recorded it."""
    now = datetime.now(UTC)
    events = []
    for n in range(count):
        stamp = (now - timedelta(hours=count - n)).isoformat(timespec="seconds").replace("+00:00", "Z")
        events.append(
            {
                "timestamp": stamp,
                "eventType": "ivr.call",
                "identityMap": {"Phone": [{"id": written, "primary": True}]},
                "_acme": {
                    "call": {
                        "direction": "inbound",
                        "durationSeconds": 45 + 30 * n,
                        "intent": INTENTS[(n + len(written)) % len(INTENTS)],
                        "outcome": "resolved",
                    }
                },
            }
        )
    return events


def load_profiles(client: AepClient, dataset: str, callers: list[Caller], path: str) -> tuple[str, str, int]:
    """Caller profiles by batch ingestion: the batch id, its final status and its record count."""
    profiles = [
        {
            "_id": f"caller-{c.phone[1:]}",
            "identityMap": {"Phone": [{"id": c.phone, "primary": True}]},
            "person": {"name": {"firstName": c.label}},
            "_acme": {"tier": c.tier},
        }
        for c in callers
    ]
    data = "".join(json.dumps(r) + "\n" for r in profiles).encode()
    batch = client.batches.create(dataset, "json")
    client.batches.upload(batch.id, dataset, path, BytesSource(data))
    client.batches.complete(batch.id)
    final = client.catalog.wait_for_batch(batch.id, timeout=30, poll_interval=0.2)
    records = (final.metrics.output_record_count or 0) if final.metrics else 0
    return final.id, final.state.value, records


def drain(sqs: Any, queue_url: str) -> list[dict[str, str]]:
    """Every dead letter of the queue (read and deleted, as an operator handles them): its attributes."""
    found: list[dict[str, str]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        messages = answer.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append({k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def greeting(client: AepClient, phone: str) -> tuple[str | None, str, int]:
    """The IVR's lookup in the client's org: the label it greets with (None: no profile), tier, past calls."""
    profile = client.profiles.get(phone, "Phone")
    if profile is None:
        return None, "", 0
    label = profile.entity.get("person", {}).get("name", {}).get("firstName", "there")
    tier = profile.entity.get("_acme", {}).get("tier", "standard")
    calls = len(list(client.profiles.experience_events(phone, "Phone", limit=10)))
    return str(label), str(tier), calls


def found(result: tuple[str | None, str, int]) -> str:
    label, tier, calls = result
    return "no profile" if label is None else f"greet {label!r} ({tier}), {calls} past calls"


def streamed(emulator: Emulator, org_id: str, dataset: str) -> int:
    return emulator.space(org_id).streamed.get(dataset, 0)


def command_lines(command: str, flags: list[tuple[str, str]], width: int = 100) -> list[str]:
    """The command as a shell shows it, wrapped between flags (continuation lines end with a backslash)."""
    lines = [f"   $ {command}"]
    for flag, value in flags:
        part = f"{flag} {value}"
        if len(lines[-1]) + len(part) + 3 > width:
            lines[-1] += " \\"
            lines.append(f"       {part}")
        else:
            lines[-1] += f" {part}"
    return lines


def register_brand_b(emulator: Emulator, problems: list[str]) -> str | None:
    """Brand B's two secrets, its queue, the registry table, and its item written by the tenant CLI.

    Returns brand B's queue ARN, or None (a problem noted) when the CLI refused."""
    org = emulator.orgs[1]
    account = org.clients[0]
    boto3.client("dynamodb").create_table(
        TableName=TENANTS_TABLE,
        KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(
        Name="aep/brand-b/credentials",
        SecretString=json.dumps(
            {"client_id": account.client_id, "client_secret": account.client_secret, "org_id": org.org_id}
        ),
    )
    secrets.create_secret(Name="aep/brand-b/token", SecretString="{}")
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="aep-brand-b")["QueueUrl"]
    queue = str(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    )
    say(f"   on moto: registry table {TENANTS_TABLE}, brand B's queue aep-brand-b, its two secrets")
    flags = [
        ("--table", TENANTS_TABLE),
        ("--stack", STACK),
        ("--tenant-id", BRAND_B),
        ("--org-id", org.org_id),
        ("--credentials-secret", "aep/brand-b/credentials"),
        ("--token-secret", "aep/brand-b/token"),
        ("--inlet-id", BRAND_B_EVENTS_INLET),
        ("--dataset-id", BRAND_B_CALL_EVENTS),
        ("--flow-id", BRAND_B_EVENTS_FLOW),
        ("--default-phone-region", BRAND_B_REGION),
        ("--source-queue", queue),
        ("--reader-role-arn", READER_ROLE),
    ]
    for line in command_lines("python -m aep.tenants add", flags):
        say(line)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = tenants_cli.main(["add", *itertools.chain.from_iterable(flags)])
    say(f"   {printed.getvalue().strip()}")
    if code != tenants_cli.EXIT_OK:
        problems.append(f"python -m aep.tenants add exited {code}")
        return None
    return queue


def two_brands(
    emulator: Emulator, function: ModuleType, client: AepClient, dlq: str, problems: list[str]
) -> None:
    """Step 4: brand B registered with the CLI, one mixed batch, each caller found in its own org only."""
    from stream_ingest import service  # noqa: PLC0415 - imported once quiet_functions() ran

    say("\n4. Two brands on one deployment (brand B: its own AEP org, secrets, queue and registry item)")
    default_org, brand_b_org = (org.org_id for org in emulator.orgs)
    queue = register_brand_b(emulator, problems)
    if queue is None:
        return
    os.environ.update({"AEP_TENANTS_TABLE": TENANTS_TABLE, "STREAM_DEFAULT_PHONE_REGION": "US"})
    runtime = service.build_runtime(client=client)
    service.set_runtime(runtime)
    # brand B's client as the function builds it: from its registry item and its own secrets
    brand_b = runtime.router.clients.get(runtime.router.registry.get(BRAND_B))
    batch, status, records = load_profiles(
        brand_b, BRAND_B_CALLERS, BRAND_B_CALLERS_IN_STORY, "callers/b.json"
    )
    say(f"   brand B's caller profiles by batch, with its client: batch {batch}: {status}, {records} records")
    if status != "success" or records != len(BRAND_B_CALLERS_IN_STORY):
        problems.append(f"brand B's profile batch ended {status} with {records} records")

    default_calls = [
        Message(json.dumps(e)) for c in CALLERS_IN_STORY for e in call_events(dialled(c.phone, "US"), 1)
    ]
    brand_b_calls = [
        Message(json.dumps(e), BRAND_B, queue)
        for c in BRAND_B_CALLERS_IN_STORY
        for e in call_events(dialled(c.phone, BRAND_B_REGION), BRAND_B_CALLS_EACH)
    ]
    # brand B named on the stack's queue, which only the default brand's producers may write to
    intruder = call_events(dialled(BRAND_B_CALLERS_IN_STORY[0].phone, BRAND_B_REGION), 1)[0]
    mixed = [m for pair in itertools.zip_longest(default_calls, brand_b_calls) for m in pair if m is not None]
    mixed.append(Message(json.dumps(intruder), BRAND_B))
    # (who, its org, its call-events dataset, records sent, events expected in AEP)
    brands = [
        ("default tenant", default_org, CALL_EVENTS, len(default_calls), len(default_calls)),
        (f"tenant {BRAND_B}", brand_b_org, BRAND_B_CALL_EVENTS, len(brand_b_calls) + 1, len(brand_b_calls)),
    ]
    before = [streamed(emulator, org, dataset) for _, org, dataset, _, _ in brands]
    response = function.lambda_handler(sqs_event(mixed), DemoContext())
    retry = len(response["batchItemFailures"])
    say(f"   one SQS batch of {len(mixed)} records, both brands mixed, same handler: {retry} to retry")
    if retry:
        problems.append(f"{retry} records of the mixed batch sent back to retry")
    for (who, org, dataset, sent, expected), was in zip(brands, before, strict=True):
        accepted = streamed(emulator, org, dataset) - was
        say(f"   {who}: {sent} records in, AEP accepted {accepted} in org {org}")
        if accepted != expected:
            problems.append(f"{who}: {accepted} events accepted in its own org, expected {expected}")
    letters = drain(boto3.client("sqs"), dlq)
    for letter in letters:
        say(f"   dead-lettered, tenant {letter.get('tenant', '-')}, reason: {letter['aep.error.reason']}")
    refused = f"queue aep-connector-stream may not carry records of tenant {BRAND_B!r}"
    if [(x.get("tenant"), x.get("aep.error.reason")) for x in letters] != [(BRAND_B, refused)]:
        problems.append("expected 1 dead letter: brand B's record from the stack's queue")

    say("   the IVR looks each caller up in both orgs (the default client; brand B's client):")
    for callers, of_brand_b, calls in (
        (CALLERS_IN_STORY, False, CALLS_EACH + 1),
        (BRAND_B_CALLERS_IN_STORY, True, BRAND_B_CALLS_EACH),
    ):
        for c in callers:
            in_default, in_b = greeting(client, c.phone), greeting(brand_b, c.phone)
            say(
                f"   {international(c.phone)}: default org: {found(in_default)}; brand B's org: {found(in_b)}"
            )
            own, other = (in_b, in_default) if of_brand_b else (in_default, in_b)
            if own != (c.label, c.tier, calls) or other[0] is not None:
                problems.append(f"{c.label} is not found in its own brand's org only")


def story(emulator: Emulator, function: ModuleType, problems: list[str]) -> None:
    """Steps 1 to 4; each expectation that fails is added to ``problems``."""
    from stream_ingest import service  # noqa: PLC0415 - imported once quiet_functions() ran

    cfg = emulator.config
    secrets = boto3.client("secretsmanager")
    account = cfg.clients[0]
    secrets.create_secret(
        Name="aep/credentials",
        SecretString=json.dumps(
            {
                "client_id": account.client_id,
                "client_secret": account.client_secret,
                "org_id": cfg.org_id,
            }
        ),
    )
    secrets.create_secret(Name="aep/token", SecretString="{}")
    say(f"AWS (moto server) on {os.environ['AWS_ENDPOINT_URL']}; AEP emulator on {emulator.url}")
    os.environ.update(
        {
            "AEP_CREDENTIALS_SECRET_ID": "aep/credentials",
            "AEP_TOKEN_SECRET_ID": "aep/token",
            "AEP_IMS_URL": emulator.url,
            "AEP_PLATFORM_URL": emulator.url,
            "AEP_STREAMING_URL": emulator.url,
        }
    )
    client = AepClient.from_env()

    say("\n1. Caller profiles by batch ingestion (NDJSON file -> batch -> COMPLETE -> Catalog status)")
    batch, status, records = load_profiles(client, CALLERS, CALLERS_IN_STORY, "callers/2026-11-29.json")
    say(f"   batch {batch}: {status}, {records} records")
    if status != "success":
        problems.append(f"the profile batch ended {status}")

    say("\n2. Call history through the SQS streaming function (handler invoked as Lambda would)")
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="stream-dlq")["QueueUrl"]
    overflow = "stream-dlq-overflow"  # dead letters too large for SQS (none in this story)
    boto3.client("s3").create_bucket(Bucket=overflow)
    for c in CALLERS_IN_STORY:
        os.environ.update(
            {
                "STREAM_INLET_ID": EVENTS_INLET,
                "STREAM_DATASET_ID": CALL_EVENTS,
                "STREAM_FLOW_ID": EVENTS_FLOW,
                "STREAM_DLQ_URL": dlq,
                "STREAM_DLQ_OVERFLOW_BUCKET": overflow,
                "STREAM_DEFAULT_PHONE_REGION": c.region,
            }
        )
        service.set_runtime(service.build_runtime(client=client))
        bodies = [json.dumps(event) for event in call_events(national(c.phone), CALLS_EACH)]
        if c.region == "US":
            broken = call_events(national(c.phone), 1)[0]
            broken["identityMap"]["Phone"][0]["id"] = "call me back"
            bodies.append(json.dumps(broken))
        response = function.lambda_handler(sqs_event([Message(b) for b in bodies]), DemoContext())
        say(
            f"   {national(c.phone)} (default region {c.region}): {len(bodies)} records in, "
            f"{len(response['batchItemFailures'])} to retry"
        )
    dead = drain(sqs, dlq)
    for letter in dead:
        say(f"   dead-lettered, original body kept, reason: {letter['aep.error.reason']}")
    stored = streamed(emulator, cfg.org_id, CALL_EVENTS)
    say(f"   AEP accepted {stored} call events")
    expected = CALLS_EACH * len(CALLERS_IN_STORY)
    if stored != expected or len(dead) != 1:
        problems.append(f"expected {expected} events in AEP and 1 dead letter")

    say("\n3. A caller rings again: the IVR looks up the unified profile by phone number")
    for c in CALLERS_IN_STORY:
        profile = client.profiles.get(c.phone, "Phone")
        if profile is None:
            say(f"   {c.phone}: no profile")
            problems.append(f"{c.label} has no profile")
            continue
        label = profile.entity.get("person", {}).get("name", {}).get("firstName", "there")
        tier = profile.entity.get("_acme", {}).get("tier", "standard")
        events = list(client.profiles.experience_events(c.phone, "Phone", limit=10))
        last = events[0].entity["_acme"]["call"]["intent"] if events else "none"
        say(
            f"   profile {profile.entity_id}: greet '{label}' ({tier}); {len(events)} past calls, "
            f"last about {last!r}"
        )

    two_brands(emulator, function, client, dlq, problems)


def main() -> int:
    quiet_functions()
    from stream_ingest import service  # noqa: PLC0415 - imported once the environment above is set

    protect_logs()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's access log
    function = load_function()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
        }
    )
    problems: list[str] = []
    try:
        with running(load_orgs(DEFAULT_CONFIG, BRAND_B_CONFIG)) as emulator:
            try:
                story(emulator, function, problems)
            except AepError as exc:  # typed errors say what failed, never a secret
                problems.append(f"{type(exc).__name__}: {exc.message}")
            say(
                f"\nIMS token requests: {len(emulator.state.tokens)}; "
                f"AEP requests served: {emulator.state.counters['requests']}"
            )
            if problems:
                say(f"demo FAILED: {'; '.join(problems)}")
                return 1
            say("demo OK")
            return 0
    finally:
        service.set_runtime(None)
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
