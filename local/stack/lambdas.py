"""Lambda on one machine: each function in a container of its own (a ``stack.worker`` process with the
function's environment, its code folder first on the path), invoked one event at a time as one Lambda
container is. A handler's error comes back as :class:`InvocationError`, as Lambda reports it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping
from typing import IO, Any

from stack.functions import FunctionSpec
from stack.template import ACCOUNT, REGION, ROOT

#: The layer (``/opt/python``) and the stack's own package (for the worker) on every container's path.
CONTAINER_PATH = [str(ROOT / "layers" / "aep"), str(ROOT / "local")]


class InvocationError(RuntimeError):
    """The handler raised (``error_type``, ``message``), or the container died."""

    def __init__(self, function: str, error_type: str, message: str) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.function = function
        self.error_type = error_type
        self.message = message


def lambda_environment(spec: FunctionSpec, name: str, aws: Mapping[str, str]) -> dict[str, str]:
    """What Lambda sets (region, function name, memory, task root), the AWS endpoint and credentials of
    the local stack (``aws``), then the function's own variables."""
    inherited = {
        k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
    }
    return {
        **inherited,
        "PYTHONPATH": os.pathsep.join(CONTAINER_PATH),
        "PYTHONUNBUFFERED": "1",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "LAMBDA_TASK_ROOT": str(ROOT / spec.code_dir),
        "_HANDLER": spec.handler,
        **aws,
        **spec.environment,
    }


class Container:
    """One function's container. :meth:`start` launches it (its imports run then, as a cold start does);
    :meth:`invoke` runs one event; :meth:`stop` ends it."""

    def __init__(
        self, spec: FunctionSpec, name: str, environment: Mapping[str, str], logs: IO[Any] | None = None
    ) -> None:
        self.spec = spec
        self.name = name
        self.environment = dict(environment)
        self.logs = logs
        self.invocations = 0
        self.init_ms: float | None = None
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: IO[str] | None = None
        self._answers: IO[str] | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}"

    def start(self) -> None:
        """Launch the container; :meth:`wait_ready` waits for its handler to be imported."""
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        command = [
            sys.executable,
            "-m",
            "stack.worker",
            str(ROOT / self.spec.code_dir),
            self.spec.handler,
            str(to_child_r),
            str(from_child_w),
        ]
        self._process = subprocess.Popen(  # noqa: S603 - this interpreter, the repository's own code
            command,
            env=self.environment,
            cwd=ROOT / self.spec.code_dir,
            stdin=subprocess.DEVNULL,
            stdout=self.logs,
            stderr=self.logs,
            pass_fds=(to_child_r, from_child_w),
            # Out of the terminal's process group: Ctrl-C goes to the stack, which stops its containers by
            # closing their pipe (a container still importing would print KeyboardInterrupt tracebacks).
            start_new_session=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._requests = os.fdopen(to_child_w, "w", encoding="utf-8")
        self._answers = os.fdopen(from_child_r, encoding="utf-8")

    def wait_ready(self) -> float:
        """Blocks until the handler is imported. Returns its init time (ms). Raises InvocationError."""
        with self._lock:
            first = self._read()
        self.init_ms = float(first["init_ms"])
        return self.init_ms

    def _read(self) -> dict[str, Any]:
        assert self._answers is not None
        line = self._answers.readline()
        if not line:
            code = self._process.wait() if self._process else None
            raise InvocationError(self.name, "ContainerExited", f"the container ended (exit status {code})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, event: Any) -> Any:
        """The handler's result for ``event``. Raises InvocationError when it raised or the container died."""
        request = {
            "event": event,
            "context": {
                "function_name": self.name,
                "memory": self.spec.memory,
                "arn": self.arn,
                "request_id": str(uuid.uuid4()),
                "timeout": self.spec.timeout,
            },
        }
        with self._lock:
            assert self._requests is not None
            try:
                self._requests.write(json.dumps(request) + "\n")
                self._requests.flush()
            except (BrokenPipeError, ValueError) as exc:
                raise InvocationError(self.name, "ContainerExited", "the container is not running") from exc
            answer = self._read()
            self.invocations += 1
        if "error" in answer:
            error = answer["error"]
            raise InvocationError(self.name, error["errorType"], error["errorMessage"])
        return answer["result"]

    def stop(self, timeout: float = 5.0) -> None:
        """Closes its input (the worker's loop ends) and waits; kills it if it does not end in time."""
        if self._requests is not None:
            with contextlib.suppress(BrokenPipeError):
                self._requests.close()
            self._requests = None
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._answers is not None:
            self._answers.close()
            self._answers = None
