"""The offline demo: moto's server for AWS, the emulator for AEP, nothing leaves the machine.

What exists today runs end to end: a call-center's call events are streamed into AEP through the shared
client's multi-message streaming API (the SQS streaming function is the next issue), caller profiles are
loaded by batch ingestion, and the IVR's lookup reads the caller's unified profile back by phone number.
Run with ``make demo``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from aep import AepClient, BytesSource
from aep.logs import protect_logs
from aep_emulator import running

CALLERS = "65f0c0a1e4b0c1d2e3f40001"
CALL_EVENTS = "65f0c0a1e4b0c1d2e3f40002"
EVENTS_INLET = "9b0c7f3e1d2a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e"
EVENTS_FLOW = "d8a6f005-0000-4000-8000-00000000c411"
CALLERS_IN_STORY = {"+14155550100": "Ada", "+442071838750": "Grace", "+33142685300": "Linus"}
INTENTS = ["billing", "roaming", "upgrade", "cancel"]


def say(text: str) -> None:
    print(text, flush=True)


def call_events(phone: str, count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    events = []
    for n in range(count):
        stamp = (now - timedelta(hours=count - n)).isoformat(timespec="seconds").replace("+00:00", "Z")
        events.append(
            {
                "_id": f"ivr-{phone[1:]}-{n}",
                "timestamp": stamp,
                "eventType": "ivr.call",
                "identityMap": {"Phone": [{"id": phone, "primary": True}]},
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


def envelope(schema_ref: str, org_id: str, record: dict[str, Any]) -> dict[str, Any]:
    ref = {"id": schema_ref, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    return {
        "header": {"schemaRef": ref, "imsOrgId": org_id, "datasetId": CALL_EVENTS, "flowId": EVENTS_FLOW},
        "body": {"xdmMeta": {"schemaRef": ref}, "xdmEntity": record},
    }


def main() -> int:  # noqa: PLR0915 - a script that tells a story, step by step
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
    try:
        with running() as emulator:
            cfg = emulator.config
            secrets = boto3.client("secretsmanager")
            client_cfg = cfg.clients[0]
            secrets.create_secret(
                Name="aep/credentials",
                SecretString=json.dumps(
                    {
                        "client_id": client_cfg.client_id,
                        "client_secret": client_cfg.client_secret,
                        "org_id": cfg.org_id,
                    }
                ),
            )
            secrets.create_secret(Name="aep/token", SecretString="{}")
            say(f"AWS (moto server) on {os.environ['AWS_ENDPOINT_URL']}; AEP emulator on {emulator.url}")
            env = {
                "AEP_CREDENTIALS_SECRET_ID": "aep/credentials",
                "AEP_TOKEN_SECRET_ID": "aep/token",
                "AEP_IMS_URL": emulator.url,
                "AEP_PLATFORM_URL": emulator.url,
                "AEP_STREAMING_URL": emulator.url,
            }
            client = AepClient.from_env(env)

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
                for i, (p, name) in enumerate(CALLERS_IN_STORY.items())
            ]
            data = "".join(json.dumps(r) + "\n" for r in profiles).encode()
            batch = client.batches.create(CALLERS, "json")
            client.batches.upload(batch.id, CALLERS, "callers/2026-11-29.json", BytesSource(data))
            client.batches.complete(batch.id)
            final = client.catalog.wait_for_batch(batch.id, timeout=30, poll_interval=0.2)
            metrics = final.metrics.output_record_count if final.metrics else 0
            say(f"   batch {final.id}: {final.status}, {metrics} records")

            say("\n2. Call history streamed (multi-message requests, one result per message)")
            dataset = client.catalog.dataset(CALL_EVENTS)
            assert dataset.schema_ref is not None
            messages = [
                envelope(dataset.schema_ref.id, cfg.org_id, event)
                for phone in CALLERS_IN_STORY
                for event in call_events(phone, 4)
            ]
            started = time.perf_counter()
            results = client.streaming.send_many(EVENTS_INLET, messages, flow_id=EVENTS_FLOW)
            accepted = sum(r.ok for r in results)
            say(
                f"   {accepted}/{len(results)} events accepted in {time.perf_counter() - started:.3f}s; "
                f"first xactionId {results[0].xaction_id}"
            )

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

            counters = emulator.state.counters
            say(
                f"\nIMS token requests: {len(emulator.state.tokens)}; "
                f"AEP requests served: {counters['requests']}"
            )
            if accepted != len(results) or final.state.value != "success":
                say("demo FAILED: not every record was accepted")
                return 1
            say("demo OK")
            return 0
    finally:
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
