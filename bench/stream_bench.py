"""Streaming throughput: the function vs a plain loop vs the raw ceiling, on the emulator with 50 ms latency.

* function: the streaming handler's logic on one SQS batch of 10,000 records (parse, validate, normalise,
  pack, send concurrently, map results), timed end to end;
* plain loop: one request per record, one after the other (timed on a sample, as a rate);
* ceiling: the very same packed requests posted concurrently by bare threads (no parsing or validation).
The emulator runs in its own process with 50 ms added to every streaming request. Run with ``make bench``.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import requests
from moto import mock_aws

from aep import AepClient, AepCredentials, AepSettings, RetryPolicy
from aep.streaming import encode, pack, request_body
from aep_emulator import load_config
from bench import streamkit
from bench.report import publish
from stream_ingest import service
from stream_ingest.records import Prepared, Target, prepare

RECORDS = int(os.environ.get("BENCH_RECORDS", "10000"))
PLAIN_SAMPLE = int(os.environ.get("BENCH_PLAIN_SAMPLE", "100"))
LATENCY_MS = 50
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
MAX_MESSAGES = int(os.environ.get("BENCH_MAX_MESSAGES", "2000"))


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def main() -> int:  # noqa: PLR0915 - a benchmark script, step by step
    config = load_config()
    port = streamkit.free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = streamkit.start_emulator(port)
    try:
        requests.post(
            f"{url}/_admin/faults",
            timeout=5,
            json={"rules": [{"path": "^/collection", "kind": "latency", "latency_ms": LATENCY_MS}]},
        ).raise_for_status()
        inlet = config.inlets[0]
        dataset = config.dataset(inlet.dataset_id)
        assert dataset is not None
        bodies = streamkit.call_events(RECORDS, "national")  # as an IVR writes numbers
        with mock_aws():
            secrets = boto3.client("secretsmanager", region_name="us-east-1")
            secrets.create_secret(Name="aep/token", SecretString="{}")
            dlq = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="dlq")["QueueUrl"]
            client = AepClient(
                AepSettings(
                    credentials_secret_id="c",
                    token_secret_id="aep/token",
                    ims_url=url,
                    platform_url=url,
                    streaming_url=url,
                    pool_size=CONCURRENCY * 2,
                ),
                AepCredentials.model_validate(
                    {
                        "client_id": config.clients[0].client_id,
                        "client_secret": config.clients[0].client_secret,
                        "org_id": config.org_id,
                    }
                ),
                secrets_client=lambda: secrets,
                policy=RetryPolicy(max_attempts=3, base=0.05),
            )
            client.tokens.get()
            environ = {
                "STREAM_INLET_ID": inlet.id,
                "STREAM_DATASET_ID": dataset.id,
                "STREAM_DLQ_URL": dlq,
                "STREAM_FLOW_ID": inlet.flow_id or "",
                "STREAM_SCHEMA_REF": dataset.schema_ref,
                "STREAM_CONCURRENCY": str(CONCURRENCY),
                "STREAM_MAX_MESSAGES_PER_REQUEST": str(MAX_MESSAGES),
            }
            runtime = service.build_runtime(
                environ, client, lambda: boto3.client("sqs", region_name="us-east-1")
            )
            event = {
                "Records": [
                    {
                        "messageId": f"m{n}",
                        "receiptHandle": "h",
                        "body": body,
                        "attributes": {},
                        "messageAttributes": {},
                        "md5OfBody": "",
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                        "awsRegion": "us-east-1",
                    }
                    for n, body in enumerate(bodies)
                ]
            }

            class NoMetrics:
                def add_metric(self, *args: Any, **kwargs: Any) -> None:
                    pass

            gc.freeze()  # as the function's app.py does after its imports
            # warm up: connections, schema, imports
            service.handle({"Records": event["Records"][:10]}, Context(), NoMetrics(), runtime)  # type: ignore[arg-type]

            # the same messages, prepared once, packed as the function packs them: the ceiling's requests
            target = Target(inlet.id, dataset.id, dataset.schema_ref, runtime.settings.flow_id, config.org_id)
            prepared = [
                prepare(f"m{n}", body, group=None, settings=runtime.settings, target=target)
                for n, body in enumerate(bodies)
            ]
            messages = [p.message for p in prepared if isinstance(p, Prepared)]
            encoded = [encode(m) for m in messages]
            groups, _ = pack([len(e) for e in encoded], max_messages=MAX_MESSAGES)
            payloads = [request_body([encoded[i] for i in group]) for group in groups]
            # as the function sends them: the spec requires x-sandbox-name on every streaming call
            headers = {"Content-Type": "application/json", "x-sandbox-name": client.settings.sandbox_name}
            sessions = [requests.Session() for _ in range(CONCURRENCY)]

            def post(index: int) -> None:
                reply = sessions[index % CONCURRENCY].post(
                    f"{url}/collection/batch/{inlet.id}", data=payloads[index], headers=headers, timeout=60
                )
                assert reply.status_code == 207

            function_runs, ceiling_runs = [], []
            for _ in range(REPEATS):  # alternate, so drift on a shared machine hits both alike
                started = time.perf_counter()
                answer = service.handle(event, Context(), NoMetrics(), runtime)  # type: ignore[arg-type]
                function_runs.append(time.perf_counter() - started)
                assert answer["batchItemFailures"] == [], answer["batchItemFailures"][:3]
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
                    list(pool.map(post, range(len(payloads))))
                ceiling_runs.append(time.perf_counter() - started)

        plain = requests.Session()
        started = time.perf_counter()
        for message in messages[:PLAIN_SAMPLE]:
            reply = plain.post(
                f"{url}/collection/{inlet.id}", data=encode(message), headers=headers, timeout=10
            )
            assert reply.status_code == 200
        plain_s = time.perf_counter() - started
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)

    function_s = statistics.median(function_runs)
    ceiling_s = statistics.median(ceiling_runs)
    function_rps = RECORDS / function_s
    ceiling_rps = len(messages) / ceiling_s
    plain_rps = PLAIN_SAMPLE / plain_s
    results = {
        "records": RECORDS,
        "injected_latency_ms": LATENCY_MS,
        "requests": len(payloads),
        "max_messages_per_request": MAX_MESSAGES,
        "concurrency": CONCURRENCY,
        "function_records_per_s": round(function_rps),
        "ceiling_records_per_s": round(ceiling_rps),
        "plain_loop_records_per_s": round(plain_rps, 1),
        "plain_loop_sample": PLAIN_SAMPLE,
        "function_vs_plain": round(function_rps / plain_rps, 1),
        "function_vs_ceiling": round(function_rps / ceiling_rps, 2),
        "repeats": REPEATS,
        "function_runs_s": [round(x, 3) for x in function_runs],
        "ceiling_runs_s": [round(x, 3) for x in ceiling_runs],
    }
    publish("stream_bench", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
