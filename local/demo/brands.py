"""Step 4: a second brand joins the same deployment. Its registry item is written with the tenant CLI, one
mixed SQS batch carries both brands' call events (and one record on a queue brand B may not use), and each
brand's callers are found in its own AEP org only (looked up with each brand's client)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
from types import ModuleType
from typing import Any

import boto3

from aep import AepClient, BytesSource
from aep.tenants import cli as tenants_cli
from aep_emulator import Emulator
from demo.cast import (
    BRAND_B,
    BRAND_B_CALL_EVENTS,
    BRAND_B_CALLERS,
    BRAND_B_CALLERS_IN_STORY,
    BRAND_B_CALLS_EACH,
    BRAND_B_EVENTS_FLOW,
    BRAND_B_EVENTS_INLET,
    BRAND_B_REGION,
    CALL_EVENTS,
    CALLERS_IN_STORY,
    CALLS_EACH,
    HISTORY_EACH,
    Caller,
    call_events,
    dialled,
    international,
    say,
)
from demo.lambdas import DemoContext, Message, sqs_event

STACK = "aep-connector-demo"
TENANTS_TABLE = "aep-connector-demo-tenants"
READER_ROLE = "arn:aws:iam::123456789012:role/aep-connector-demo-StreamIngestRole"


def load_profiles(client: AepClient, dataset: str, callers: list[Caller], path: str) -> tuple[str, str, int]:
    """Caller profiles by batch ingestion with the client: the batch id, its final status, its records."""
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


def streamed(emulator: Emulator, org_id: str, dataset: str) -> int:
    return emulator.space(org_id).streamed.get(dataset, 0)


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
) -> tuple[int, int]:
    """Step 4: brand B registered with the CLI, one mixed batch, each caller found in its own org only.
    Returns the call events AEP accepted from the mixed batch and the records dead-lettered."""
    from stream_ingest import service  # noqa: PLC0415 - imported once quiet_functions() ran

    say("\n4. Two brands on one deployment (brand B: its own AEP org, secrets, queue and registry item)")
    default_org, brand_b_org = (org.org_id for org in emulator.orgs)
    queue = register_brand_b(emulator, problems)
    if queue is None:
        return 0, 0
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
    accepted_in_all = 0
    for (who, org, dataset, sent, expected), was in zip(brands, before, strict=True):
        accepted = streamed(emulator, org, dataset) - was
        accepted_in_all += accepted
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
        (CALLERS_IN_STORY, False, HISTORY_EACH + CALLS_EACH + 1),
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
    return accepted_in_all, len(letters)
