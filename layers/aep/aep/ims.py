"""Adobe IMS OAuth server-to-server: exchange the client credentials for an access token."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aep.config import AepCredentials
from aep.errors import AepAuthError, AepError
from aep.token import AccessToken

if TYPE_CHECKING:
    from aep.http import Transport

logger = logging.getLogger(__name__)

TOKEN_PATH = "/ims/token/v3"  # noqa: S105 - a path, not a password
INVALID_CLIENT = "invalid_client"
MAX_LIFETIME = 366 * 86_400.0  # IMS tokens live 24 h; a lifetime past a year is a corrupted answer


class ImsTokenFetcher:
    """Calls ``POST {ims_url}/ims/token/v3`` with form-encoded ``client_credentials``.

    Throttling and 5xx from IMS are retried by the transport like any other call; a refusal (bad
    credential, scope) becomes :class:`AepAuthError` carrying IMS's ``error`` and ``error_description``,
    never the secret. On ``invalid_client`` (IMS answers it with 400 or 401 when the client secret was
    rotated) the credentials are read again once through ``reload``; when they changed, the request is
    made once more with the new ones, otherwise the refusal is raised (the token cache then backs off).

    :attr:`requests` counts the token requests made (each may include the transport's own retries); the
    streaming function publishes it as the ``ImsTokenRequests`` metric through :meth:`take_count`.
    """

    def __init__(
        self,
        transport: Transport,
        ims_url: str,
        credentials: AepCredentials,
        reload: Callable[[], AepCredentials] | None = None,
    ) -> None:
        self._transport = transport
        self._url = ims_url.rstrip("/") + TOKEN_PATH
        self._credentials = credentials
        self._reload = reload
        self._lock = threading.Lock()
        self.requests = 0
        self._taken = 0

    @property
    def credentials(self) -> AepCredentials:
        return self._credentials

    def take_count(self) -> int:
        """Token requests made since the previous call (for a per-invocation metric)."""
        with self._lock:
            count, self._taken = self.requests - self._taken, self.requests
        return count

    def __call__(self) -> AccessToken:
        """A new token. Raises AepAuthError when IMS refuses or answers nonsense, what the transport
        raises when IMS cannot be reached (retryable either way)."""
        try:
            return self._request(self._credentials)
        except AepAuthError as exc:
            if exc.code != INVALID_CLIENT or self._reload is None:
                raise
            fresh = self._reread()
            if fresh is None or fresh == self._credentials:
                raise
            logger.warning("IMS refused the client; using the credentials secret's new value")
            self._credentials = fresh
            return self._request(fresh)

    def _reread(self) -> AepCredentials | None:
        assert self._reload is not None
        try:
            return self._reload()
        except AepError as exc:
            logger.warning("cannot read the credentials secret again", extra={"error": exc.message})
            return None

    def _request(self, credentials: AepCredentials) -> AccessToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.get_secret_value(),
            "scope": credentials.scopes,
        }
        with self._lock:
            self.requests += 1
        started = self._transport.clock.now()
        try:
            response = self._transport.request(
                "POST", self._url, data=form, authenticated=False, context="IMS token request"
            )
        except AepError as exc:
            if exc.status is None or exc.status >= 500 or exc.status == 429:
                raise
            raise AepAuthError(
                f"IMS refused the token request: {exc.message}",
                status=exc.status,
                request_id=exc.request_id,
                code=exc.code,
                body=exc.body,
            ) from exc
        try:
            token = _token_from(response.json(), started)
        except (ValueError, KeyError, TypeError) as exc:
            # The answer's text is not repeated: it may hold a token.
            raise AepAuthError(
                "IMS answered without a usable access_token/expires_in", status=response.status_code
            ) from exc
        logger.info(
            "fetched IMS token", extra={"token": token.fingerprint, "expires_in": token.expires_at - started}
        )
        return token


def _token_from(payload: Any, started: float) -> AccessToken:
    """The token of an IMS answer. Raises ValueError/KeyError/TypeError when it is not a usable one
    (AccessToken refuses a value that is not an RFC 6750 b64token)."""
    value = payload["access_token"]
    expires_in = payload["expires_in"]  # seconds for /ims/token/v3
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        raise TypeError("expires_in is not a number")
    if not 0 < expires_in <= MAX_LIFETIME:  # false for NaN and infinities
        raise ValueError("expires_in is out of range")
    return AccessToken(value=value, expires_at=started + expires_in, issued_at=started)
