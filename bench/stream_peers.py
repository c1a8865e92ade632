"""Streaming side by side, against the sink (150 ms per request, almost no CPU): the figure is the client's.

* function: ``functions/stream_ingest/app.py``'s ``lambda_handler`` on one SQS event of 10,000 call events
  (phones in E.164; a national-format run beside it), as the template deploys it (STREAM_CONCURRENCY
  requests in flight), timed end to end, warm;
* ceiling: the very requests the function sends (the same records prepared, packed by the same rule)
  posted concurrently by bare threads, as many in flight, no preparation;
* aepp 0.6.0 ``streamMessages`` (its own virtualenv), 100 and 2,000 messages per request, one request after
  the other (aepp is synchronous), each body parsed and wrapped as a user would;
* one request per record: a pooled session posting each message to ``/collection/{inlet}``, in turn
  (timed on a sample, as a rate).
Function and ceiling alternate over ``BENCH_REPEATS`` rounds (median). Results:
bench/results/stream_peers.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench import streamkit
from bench.report import publish

RECORDS = int(os.environ.get("BENCH_RECORDS", "10000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
SINGLE_SAMPLE = int(os.environ.get("BENCH_SINGLE_SAMPLE", "20"))
#: Requests in flight in the function and the ceiling (default: the template's STREAM_CONCURRENCY).
IN_FLIGHT = os.environ.get("BENCH_IN_FLIGHT")
AEPP_PYTHON = os.environ.get("BENCH_AEPP_PYTHON", str(streamkit.ROOT / ".aepp-venv" / "bin" / "python"))


def packed_requests(bodies: list[str]) -> tuple[list[bytes], list[bytes]]:
    """The messages and the requests the function sends for ``bodies``: prepared, encoded and packed by
    its own code."""
    from aep.streaming import pack, request_body  # noqa: PLC0415 - after the function's variables
    from stream_ingest.records import Prepared, Target, prepare  # noqa: PLC0415
    from stream_ingest.settings import StreamSettings  # noqa: PLC0415

    settings = StreamSettings.from_env(os.environ)
    target = Target(settings.inlet_id, settings.dataset_id, streamkit.SCHEMA, settings.flow_id, streamkit.ORG)
    encoded = []
    for n, body in enumerate(bodies):
        prepared = prepare(f"m{n}", body, group=None, settings=settings, target=target)
        assert isinstance(prepared, Prepared)
        encoded.append(prepared.encoded)
    groups, _ = pack([len(e) for e in encoded], max_messages=settings.max_messages_per_request)
    return encoded, [request_body([encoded[i] for i in group]) for group in groups]


def aepp_run(url: str, bodies_file: Path, per_request: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "AEPP_URL": url,
        "AEPP_BODIES": str(bodies_file),
        "AEPP_PER_REQUEST": str(per_request),
        "AEPP_ORG": streamkit.ORG,
        "AEPP_INLET": streamkit.INLET,
        "AEPP_DATASET": streamkit.DATASET,
        "AEPP_FLOW": streamkit.FLOW,
        "AEPP_SCHEMA": streamkit.SCHEMA,
        "PYTHONPATH": "",
    }
    done = subprocess.run(
        [AEPP_PYTHON, str(streamkit.ROOT / "bench" / "aepp_stream.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:  # noqa: PLR0915 - a benchmark script, step by step
    shape = streamkit.template_settings()
    in_flight = int(IN_FLIGHT) if IN_FLIGHT else shape.requests_in_flight
    e164 = streamkit.call_events(RECORDS, "e164")
    national = streamkit.call_events(RECORDS, "national")
    with streamkit.sink() as url, streamkit.streaming_function(url, in_flight) as handler:
        context = streamkit.context(timeout_seconds=900)
        handler(streamkit.sqs_event(e164[:10], first=10**6), context)  # warm: token, connections, imports
        messages, payloads = packed_requests(e164)
        headers = {"Content-Type": "application/json", "x-sandbox-name": "prod"}
        sessions = [requests.Session() for _ in range(in_flight)]

        def post(index: int) -> None:
            reply = sessions[index % in_flight].post(
                f"{url}/collection/batch/{streamkit.INLET}", data=payloads[index], headers=headers, timeout=60
            )
            assert reply.status_code == 207

        event = streamkit.sqs_event(e164)
        function_runs, function_cpu, ceiling_runs, national_runs = [], [], [], []
        for round_ in range(REPEATS):
            print(f"  streaming round {round_ + 1}/{REPEATS}: function, ceiling, national", flush=True)
            streamkit.reset_sink(url)
            cpu = time.process_time()
            answer, seconds = streamkit.timed(handler, event, context)
            function_cpu.append(time.process_time() - cpu)
            function_runs.append(seconds)
            assert answer["batchItemFailures"] == [], answer["batchItemFailures"][:3]
            counted = streamkit.sink_counters(url)
            assert counted["messages"] == RECORDS, counted["messages"]
            requests_sent = counted["requests"].get("batch", 0)
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=in_flight) as pool:
                list(pool.map(post, range(len(payloads))))
            ceiling_runs.append(time.perf_counter() - started)
            answer, seconds = streamkit.timed(handler, streamkit.sqs_event(national, first=RECORDS), context)
            assert answer["batchItemFailures"] == []
            national_runs.append(seconds)

        single = requests.Session()
        one = messages[:SINGLE_SAMPLE]
        started = time.perf_counter()
        for body in one:
            reply = single.post(f"{url}/collection/{streamkit.INLET}", data=body, headers=headers, timeout=10)
            assert reply.status_code == 200
        single_s = time.perf_counter() - started

        with tempfile.TemporaryDirectory() as scratch:
            bodies_file = Path(scratch) / "bodies.ndjson"
            bodies_file.write_text("\n".join(e164) + "\n")
            aepp = {}
            for per_request in (100, 2000):
                print(f"  aepp streamMessages, {per_request} per request", flush=True)
                aepp[per_request] = aepp_run(url, bodies_file, per_request)
                assert aepp[per_request]["accepted"] == RECORDS, aepp[per_request]

    function_rps = RECORDS / statistics.median(function_runs)
    ceiling_rps = RECORDS / statistics.median(ceiling_runs)
    aepp_rps = {n: RECORDS / run["seconds"] for n, run in aepp.items()}
    single_rps = len(one) / single_s
    best_aepp = max(aepp_rps.values())
    publish(
        "stream_peers" if not IN_FLIGHT else f"stream_peers_{in_flight}",
        {
            "records": RECORDS,
            "sink_latency_ms": 150,
            "requests_in_flight": in_flight,
            "function_requests": requests_sent,
            "function_records_per_s": round(function_rps),
            "function_national_records_per_s": round(RECORDS / statistics.median(national_runs)),
            "function_cpu_us_per_record": round(statistics.median(function_cpu) / RECORDS * 1e6, 1),
            "ceiling_records_per_s": round(ceiling_rps),
            "aepp_100_records_per_s": round(aepp_rps[100]),
            "aepp_2000_records_per_s": round(aepp_rps[2000]),
            "aepp_cpu_us_per_record": {
                n: round(run["cpu_seconds"] / RECORDS * 1e6, 1) for n, run in aepp.items()
            },
            "one_request_per_record_records_per_s": round(single_rps, 2),
            "one_request_per_record_sample": len(one),
            "function_vs_best_aepp": round(function_rps / best_aepp, 2),
            "function_vs_ceiling": round(function_rps / ceiling_rps, 2),
            "function_vs_one_per_record": round(function_rps / single_rps),
            "repeats": REPEATS,
            "function_runs_s": [round(x, 3) for x in function_runs],
            "ceiling_runs_s": [round(x, 3) for x in ceiling_runs],
            "national_runs_s": [round(x, 3) for x in national_runs],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
