"""The custom resource's request handling: every request gets exactly one answer.

- Create / Update: setup runs in a worker thread; its outcome is answered SUCCESS with the attributes as
  ``Data``, or FAILED with the reason. Should it not finish ``margin`` seconds before the Lambda deadline,
  FAILED is answered then (the next deploy, or ``Revision``, resumes it: an apply stopped midway is
  completed by the next), and the handler returns. The margin is at least the longest an answer can
  take (:data:`aep_setup.response.WORST_ANSWER_SECONDS`), and every answer's attempts are bounded by
  the time left, so the answer reaches CloudFormation before Lambda stops the function.
- A run that outlived its invocation keeps going in its thread, in the warm container; a later request
  never starts a second one beside it: it waits for it within its own time, or is answered FAILED ("a
  previous setup run is still in progress").
- Delete: SUCCESS at once, whatever the properties: setup never deletes in AEP (a Profile-enabled schema
  cannot be deleted there anyway), and a stack delete is never failed by this resource.
- Anything else (an unknown request type, an exception anywhere): FAILED with the reason.

The PhysicalResourceId is stable: the one CloudFormation sent (Update, Delete), or on Create one derived
from the stack and the logical id, so an Update never makes CloudFormation replace (and delete) it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from aws_lambda_powertools import Logger

from aep.errors import AepError
from aep_setup.converge import REPORT_KEY, converge
from aep_setup.response import MAX_BODY_BYTES, WORST_ANSWER_SECONDS, Responder

# name: the module that logged, kept by every invocation's clear_state (aep.logs.structured_logs)
logger = Logger(service="aep-setup", name="%(name)s")

#: Seconds before the Lambda deadline at which an unfinished Create / Update is answered FAILED: the
#: longest an answer can take, and some spare.
DEFAULT_MARGIN_SECONDS = WORST_ANSWER_SECONDS + 5.0
STILL_RUNNING = "a previous setup run is still in progress (it outlived its request); try again later"

Converge = Callable[[Mapping[str, Any]], Mapping[str, str]]


class Context(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class SetupRuns:
    """The container's setup runs, one at a time. Lambda runs one invocation at a time in a container,
    but a run answered FAILED on timeout goes on in its thread after its invocation returned."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self, work: Callable[[], None], wait: Callable[[], float]) -> bool:
        """Start ``work`` in a thread once no earlier run is alive, waiting for one at most ``wait()``
        seconds; False (and nothing started) when it is still running then."""
        previous = self._thread
        if previous is not None and previous.is_alive():
            logger.warning("a previous setup run is still in progress: waiting for it")
            previous.join(max(0.0, wait()))
            if previous.is_alive():
                return False
        thread = threading.Thread(target=work, name="aep-setup", daemon=True)
        self._thread = thread
        thread.start()
        return True


#: This container's runs (module state on purpose: it outlives an invocation, as the threads do).
RUNS = SetupRuns()


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
    runs: SetupRuns | None = None,
) -> None:
    """Answer one CloudFormation request (see the module's doc); never raises."""
    answer = responder or Responder(event, physical_id(event))
    request = event.get("RequestType")

    def time_left() -> float:
        return context.get_remaining_time_in_millis() / 1000.0

    def budget() -> float:
        return max(0.0, time_left() - margin)

    def send(
        status: Literal["SUCCESS", "FAILED"], reason: str, data: Mapping[str, str] | None = None
    ) -> None:
        answer.send(status, reason, data, time_left=time_left)

    logger.info("custom resource request", extra={"request_type": request})
    try:
        if request == "Delete":
            send("SUCCESS", "setup never deletes in AEP: nothing to do")
            return
        if request not in ("Create", "Update"):
            send("FAILED", f"unknown RequestType {request!r}")
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

        if not (runs or RUNS).start(work, budget):
            logger.error("a previous setup run is still in progress")
            send("FAILED", STILL_RUNNING)
            return
        if not done.wait(budget()):
            logger.error("setup did not finish in time")
            send(
                "FAILED",
                f"setup did not finish {margin:.0f} s before the function's timeout; "
                "what it made stays, and the next run completes it",
            )
            return
        if "error" in outcome:
            error: BaseException = outcome["error"]
            logger.error("setup failed", extra={"error": reason_of(error)})
            send("FAILED", reason_of(error))
            return
        data = outcome["data"]
        logger.info("setup done", extra={"status": data.get("Status"), "report": data.pop(REPORT_KEY, "")})
        status = str(data.get("Status", "done"))
        if len(answer.body("SUCCESS", "", data)) > MAX_BODY_BYTES:
            send(
                "FAILED", f"the outputs exceed CloudFormation's {MAX_BODY_BYTES} bytes (fewer batch routes?)"
            )
            return
        send("SUCCESS", status, data)
    except Exception as exc:
        logger.exception("custom resource request failed")
        send("SUCCESS" if request == "Delete" else "FAILED", reason_of(exc))
