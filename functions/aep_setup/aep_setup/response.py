"""The one answer to CloudFormation: a JSON document PUT to the request's pre-signed ``ResponseURL``
(S3), with an empty content type (the URL is signed without one), sent at most once per request."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Literal

logger = logging.getLogger(__name__)

Status = Literal["SUCCESS", "FAILED"]
#: CloudFormation refuses an answer larger than 4096 bytes; the reason is cut to fit.
MAX_BODY_BYTES = 4096
MAX_REASON_CHARS = 1000
#: PUT attempts (a failed PUT is not an answer: CloudFormation would wait for its own timeout).
PUT_ATTEMPTS = 3
PUT_TIMEOUT_SECONDS = 10.0
#: The pauses between attempts (after the first and the second failed PUT).
PUT_PAUSES = (0.5, 1.0)
#: The longest an answer can take: every attempt timing out, and the pauses between them. An answer
#: started this long before the Lambda deadline reaches CloudFormation before Lambda stops the function.
WORST_ANSWER_SECONDS = PUT_ATTEMPTS * PUT_TIMEOUT_SECONDS + sum(PUT_PAUSES)
#: Kept free of the time left when bounding an attempt (the runtime's own wind-down).
SPARE_SECONDS = 0.5
#: The shortest timeout an attempt is given (the first one is made even when no time seems left).
MIN_PUT_TIMEOUT_SECONDS = 1.0


def put(url: str, body: bytes, timeout: float) -> int:
    """PUT ``body`` to ``url`` with ``Content-Type: ''``; the HTTP status. Raises OSError on failure."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("the ResponseURL is not an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310  # nosec B310
        return int(answer.status)


class Responder:
    """Answers one CloudFormation request exactly once, whichever path gets there first (the work, an
    error, the timer); later calls to :meth:`send` are ignored and return False."""

    def __init__(
        self,
        event: Mapping[str, Any],
        physical_id: str,
        *,
        sender: Callable[[str, bytes, float], int] = put,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._event = event
        self.physical_id = physical_id
        self._sender = sender
        self._sleep = sleep
        self._lock = threading.Lock()
        self.sent: Status | None = None

    def body(self, status: Status, reason: str, data: Mapping[str, str]) -> bytes:
        """The answer's JSON (the reason cut so that the whole fits in MAX_BODY_BYTES)."""
        answer = {
            "Status": status,
            "Reason": reason[:MAX_REASON_CHARS],
            "PhysicalResourceId": self.physical_id,
            "StackId": self._event.get("StackId", ""),
            "RequestId": self._event.get("RequestId", ""),
            "LogicalResourceId": self._event.get("LogicalResourceId", ""),
            "NoEcho": False,
            "Data": dict(data),
        }
        encoded = json.dumps(answer).encode()
        while len(encoded) > MAX_BODY_BYTES and answer["Reason"]:
            answer["Reason"] = str(answer["Reason"])[: len(str(answer["Reason"])) // 2]
            encoded = json.dumps(answer).encode()
        return encoded

    def send(
        self,
        status: Status,
        reason: str,
        data: Mapping[str, str] | None = None,
        *,
        time_left: Callable[[], float] | None = None,
    ) -> bool:
        """Answer, unless this request was already answered; whether this call answered.

        ``time_left`` (seconds until the Lambda deadline) bounds each attempt's timeout, and a further
        attempt is made only when its pause and a short attempt still fit: a slow ResponseURL never keeps
        the function past its deadline, where Lambda would stop it silently."""
        with self._lock:
            if self.sent is not None:
                return False
            self.sent = status
        url = str(self._event.get("ResponseURL", ""))
        body = self.body(status, reason, data or {})
        for attempt in range(1, PUT_ATTEMPTS + 1):
            timeout = PUT_TIMEOUT_SECONDS
            if time_left is not None:
                # the first attempt is always made (nothing is lost by trying), the others only in time
                timeout = max(MIN_PUT_TIMEOUT_SECONDS, min(timeout, time_left() - SPARE_SECONDS))
            try:
                code = self._sender(url, body, timeout)
            except (OSError, ValueError) as exc:
                refused = exc.code if isinstance(exc, urllib.error.HTTPError) else None
                logger.warning(
                    "answering CloudFormation failed",
                    extra={"attempt": attempt, "error": type(exc).__name__, "status": refused},
                )
                if isinstance(exc, ValueError):
                    break
            else:
                logger.info("answered CloudFormation", extra={"status": status, "http_status": code})
                return True
            if attempt < PUT_ATTEMPTS:
                pause = PUT_PAUSES[attempt - 1]
                if time_left is not None and time_left() - SPARE_SECONDS < pause + MIN_PUT_TIMEOUT_SECONDS:
                    logger.error("no time left to answer CloudFormation again", extra={"attempt": attempt})
                    break
                self._sleep(pause)
        logger.error("CloudFormation was not answered", extra={"status": status})
        return True
