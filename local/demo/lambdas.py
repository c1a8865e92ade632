"""The functions as Lambda runs them: each app.py loaded from its own folder, invoked with a context, in
its own environment (the variables the template gives it), with its own shared AEP client."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from aep import reset_shared_client

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
STACK_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:aep-connector-stream"


def quiet_functions() -> None:
    """The story only: Powertools reads these when the function's Logger and Metrics are created, that is
    when its modules are imported, so they are set before any of them is. A log level set in the shell
    wins (``POWERTOOLS_LOG_LEVEL=INFO make demo`` shows the functions' own log lines)."""
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AepConnectorDemo")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


def load_function(name: str) -> ModuleType:
    """``functions/<name>/app.py``, loaded as Lambda loads it: its folder on the path (``/var/task``), the
    module under a name of its own (every function's is ``app``). Call :func:`quiet_functions` first."""
    folder = FUNCTIONS / name
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    module_name = f"{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, folder / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class DemoContext:
    """Lambda's context object: what the handlers and Powertools read of it."""

    function_name: str = "stream-ingest"
    timeout_seconds: int = 60
    aws_request_id: str = "demo-invocation"
    memory_limit_in_mb: int = 512

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


@contextlib.contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """The function's own variables for the time of its invocations (restored after), and its own shared
    AEP client: in Lambda each function has its own containers, here they share one process."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    reset_shared_client()
    try:
        yield
    finally:
        reset_shared_client()
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class Message:
    """One SQS message: its body, its ``tenant`` attribute (None: none), the queue it was read from."""

    body: str
    tenant: str | None = None
    source: str = STACK_QUEUE_ARN


def sqs_event(messages: list[Message]) -> dict[str, Any]:
    """The SQS event Lambda's event source mapping delivers: one record per message."""
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
