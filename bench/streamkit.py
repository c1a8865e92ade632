"""What the streaming benchmarks share: call events, SQS events, the template's settings, the sink in its
own process, and the streaming function as Lambda runs it (its app.py, its variables, its own client)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
INLET = "bench-inlet"
DATASET = "65f0c0a1e4b0c1d2e3f40002"
#: the default sandbox's call-event schema (bench/stream_sink.py serves it to the function's schema check)
SCHEMA = "https://ns.adobe.com/acme/schemas/ivr-call-event"
FLOW = "bench-flow"
ORG = "BENCHORG@AdobeOrg"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:aep-connector-stream"


def call_events(count: int, phones: str = "e164", callers: int | None = None) -> list[str]:
    """``count`` SQS bodies of IVR call events (bare XDM records), phones in E.164 (``+14155550123``) or
    national format (``(415) 555-0123``), from ``callers`` distinct numbers (default: one per record)."""
    now = datetime.now(UTC)
    distinct = callers or count
    out = []
    for n in range(count):
        line = (n * 7919) % distinct  # callers recur in a scattered order, as in a real queue
        stamp = (now - timedelta(seconds=count - n)).isoformat(timespec="seconds").replace("+00:00", "Z")
        local = f"{2000000 + line:07d}"
        phone = f"+1415{local}" if phones == "e164" else f"(415) {local[:3]}-{local[3:]}"
        out.append(
            json.dumps(
                {
                    "timestamp": stamp,
                    "eventType": "ivr.call",
                    "identityMap": {"Phone": [{"id": phone, "primary": True}]},
                    "_acme": {
                        "call": {
                            "direction": "inbound",
                            "durationSeconds": 30 + n % 600,
                            "queue": "billing",
                            "intent": "billing",
                            "outcome": "resolved",
                            "agentId": f"agent-{n % 97}",
                        }
                    },
                }
            )
        )
    return out


def sqs_record(message_id: str, body: str, sent_ms: int = 0) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {"SentTimestamp": str(sent_ms), "ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def sqs_event(bodies: list[str], first: int = 0) -> dict[str, Any]:
    return {"Records": [sqs_record(f"m{first + n}", body) for n, body in enumerate(bodies)]}


@dataclass(frozen=True)
class TemplateSettings:
    """The streaming function's deployed shape, as template.yaml declares it (parameters' defaults)."""

    batch_size: int
    batching_window_s: float
    max_concurrency: int
    requests_in_flight: int  # STREAM_CONCURRENCY
    stream_memory_mb: int
    batch_memory_mb: int


def template_settings() -> TemplateSettings:
    import yaml  # noqa: PLC0415

    from demo.resources import TEMPLATE, _TemplateLoader  # noqa: PLC0415 - the demo's template reader

    with TEMPLATE.open() as handle:
        template = yaml.load(handle, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    parameters = template["Parameters"]
    functions = template["Resources"]
    stream = functions["StreamIngestFunction"]["Properties"]
    batch = functions["BatchIngestFunction"]["Properties"]
    memory = template["Globals"]["Function"]["MemorySize"]
    return TemplateSettings(
        batch_size=int(parameters["StreamBatchSize"]["Default"]),
        batching_window_s=float(parameters["StreamBatchingWindowSeconds"]["Default"]),
        max_concurrency=int(parameters["StreamMaxConcurrency"]["Default"]),
        requests_in_flight=int(stream["Environment"]["Variables"]["STREAM_CONCURRENCY"]),
        stream_memory_mb=int(stream.get("MemorySize", memory)),
        batch_memory_mb=int(batch.get("MemorySize", memory)),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    """The AEP emulator in its own process on ``port`` (so the benchmark's CPU is not the emulator's),
    returned once it answers; the caller terminates it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(["layers/aep", "local"])}
    emulator = subprocess.Popen(
        [sys.executable, "-m", "aep_emulator", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/_admin/counters", timeout=1)
            return emulator
        except requests.ConnectionError:
            time.sleep(0.1)
    emulator.terminate()
    raise RuntimeError(f"the emulator did not answer on port {port}")


@contextlib.contextmanager
def sink(latency_ms: float = 150.0) -> Iterator[str]:
    """The streaming sink (bench/stream_sink.py) in its own process; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "stream_sink.py"), "0", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[1])
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def sink_counters(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{url}/_sink/counters", timeout=10).json()
    return answer


def reset_sink(url: str) -> None:
    requests.post(f"{url}/_sink/reset", timeout=10).raise_for_status()


def function_environment(url: str, requests_in_flight: int) -> dict[str, str]:
    """The streaming function's variables (template.yaml's) pointing at the sink."""
    return {
        "AEP_CREDENTIALS_SECRET_ID": "aep/credentials",
        "AEP_TOKEN_SECRET_ID": "aep/token",
        "AEP_SANDBOX_NAME": "prod",
        "AEP_IMS_URL": url,
        "AEP_PLATFORM_URL": url,
        "AEP_STREAMING_URL": url,
        "STREAM_INLET_ID": INLET,
        "STREAM_DATASET_ID": DATASET,
        "STREAM_SCHEMA_REF": SCHEMA,
        "STREAM_FLOW_ID": FLOW,
        "STREAM_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/aep-connector-stream-dlq",
        "STREAM_CONCURRENCY": str(requests_in_flight),
        "STREAM_DEFAULT_TENANT_QUEUES": QUEUE_ARN,
        "POWERTOOLS_SERVICE_NAME": "stream-ingest",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@contextlib.contextmanager
def streaming_function(url: str, requests_in_flight: int) -> Iterator[Any]:
    """``functions/stream_ingest/app.py`` as Lambda runs it, on moto (credentials and token secrets, DLQ)
    and the sink; yields its ``lambda_handler``. One per process: the handler's client is per container."""
    os.environ.update(function_environment(url, requests_in_flight))
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AepConnectorBench")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(
            Name="aep/credentials",
            SecretString=json.dumps({"client_id": "bench", "client_secret": "bench-secret", "org_id": ORG}),
        )
        secrets.create_secret(Name="aep/token", SecretString="{}")
        boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="aep-connector-stream-dlq")
        app = load_function("stream_ingest")
        yield app.lambda_handler


def load_function(name: str) -> ModuleType:
    """``functions/<name>/app.py`` as Lambda loads it: its folder on the path (``/var/task``), the module
    under a name of its own (every function's is ``app``)."""
    folder = ROOT / "functions" / name
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    module_name = f"{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, folder / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {folder / 'app.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class BenchContext:
    """Lambda's context object: what the handler and Powertools read of it."""

    function_name: str = "stream-ingest"
    timeout_seconds: int = 60
    aws_request_id: str = "bench-invocation"
    memory_limit_in_mb: int = 512

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


def context(timeout_seconds: int = 60) -> Any:
    return BenchContext(function_name="stream-ingest", timeout_seconds=timeout_seconds)


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started
