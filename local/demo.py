"""The offline demo: moto's server for AWS, the emulator for AEP, nothing leaves the machine.

What exists today runs end to end: caller profiles are loaded by batch ingestion (through the shared
client; the S3 batch function is a later issue), the call-center's call events go through the SQS
streaming function (its handler invoked as Lambda would, the DLQ on moto's server), and the IVR's lookup
reads each caller's unified profile back by phone number with the client (the lookup API is a later
issue). Run with ``make demo``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import phonenumbers
from moto.server import ThreadedMotoServer

from aep import AepClient, BytesSource
from aep.logs import protect_logs
from aep_emulator import running

CALLERS = "65f0c0a1e4b0c1d2e3f40001"
CALL_EVENTS = "65f0c0a1e4b0c1d2e3f40002"
EVENTS_INLET = "9b0c7f3e1d2a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e"
EVENTS_FLOW = "d8a6f005-0000-4000-8000-00000000c411"
CALLERS_IN_STORY = {
    "+14155550100": ("Ada", "US"),
    "+442071838750": ("Grace", "GB"),
    "+33142685300": ("Linus", "FR"),
}
INTENTS = ["billing", "roaming", "upgrade", "cancel"]
CALLS_EACH = 4


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


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"demo-{n:04d}",
                "receiptHandle": f"h{n}",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:aep-connector-stream",
            }
            for n, body in enumerate(bodies)
        ]
    }


def national(phone: str) -> str:
    """How a call-center system may record the number: national format, as dialled."""
    return phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.NATIONAL)


def call_events(phone: str, count: int) -> list[dict[str, Any]]:
    """Bare XDM ExperienceEvents without _id: the function derives a deterministic one."""
    now = datetime.now(UTC)
    events = []
    for n in range(count):
        stamp = (now - timedelta(hours=count - n)).isoformat(timespec="seconds").replace("+00:00", "Z")
        events.append(
            {
                "timestamp": stamp,
                "eventType": "ivr.call",
                "identityMap": {"Phone": [{"id": national(phone), "primary": True}]},
                "_acme": {
                    "call": {
                        "direction": "inbound",
                        "durationSeconds": 45 + 30 * n,
                        "intent": INTENTS[(n + len(phone)) % len(INTENTS)],
                        "outcome": "resolved",
                    }
                },
            }
        )
    return events


def main() -> int:  # noqa: PLR0915 - a script that tells a story, step by step
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
    try:
        with running() as emulator:
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

            say(
                "\n1. Caller profiles by batch ingestion (NDJSON file -> batch -> COMPLETE -> Catalog status)"
            )
            profiles = [
                {
                    "_id": f"caller-{p[1:]}",
                    "identityMap": {"Phone": [{"id": p, "primary": True}]},
                    "person": {"name": {"firstName": name}},
                    "_acme": {"tier": "gold" if i == 0 else "silver"},
                }
                for i, (p, (name, _)) in enumerate(CALLERS_IN_STORY.items())
            ]
            data = "".join(json.dumps(r) + "\n" for r in profiles).encode()
            batch = client.batches.create(CALLERS, "json")
            client.batches.upload(batch.id, CALLERS, "callers/2026-11-29.json", BytesSource(data))
            client.batches.complete(batch.id)
            final = client.catalog.wait_for_batch(batch.id, timeout=30, poll_interval=0.2)
            metrics = final.metrics.output_record_count if final.metrics else 0
            say(f"   batch {final.id}: {final.status}, {metrics} records")

            say("\n2. Call history through the SQS streaming function (handler invoked as Lambda would)")
            sqs = boto3.client("sqs")
            dlq = sqs.create_queue(QueueName="stream-dlq")["QueueUrl"]
            overflow = "stream-dlq-overflow"  # dead letters too large for SQS (none in this story)
            boto3.client("s3").create_bucket(Bucket=overflow)
            for phone, (_, region) in CALLERS_IN_STORY.items():
                os.environ.update(
                    {
                        "STREAM_INLET_ID": EVENTS_INLET,
                        "STREAM_DATASET_ID": CALL_EVENTS,
                        "STREAM_FLOW_ID": EVENTS_FLOW,
                        "STREAM_DLQ_URL": dlq,
                        "STREAM_DLQ_OVERFLOW_BUCKET": overflow,
                        "STREAM_DEFAULT_PHONE_REGION": region,
                    }
                )
                service.set_runtime(service.build_runtime(client=client))
                bodies = [json.dumps(event) for event in call_events(phone, CALLS_EACH)]
                if region == "US":
                    broken = call_events(phone, 1)[0]
                    broken["identityMap"]["Phone"][0]["id"] = "call me back"
                    bodies.append(json.dumps(broken))
                response = function.lambda_handler(sqs_event(bodies), DemoContext())
                say(
                    f"   {national(phone)} (default region {region}): {len(bodies)} records in, "
                    f"{len(response['batchItemFailures'])} to retry"
                )
            letters = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            dead = letters.get("Messages", [])
            for letter in dead:
                reason = letter["MessageAttributes"]["aep.error.reason"]["StringValue"]
                say(f"   dead-lettered, original body kept, reason: {reason}")
            stored = emulator.state.streamed.get(CALL_EVENTS, 0)
            say(f"   AEP accepted {stored} call events")

            say("\n3. A caller rings again: the IVR looks up the unified profile by phone number")
            for phone in CALLERS_IN_STORY:
                profile = client.profiles.get(phone, "Phone")
                if profile is None:
                    say(f"   {phone}: no profile")
                    continue
                name = profile.entity.get("person", {}).get("name", {}).get("firstName", "there")
                tier = profile.entity.get("_acme", {}).get("tier", "standard")
                events = list(client.profiles.experience_events(phone, "Phone", limit=10))
                last = events[0].entity["_acme"]["call"]["intent"] if events else "none"
                say(
                    f"   profile {profile.entity_id}: greet '{name}' ({tier}); {len(events)} past calls, "
                    f"last about {last!r}"
                )

            say(
                f"\nIMS token requests: {len(emulator.state.tokens)}; "
                f"AEP requests served: {emulator.state.counters['requests']}"
            )
            expected = CALLS_EACH * len(CALLERS_IN_STORY)
            if stored != expected or len(dead) != 1 or final.state.value != "success":
                say(f"demo FAILED: expected {expected} events in AEP and 1 dead letter")
                return 1
            say("demo OK")
            return 0
    finally:
        service.set_runtime(None)
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
