"""Profile lookup: the handler's overhead over a direct GET, a cache hit, and the function's cold import.

* direct: ``GET /data/core/ups/access/entities`` to the emulator with a pooled ``requests`` session and
  ready-made Platform headers (the floor any lookup pays);
* handler: ``app.lambda_handler`` with an API Gateway REST event for the same caller, ``Cache-Control:
  no-cache`` so that every call reaches AEP (routing, validation, identity rules, caller -> tenant, the
  client, our shape, the log line and metrics); direct and handler calls alternate, warm;
* cache hit: the same handler call without ``no-cache``;
* cold import: ``import app`` in a fresh interpreter (``.pyc`` present, as in Lambda's image), median of 10.

The emulator runs in its own process. Figures go to ``build/bench/lookup_bench.json`` (never a tracked
file) and to stdout; the README quotes them. Run with ``make bench`` or
``PYTHONPATH=layers/aep:local:functions/profile_lookup:. .venv/bin/python bench/lookup_bench.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import requests
from moto import mock_aws

from aep import AepClient, AepCredentials, AepSettings, RetryPolicy, SystemClock
from aep_emulator import load_config
from bench import streamkit
from profile_lookup import runtime as lookup_runtime
from tests.support.apigw import profile_event
from tests.support.lambdas import load_app
from tests.support.lookup import caller_profile, ingest_by_batch, lookup_runtime_for

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "build" / "bench" / "lookup_bench.json"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1000"))
IMPORTS = int(os.environ.get("BENCH_IMPORTS", "10"))
PHONE = "+14155550100"
ROLE = "arn:aws:iam::123456789012:role/ivr-backend"

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AepConnectorBench")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "profile-lookup")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
    }


#: The function's module, as Lambda imports it.
LOOKUP_IMPORT = "import app"
#: The same kind of handler built naively, for comparison on the same machine at the same moment:
#: Powertools' Logger, Metrics and Tracer, the validating REST resolver, boto3 and requests at import.
NAIVE_IMPORT = (
    "from aws_lambda_powertools import Logger, Metrics, Tracer; "
    "from aws_lambda_powertools.event_handler import APIGatewayRestResolver; "
    "import boto3, requests; Tracer(); APIGatewayRestResolver(enable_validation=True)"
)


def cold_import_ms(statement: str) -> list[float]:
    """``statement`` timed in fresh interpreters, median of IMPORTS; a first run (not counted) writes the
    ``.pyc`` files, as Lambda's image has them."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions/profile_lookup"), str(ROOT / "layers/aep")]),
    }
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    runs = []
    for attempt in range(IMPORTS + 1):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT
        )
        if attempt:
            runs.append(float(out.stdout.strip().splitlines()[-1]))
    return runs


def summary(runs: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(runs), 1),
        "min": round(min(runs), 1),
        "max": round(max(runs), 1),
        "runs": len(runs),
    }


def main() -> int:  # noqa: PLR0915 - a benchmark script, step by step
    imports = cold_import_ms(LOOKUP_IMPORT)
    naive = cold_import_ms(NAIVE_IMPORT)
    config = load_config()
    port = streamkit.free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = streamkit.start_emulator(port)
    try:
        with mock_aws():
            secrets = boto3.client("secretsmanager")
            secrets.create_secret(Name="aep/token", SecretString="{}")
            creds = config.clients[0]
            client = AepClient(
                AepSettings(
                    credentials_secret_id="aep/credentials",
                    token_secret_id="aep/token",
                    ims_url=url,
                    platform_url=url,
                    streaming_url=url,
                ),
                AepCredentials.model_validate(
                    {
                        "client_id": creds.client_id,
                        "client_secret": creds.client_secret,
                        "org_id": config.org_id,
                    }
                ),
                secrets_client=lambda: secrets,
                policy=RetryPolicy(max_attempts=3, base=0.05),
            )
            assert ingest_by_batch(client, [caller_profile(PHONE, "caller 1")]) == "success"
            runtime = lookup_runtime_for(client, SystemClock())
            app = load_app("profile_lookup")
            lookup_runtime.set_runtime(runtime)

            class Context:
                function_name = "profile-lookup"
                memory_limit_in_mb = 1024
                invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:profile-lookup"
                aws_request_id = "bench"

                def get_remaining_time_in_millis(self) -> int:
                    return 28_000

            context = Context()
            bypass = profile_event("Phone", PHONE, headers={"Cache-Control": "no-cache"})
            cached = profile_event("Phone", PHONE)
            session = requests.Session()
            headers = client.transport.authenticator.headers()  # type: ignore[union-attr]
            params = {"schema.name": "_xdm.context.profile", "entityId": PHONE, "entityIdNS": "Phone"}
            direct_url = f"{url}/data/core/ups/access/entities"

            def direct() -> None:
                answer = session.get(direct_url, params=params, headers=headers, timeout=5)
                answer.raise_for_status()
                answer.json()

            def handler(event: dict[str, Any]) -> None:
                assert app.lambda_handler(event, context)["statusCode"] == 200

            sink = io.StringIO()
            app.logger.registered_handler.stream = sink  # the log line is formatted and written, not shown
            direct_ms: list[float] = []
            handler_ms: list[float] = []
            hit_ms: list[float] = []
            with contextlib.redirect_stdout(sink):
                for _ in range(50):  # warm both paths and the pool
                    direct()
                    handler(bypass)
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    direct()
                    direct_ms.append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    handler(bypass)
                    handler_ms.append((time.perf_counter() - started) * 1000)
                    sink.seek(0)
                    sink.truncate()
                handler(cached)
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    handler(cached)
                    hit_ms.append((time.perf_counter() - started) * 1000)
                    sink.seek(0)
                    sink.truncate()
    finally:
        emulator.terminate()
        emulator.wait(10)
    direct_p, handler_p, hit_p = percentiles(direct_ms), percentiles(handler_ms), percentiles(hit_ms)
    results = {
        "rounds": ROUNDS,
        "direct_get_ms": direct_p,
        "handler_ms": handler_p,
        "handler_overhead_ms": {
            "p50": round(handler_p["p50"] - direct_p["p50"], 3),
            "p99": round(handler_p["p99"] - direct_p["p99"], 3),
        },
        "cache_hit_ms": hit_p,
        "cold_import_ms": summary(imports),
        "naive_stack_import_ms": summary(naive),
        "load_average": os.getloadavg()[0],
        "python": sys.version.split()[0],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
