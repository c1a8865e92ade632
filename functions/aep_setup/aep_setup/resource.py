"""The custom resource's request handling: every request gets exactly one answer.

- Create / Update: setup runs in a worker thread; its outcome is answered SUCCESS with the attributes as
  ``Data``, or FAILED with the reason. Should it not finish ``margin`` seconds before the Lambda deadline,
  FAILED is answered then (the next deploy, or ``Revision``, resumes it: an apply stopped midway is
  completed by the next), and the handler returns.
- Delete: SUCCESS at once, whatever the properties: setup never deletes in AEP (a Profile-enabled schema
  cannot be deleted there anyway), and a stack delete is never failed by this resource.
- Anything else (an unknown request type, an exception anywhere): FAILED with the reason.

The PhysicalResourceId is stable: the one CloudFormation sent (Update, Delete), or on Create one derived
from the stack and the logical id, so an Update never makes CloudFormation replace (and delete) it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from aep.errors import AepError
from aep_setup.converge import REPORT_KEY, converge
from aep_setup.response import Responder

logger = Logger(service="aep-setup")

#: Seconds before the Lambda deadline at which an unfinished Create / Update is answered FAILED.
DEFAULT_MARGIN_SECONDS = 15.0

Converge = Callable[[Mapping[str, Any]], Mapping[str, str]]


class Context(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def physical_id(event: Mapping[str, Any]) -> str:
    """The id CloudFormation knows the resource by, the same for the resource's whole life."""
    given = event.get("PhysicalResourceId")
    if isinstance(given, str) and given:
        return given
    stack = str(event.get("StackId", "")).rsplit("/", 1)[-1] or "stack"
    return f"aep-setup-{event.get('LogicalResourceId', 'AepSetup')}-{stack}"


def reason_of(exc: BaseException) -> str:
    """Why it failed, for CloudFormation's events: the error's own message (the layer's errors never hold
    a secret), or only the class of anything else."""
    if isinstance(exc, AepError | ValueError):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__} (see the function's log)"


def handle(
    event: Mapping[str, Any],
    context: Context,
    *,
    run: Converge = converge,
    margin: float = DEFAULT_MARGIN_SECONDS,
    responder: Responder | None = None,
) -> None:
    """Answer one CloudFormation request (see the module's doc); never raises."""
    answer = responder or Responder(event, physical_id(event))
    request = event.get("RequestType")
    logger.info("custom resource request", extra={"request_type": request})
    try:
        if request == "Delete":
            answer.send("SUCCESS", "setup never deletes in AEP: nothing to do")
            return
        if request not in ("Create", "Update"):
            answer.send("FAILED", f"unknown RequestType {request!r}")
            return
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                outcome["data"] = dict(run(event.get("ResourceProperties") or {}))
            except BaseException as exc:  # every outcome is answered, whatever it is
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name="aep-setup", daemon=True).start()
        budget = context.get_remaining_time_in_millis() / 1000.0 - margin
        if not done.wait(max(0.0, budget)):
            logger.error("setup did not finish in time")
            answer.send(
                "FAILED",
                f"setup did not finish {margin:.0f} s before the function's timeout; "
                "what it made stays, and the next run completes it",
            )
            return
        if "error" in outcome:
            error: BaseException = outcome["error"]
            logger.error("setup failed", extra={"error": reason_of(error)})
            answer.send("FAILED", reason_of(error))
            return
        data = outcome["data"]
        logger.info("setup done", extra={"status": data.get("Status"), "report": data.pop(REPORT_KEY, "")})
        answer.send("SUCCESS", str(data.get("Status", "done")), data)
    except Exception as exc:
        logger.exception("custom resource request failed")
        answer.send("SUCCESS" if request == "Delete" else "FAILED", reason_of(exc))
