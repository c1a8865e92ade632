"""HTTP transport: one pooled ``requests.Session`` per container, retries, deadline, 401 refresh.

TLS verification is always on (``verify`` is never turned off). Every call goes through
:meth:`Transport.request`, which retries what :mod:`aep.retry` says is retryable, refreshes the token once
on a 401 (reporting every rejected token to the token cache, which bounds refreshes), and gives up with a
typed :class:`~aep.errors.AepError` (a 401/403 that persists is a retryable ``AepAuthError``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter

from aep.errors import AepError, AepTimeoutError, error_from_response
from aep.retry import RetryPolicy
from aep.timing import Clock, Deadline, SystemClock

logger = logging.getLogger(__name__)

USER_AGENT = "aep-aws-connector/0.1"
OK_STATUSES = frozenset({200, 201, 202, 204, 207})


class Authenticator(Protocol):
    """Adds Platform headers to a request and forgets a token Platform rejected."""

    def headers(self) -> dict[str, str]: ...

    def invalidate(self, authorization_header: str) -> None: ...


def new_session(pool_size: int) -> requests.Session:
    """A session whose pool holds ``pool_size`` keep-alive connections per host; no urllib3 retries."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0, pool_block=False)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.verify = True
    return session


class Transport:
    """Sends requests with retries; shared by every API of a client (thread-safe for concurrent use)."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        pool_size: int = 16,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.session = session or new_session(pool_size)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.policy = policy or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self.authenticator = authenticator
        self.deadline: Deadline | None = None  # the invocation's deadline, set by the handler

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | Mapping[str, str] | None = None,
        body: Callable[[], Any] | None = None,
        authenticated: bool = True,
        refresh_on: Collection[int] = (401,),
        ok: Collection[int] = OK_STATUSES,
        deadline: Deadline | None = None,
        context: str = "",
    ) -> requests.Response:
        """Send one logical request, retrying transient failures.

        ``body`` is a factory called on every attempt (a fresh stream for uploads); ``data``/``json`` are
        replayed as they are. Raises the :class:`AepError` subclass for the last failure; the wait before
        each retry never runs past ``deadline`` (or the transport's invocation deadline).
        """
        deadline = deadline.earliest(self.deadline) if deadline is not None else self.deadline
        context = context or f"{method} {_path_of(url)}"
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            if deadline is not None and deadline.expired():
                raise AepTimeoutError(f"{context}: deadline reached before attempt {attempt}")
            send_headers = dict(headers or {})
            if authenticated and self.authenticator is not None:
                send_headers.update(self.authenticator.headers())
            read_timeout = self.read_timeout
            if deadline is not None:
                read_timeout = max(0.1, min(read_timeout, deadline.remaining()))
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    headers=send_headers,
                    json=json,
                    data=body() if body is not None else data,
                    timeout=(self.connect_timeout, read_timeout),
                    verify=True,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                error: AepError = AepTimeoutError(f"{context}: {type(exc).__name__}")
                error.__cause__ = exc
            else:
                if response.status_code in ok:
                    return response
                if response.status_code in refresh_on and authenticated and self.authenticator is not None:
                    # Every rejection is reported: the token cache decides whether to refresh or back off.
                    self.authenticator.invalidate(send_headers.get("Authorization", ""))
                    if not refreshed:
                        refreshed = True
                        attempt -= 1
                        logger.info("token rejected; refreshing once", extra={"context": context})
                        continue
                error = error_from_response(response, context)
                if not self.policy.is_retryable_status(response.status_code):
                    raise error
            wait = self.policy.wait(attempt, error.retry_after)
            remaining = deadline.remaining() if deadline is not None else None
            if not self.policy.should_retry(attempt, wait, remaining):
                raise error
            logger.warning(
                "retrying AEP call",
                extra={
                    "context": context,
                    "attempt": attempt,
                    "wait": round(wait, 3),
                    "status": error.status,
                },
            )
            self.clock.sleep(wait)


def _path_of(url: str) -> str:
    """The URL without scheme, host and query: safe to log (identity values travel in the query)."""
    without_scheme = url.split("://", 1)[-1]
    path = "/" + without_scheme.split("/", 1)[1] if "/" in without_scheme else "/"
    return path.split("?", 1)[0]
