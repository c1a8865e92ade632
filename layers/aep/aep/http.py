"""HTTP transport: one pooled ``requests.Session`` per container, retries, deadline, 401 refresh.

TLS verification is always on (``verify`` is never turned off) and redirects are never followed (a
redirect would re-send the client secret or the token to another host): a 3xx is a non-retryable
:class:`~aep.errors.AepRedirectError`. Every call goes through :meth:`Transport.request`, which retries
what :mod:`aep.retry` says is retryable, refreshes the token once on a 401 (reporting every rejected token
to the token cache, which bounds refreshes), and gives up with a typed :class:`~aep.errors.AepError` (a
401/403 that persists is a retryable ``AepAuthError``); every exception of ``requests``/``urllib3`` becomes
one (see :func:`~aep.errors.error_from_exception`). The deadline bounds the whole exchange on the wall
clock, answer body included (:mod:`aep.wallclock`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol, TypeVar

import requests
from pydantic import BaseModel

from aep.errors import AepError, AepTimeoutError, AepTransportError, error_from_exception, error_from_response
from aep.retry import RetryPolicy
from aep.timing import Clock, Deadline, SystemClock
from aep.wallclock import WallClock, WatchedAdapter, mount

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
    adapter = WatchedAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0, pool_block=False)
    mount(session, adapter)
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
        #: Called after every attempt with its HTTP status (None: no answer) and whether it was an
        #: authenticated (Platform) call, retries and the 401 refresh included: for logs and metrics.
        self.on_attempt: Callable[[int | None, bool], None] | None = None

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
        before_retry: Callable[[AepError], None] | None = None,
    ) -> requests.Response:
        """Send one logical request, retrying transient failures.

        ``body`` is a factory called on every attempt (a fresh stream for uploads); ``data``/``json`` are
        replayed as they are. ``before_retry`` is called with the failure before each retry (after its
        wait): it may raise to stop the retries, e.g. when it finds the earlier attempt did succeed.
        Raises the :class:`AepError` subclass for the last failure; the wait before each retry never
        runs past ``deadline`` (or the transport's invocation deadline).
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
            try:
                response = self._exchange(
                    method,
                    url,
                    params=params,
                    headers=send_headers,
                    json=json,
                    data=body() if body is not None else data,
                    deadline=deadline,
                    context=context,
                )
            except AepError as exc:
                self._attempted(exc.status, authenticated)
                error: AepError = exc
                if not error.retryable:
                    raise
            else:
                self._attempted(response.status_code, authenticated)
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
            if before_retry is not None:
                before_retry(error)

    def _attempted(self, status: int | None, authenticated: bool) -> None:
        if self.on_attempt is not None:
            self.on_attempt(status, authenticated)

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        json: Any,
        data: Any,
        deadline: Deadline | None,
        context: str,
    ) -> requests.Response:
        """One attempt: send, read the whole answer, within the deadline on the wall clock.

        Raises the typed error of :func:`error_from_exception` (without the original exception, whose
        message may quote a header value or the URL), or AepTimeoutError when the deadline cut it short.
        """
        read_timeout = self.read_timeout
        if deadline is not None:
            read_timeout = max(0.1, min(read_timeout, deadline.remaining()))
        wall = WallClock(deadline.remaining()) if deadline is not None else None
        try:
            with wall if wall is not None else contextlib.nullcontext():
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    headers=headers,
                    json=json,
                    data=data,
                    timeout=(self.connect_timeout, read_timeout),
                    verify=True,
                    allow_redirects=False,
                    stream=True,
                )
                try:
                    _ = response.content  # read the whole answer under the wall clock
                finally:
                    # Releases the connection, or discards it when the answer broke off or was garbled:
                    # it is never reused for the next attempt.
                    response.close()
                if wall is not None and wall.fired:  # cut short: what was read is not the answer
                    raise TimeoutError
        except Exception as exc:  # every failure of the exchange becomes a typed error
            if wall is not None and wall.fired:
                failure: AepError = AepTimeoutError(f"{context}: deadline reached during the exchange")
            else:
                failure = error_from_exception(exc, context)
            if failure is exc:
                raise
            raise failure from None
        return response


M = TypeVar("M", bound=BaseModel)


def json_of(response: requests.Response, context: str) -> Any:
    """The answer's JSON. Raises AepTransportError (not retryable) when the answer is not JSON."""
    try:
        return response.json()
    except ValueError:
        raise AepTransportError(
            f"{context}: the answer is not JSON", retryable=False, status=response.status_code
        ) from None


def model_of(model: type[M], data: Any, context: str, status: int | None = None) -> M:
    """``data`` read into ``model``. Raises AepTransportError (not retryable) when it does not fit."""
    try:
        return model.model_validate(data)
    except ValueError:
        raise AepTransportError(
            f"{context}: the answer is not a valid {model.__name__}", retryable=False, status=status
        ) from None


def _path_of(url: str) -> str:
    """The URL without scheme, host and query: safe to log (identity values travel in the query)."""
    without_scheme = url.split("://", 1)[-1]
    path = "/" + without_scheme.split("/", 1)[1] if "/" in without_scheme else "/"
    return path.split("?", 1)[0]
