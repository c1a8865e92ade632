"""The story, step by step, and ``main``: moto's server for AWS, the emulator for AEP, nothing leaves the
machine. Each function's handler is invoked as Lambda would; each expectation that fails is a problem, and
any problem makes the demo exit non-zero with its reasons."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from types import ModuleType

import boto3
from moto.server import ThreadedMotoServer

from aep import AepClient, AepError
from aep.logs import protect_logs
from aep_emulator import Emulator, load_orgs, running
from aep_emulator.config import DEFAULT_CONFIG
from demo.brands import drain, streamed, two_brands
from demo.cast import (
    BRAND_B_CONFIG,
    CALL_EVENTS,
    CALLERS_IN_STORY,
    CALLS_EACH,
    EVENTS_FLOW,
    EVENTS_INLET,
    call_events,
    national,
    say,
)
from demo.files import Outcome, drop_files
from demo.lambdas import DemoContext, Message, load_function, quiet_functions, sqs_event
from demo.lookup import Answer, look_up


@dataclass
class Functions:
    """The handlers of the story, each loaded from its own folder as Lambda loads it."""

    stream: ModuleType
    batch_ingest: ModuleType
    batch_follow: ModuleType
    lookup: ModuleType

    @classmethod
    def load(cls) -> Functions:
        quiet_functions()
        return cls(
            stream=load_function("stream_ingest"),
            batch_ingest=load_function("batch_ingest"),
            batch_follow=load_function("batch_follow"),
            lookup=load_function("profile_lookup"),
        )


@dataclass
class Tally:
    """What the summary reports."""

    files: list[Outcome] = field(default_factory=list)
    streamed: int = 0
    dead_letters: int = 0
    lookups: list[Answer] = field(default_factory=list)


def stream_calls(
    emulator: Emulator, function: ModuleType, client: AepClient, problems: list[str]
) -> tuple[str, int, int]:
    """Step 2: each caller's call events through the streaming function, one broken record dead-lettered.
    Returns the DLQ's URL, the events AEP accepted and the records dead-lettered."""
    from stream_ingest import service  # noqa: PLC0415 - imported once quiet_functions() ran

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
    stored = streamed(emulator, emulator.config.org_id, CALL_EVENTS)
    say(f"   AEP accepted {stored} call events")
    expected = CALLS_EACH * len(CALLERS_IN_STORY)
    if stored != expected or len(dead) != 1:
        problems.append(f"expected {expected} events in AEP and 1 dead letter")
    return dlq, stored, len(dead)


def story(emulator: Emulator, functions: Functions, problems: list[str], tally: Tally) -> None:
    """Steps 1 to 4; each expectation that fails is added to ``problems``."""
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
    # The variables every function of the stack has (the template's Globals).
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

    say("\n1. Caller profiles and call history as files (S3 -> SQS -> batch function -> follow-up -> report)")
    tally.files = drop_files(functions.batch_ingest, functions.batch_follow, problems)

    say("\n2. Call history through the SQS streaming function (handler invoked as Lambda would)")
    dlq, tally.streamed, tally.dead_letters = stream_calls(emulator, functions.stream, client, problems)

    say("\n3. A caller rings again: the IVR asks the lookup API (API Gateway's REST event, an IAM caller)")
    tally.lookups = look_up(functions.lookup, problems)

    accepted, dead = two_brands(emulator, functions.stream, client, dlq, problems)
    tally.streamed += accepted
    tally.dead_letters += dead


def summary(tally: Tally) -> list[str]:
    """The story in a few lines: files, batches, events, rejects, lookup latency."""
    batches = [f"batch {f.batch_id}: {f.status}" for f in tally.files if f.batch_id]
    refused_files = sum(f.status == "refused" for f in tally.files)
    read, sent = sum(f.read for f in tally.files), sum(f.sent for f in tally.files)
    rows = sum(f.refused for f in tally.files)
    misses = [a.latency_ms for a in tally.lookups if a.status == 200 and not a.body["cached"]]
    hits = [a.latency_ms for a in tally.lookups if a.status == 200 and a.body["cached"]]
    # the first request of a container builds its runtime (settings, the secrets read): told apart
    latency = (
        f"{misses[0]:.1f} ms the first (builds its runtime), {min(misses[1:]):.1f}-{max(misses[1:]):.1f} ms "
        f"from AEP, {min(hits):.1f} ms from the cache"
        if len(misses) > 1 and hits
        else "too few answers to tell"
    )
    return [
        "Summary:",
        f"   files in: {len(tally.files)}; {', '.join(batches) or 'no batch'}; {refused_files} file refused",
        f"   batch records: read {read}, sent {sent}, refused {rows}",
        f"   events streamed: {tally.streamed}; rejects: {tally.dead_letters} dead-lettered",
        f"   lookup latency (the handler's): {latency}",
    ]


def main() -> int:
    functions = Functions.load()
    from stream_ingest import service  # noqa: PLC0415 - imported once the environment above is set

    protect_logs()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's access log
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
    tally = Tally()
    try:
        with running(load_orgs(DEFAULT_CONFIG, BRAND_B_CONFIG)) as emulator:
            try:
                story(emulator, functions, problems, tally)
            except AepError as exc:  # typed errors say what failed, never a secret
                problems.append(f"{type(exc).__name__}: {exc.message}")
            say("")
            for line in summary(tally):
                say(line)
            say(
                f"   IMS token requests: {len(emulator.state.tokens)}; "
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
