"""One function's container: ``python -m stack.worker CODE_DIR HANDLER FD_IN FD_OUT``, started by
:class:`stack.lambdas.Container` with the function's environment. Its code folder is first on the path
(``/var/task``), the handler is imported once (a cold start), then each request line on ``FD_IN`` (an
event and the context's values, JSON) is answered on ``FD_OUT`` with the handler's result or its error.
Its own stdout and stderr are the function's logs. Ctrl-C is for the stack, which stops it by closing
``FD_IN``."""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Context:
    """Lambda's context object: what handlers and Powertools read of it."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float  # time.monotonic() at which the invocation times out

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def serve(code_dir: str, handler_name: str, requests: Any, answers: Any) -> None:
    sys.path.insert(0, code_dir)
    module_name, _, function_name = handler_name.rpartition(".")
    started = time.perf_counter()
    handler = getattr(importlib.import_module(module_name), function_name)
    init_ms = (time.perf_counter() - started) * 1000
    answers.write(json.dumps({"ready": True, "init_ms": init_ms}) + "\n")
    answers.flush()
    for line in requests:
        request = json.loads(line)
        c = request["context"]
        context = Context(
            function_name=c["function_name"],
            memory_limit_in_mb=c["memory"],
            invoked_function_arn=c["arn"],
            aws_request_id=c["request_id"],
            deadline=time.monotonic() + c["timeout"],
        )
        try:
            answer: dict[str, Any] = {"result": handler(request["event"], context)}
        except Exception as exc:
            answer = {
                "error": {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc),
                }
            }
        answers.write(json.dumps(answer, default=str) + "\n")
        answers.flush()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code_dir, handler_name, fd_in, fd_out = argv
    with os.fdopen(int(fd_in), encoding="utf-8") as requests, os.fdopen(int(fd_out), "w") as answers:
        serve(code_dir, handler_name, requests, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
