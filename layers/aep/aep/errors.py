"""One error hierarchy for everything the AEP client raises.

AEP has no single error shape: the Adobe I/O gateway answers ``{error_code, message}``, most services an
RFC 7807-like problem ``{type, title, status, detail, report}``, Profile ``{message, cause, statusCode}``
(status as a string, sometimes inside a list) and IMS the OAuth ``{error, error_description}``.
:func:`error_from_response` reads them all into the same fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests

_REQUEST_ID_HEADERS = ("x-request-id", "x-adobe-request-id", "request-id", "x-amzn-requestid")
_MAX_BODY_KEPT = 4000


class AepError(Exception):
    """Base class of every error raised by the ``aep`` package.

    Attributes:
        status: HTTP status, or None when no response came back.
        request_id: the request id AEP returned, when it did.
        code: AEP's error code (``401013``, ``INGEST-1212-400``, ``invalid_client``...), when given.
        message: the service's own message, or ours.
        body: the response body (truncated), for diagnosis.
        retry_after: seconds the service asked us to wait, when it did.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        body: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.code = code
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)

    @property
    def retryable(self) -> bool:
        """True when sending the same request again later may succeed."""
        return False


class AepConfigError(AepError):
    """The configuration (environment or credentials secret) is missing or invalid."""


class AepAuthError(AepError):
    """Authentication or authorisation failed (IMS error, Platform 401/403).

    Retryable: auth is never a property of a record. A revoked token, a rotated client secret or a
    permission being granted are fixed outside the request, so the same request may succeed later.
    """

    @property
    def retryable(self) -> bool:
        return True


class AepNotFoundError(AepError):
    """The resource does not exist (404)."""


class AepValidationError(AepError):
    """AEP refused the request as invalid (400, 422, 414, 415)."""


class AepPayloadTooLargeError(AepValidationError):
    """The request body is over AEP's limit (413)."""


class AepThrottledError(AepError):
    """AEP asked us to slow down (429)."""

    @property
    def retryable(self) -> bool:
        return True


class AepServerError(AepError):
    """AEP failed (5xx)."""

    @property
    def retryable(self) -> bool:
        return True


class AepTimeoutError(AepError):
    """No answer in time: connection failure, read timeout or the overall deadline."""

    @property
    def retryable(self) -> bool:
        return True


class AepRedirectError(AepError):
    """AEP or IMS answered a redirect (3xx). Never followed: it would re-send credentials elsewhere."""


class AepTransportError(AepError):
    """The exchange failed below HTTP semantics: a malformed or broken answer, or an unsendable request.

    ``retryable`` says whether sending again may help (a broken or garbled answer) or not (a request
    that cannot be built, such as a header value with a line break).
    """

    def __init__(self, message: str, *, retryable: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self._retryable = retryable

    @property
    def retryable(self) -> bool:
        return self._retryable


class AepSourceError(AepTransportError):
    """Reading the bytes to upload failed, or the source held fewer bytes than its size."""


def error_class_for(status: int) -> type[AepError]:
    """The error class for an HTTP status."""
    if 300 <= status < 400:
        return AepRedirectError
    if status in (401, 403):
        return AepAuthError
    if status == 404:
        return AepNotFoundError
    if status == 413:
        return AepPayloadTooLargeError
    if status == 429:
        return AepThrottledError
    if status >= 500:
        return AepServerError
    if 400 <= status < 500:
        return AepValidationError
    return AepError


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, ""):
            return value
    return None


def parse_error_body(text: str) -> tuple[str | None, str | None, float | None]:
    """Return (code, message, retry_after_seconds) from any documented AEP error body."""
    try:
        data: Any = json.loads(text) if text else None
    except ValueError:
        return None, (text.strip()[:300] or None), None
    if isinstance(data, list):  # Profile 429 answers a list of error objects
        data = next((item for item in data if isinstance(item, dict)), None)
    if not isinstance(data, dict):
        return None, None, None
    code = _first(data, "error_code", "code", "error")
    message = _first(data, "message", "detail", "error_description", "title")
    report = data.get("report")
    if isinstance(report, dict):
        message = _first(report, "message", "detailed-message") or message
    problem_type = data.get("type")
    if code is None and isinstance(problem_type, str) and problem_type:
        code = problem_type.rstrip("/").rsplit("/", 1)[-1]
    if isinstance(data.get("cause"), str) and message:
        message = f"{message} ({data['cause']})"
    retry_after = None
    if data.get("retryAfterMs") not in (None, ""):
        try:
            retry_after = float(data["retryAfterMs"]) / 1000.0
        except (TypeError, ValueError):
            retry_after = None
    return (str(code) if code is not None else None), (str(message) if message else None), retry_after


def parse_retry_after_header(value: str | None) -> float | None:
    """``Retry-After`` in seconds (AEP documents the integer-seconds form only)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


def request_id_of(headers: Mapping[str, str]) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def error_from_response(response: requests.Response, context: str = "") -> AepError:
    """Build the typed error for a non-success response.

    A redirect's body and headers are not kept: they name the ``Location``, which may carry anything.
    """
    status = response.status_code
    prefix = f"{context}: " if context else ""
    if 300 <= status < 400:
        return AepRedirectError(
            f"{prefix}redirect (HTTP {status}) refused: redirects are never followed",
            status=status,
            request_id=request_id_of(response.headers),
        )
    text = response.text if response.content else ""
    code, message, retry_after_body = parse_error_body(text)
    retry_after = parse_retry_after_header(response.headers.get("Retry-After"))
    if retry_after is None:
        retry_after = retry_after_body
    return error_class_for(status)(
        f"{prefix}{message or response.reason or 'HTTP error'}",
        status=status,
        request_id=request_id_of(response.headers),
        code=code,
        body=text[:_MAX_BODY_KEPT] if text else None,
        retry_after=retry_after,
    )


#: Failures of the request itself: sending the same request again fails the same way.
_UNSENDABLE: tuple[type[BaseException], ...] = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidJSONError,
    requests.exceptions.TooManyRedirects,
    ValueError,
)


def error_from_exception(exc: BaseException, context: str = "") -> AepError:
    """The typed error for an exception raised while sending a request or reading its answer.

    The message names the exception's class only: the messages of ``requests`` and ``urllib3`` quote
    header values (``Bearer <token>``) and URLs (identity values travel in query strings), so they are
    never copied, and the caller raises this error ``from None``.
    """
    if isinstance(exc, AepError):
        return exc
    prefix = f"{context}: " if context else ""
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.ContentDecodingError | requests.exceptions.ChunkedEncodingError):
        return AepTransportError(f"{prefix}malformed answer ({name})", retryable=True)
    if isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError):
        return AepTimeoutError(f"{prefix}no answer ({name})")
    if isinstance(exc, _UNSENDABLE):
        return AepTransportError(f"{prefix}request could not be sent ({name})", retryable=False)
    return AepTransportError(f"{prefix}transport failure ({name})", retryable=True)
