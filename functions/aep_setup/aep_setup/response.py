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

    def send(self, status: Status, reason: str, data: Mapping[str, str] | None = None) -> bool:
        """Answer, unless this request was already answered; whether this call answered."""
        with self._lock:
            if self.sent is not None:
                return False
            self.sent = status
        url = str(self._event.get("ResponseURL", ""))
        body = self.body(status, reason, data or {})
        for attempt in range(1, PUT_ATTEMPTS + 1):
            try:
                code = self._sender(url, body, PUT_TIMEOUT_SECONDS)
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
                self._sleep(0.5 * attempt)
        logger.error("CloudFormation was not answered", extra={"status": status})
        return True
