"""Every failure of a lookup as one error with an HTTP status, a stable code and a message.

:func:`from_aep` maps the AEP client's typed errors (:mod:`aep.errors`): AEP's 429 beyond our retries is
our 429 with ``Retry-After``; a 422 (the identity graph links more than 50 identities) our 422; any other
AEP failure (5xx, a refused token, a broken or refused exchange) our 502; the deadline passed, 504. Messages
are fixed text or AEP's own message class names: never an identity value.
"""

from __future__ import annotations

import math

from aep.errors import (
    AepAuthError,
    AepConfigError,
    AepError,
    AepNotFoundError,
    AepThrottledError,
    AepTimeoutError,
    AepValidationError,
)
from aep.tenants.callers import CallerNotAllowedError
from aep.tenants.registry import TenantLookupError
from aep.timing import Deadline


class ApiError(Exception):
    """An answer other than 200: ``status``, a stable ``code``, a ``message`` without identity values."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str | None:
        """``Retry-After`` in whole seconds (at least 1), when there is one."""
        if self.retry_after is None:
            return None
        return str(max(1, math.ceil(self.retry_after)))


def bad_request(message: str, code: str = "invalid-request") -> ApiError:
    return ApiError(400, code, message)


def deadline_passed() -> ApiError:
    return ApiError(504, "deadline", "the lookup did not finish within its deadline")


def from_aep(exc: AepError, deadline: Deadline | None = None) -> ApiError:
    """Our answer for an error of the AEP client or of the tenant layer."""
    if isinstance(exc, CallerNotAllowedError):
        return ApiError(403, "forbidden", "the caller may not read this tenant's profiles")
    if isinstance(exc, TenantLookupError):
        return ApiError(503, "registry-unavailable", "the tenant registry cannot be read", retry_after=1)
    if isinstance(exc, AepConfigError):
        return ApiError(500, "configuration", "the deployment's AEP configuration is unusable")
    if deadline is not None and deadline.expired():
        return deadline_passed()
    if isinstance(exc, AepThrottledError):
        return ApiError(
            429, "throttled", "AEP is throttling profile lookups", retry_after=exc.retry_after or 1.0
        )
    if isinstance(exc, AepTimeoutError):
        return ApiError(504, "deadline", "AEP did not answer within the lookup's deadline")
    if isinstance(exc, AepNotFoundError):
        return ApiError(404, "not-found", "no profile for this identity")
    if isinstance(exc, AepValidationError) and exc.status == 422:
        return ApiError(
            422, "identity-graph-too-large", "AEP cannot merge a graph linking more than 50 identities"
        )
    if isinstance(exc, AepAuthError):
        if exc.status is None or exc.status >= 500 or exc.status == 429:  # IMS down or busy, not a refusal
            return ApiError(
                502,
                "ims-unavailable",
                "Adobe IMS cannot issue a token now",
                retry_after=exc.retry_after or 1.0,
            )
        return ApiError(502, "aep-auth", "AEP refused this deployment's credentials")
    return ApiError(502, "aep-failure", f"AEP failed the lookup (HTTP {exc.status or 'no answer'})")
