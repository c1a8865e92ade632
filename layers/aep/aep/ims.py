"""Adobe IMS OAuth server-to-server: exchange the client credentials for an access token."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aep.config import AepCredentials
from aep.errors import AepAuthError, AepError
from aep.token import AccessToken

if TYPE_CHECKING:
    from aep.http import Transport

logger = logging.getLogger(__name__)

TOKEN_PATH = "/ims/token/v3"  # noqa: S105 - a path, not a password


class ImsTokenFetcher:
    """Calls ``POST {ims_url}/ims/token/v3`` with form-encoded ``client_credentials``.

    Throttling and 5xx from IMS are retried by the transport like any other call; a refusal (bad
    credential, scope) becomes :class:`AepAuthError` carrying IMS's ``error`` and ``error_description``,
    never the secret.
    """

    def __init__(self, transport: Transport, ims_url: str, credentials: AepCredentials) -> None:
        self._transport = transport
        self._url = ims_url.rstrip("/") + TOKEN_PATH
        self._credentials = credentials

    def __call__(self) -> AccessToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret.get_secret_value(),
            "scope": self._credentials.scopes,
        }
        started = self._transport.clock.now()
        try:
            response = self._transport.request(
                "POST", self._url, data=form, authenticated=False, context="IMS token request"
            )
        except AepError as exc:
            if exc.retryable:
                raise
            raise AepAuthError(
                f"IMS refused the token request: {exc.message}",
                status=exc.status,
                request_id=exc.request_id,
                code=exc.code,
                body=exc.body,
            ) from exc
        try:
            payload = response.json()
            value = str(payload["access_token"])
            expires_in = float(payload["expires_in"])  # seconds for /ims/token/v3
        except (ValueError, KeyError, TypeError) as exc:
            raise AepAuthError(
                "IMS answered without access_token/expires_in", status=response.status_code
            ) from exc
        if not value or expires_in <= 0:
            raise AepAuthError("IMS returned an empty or already expired token", status=response.status_code)
        token = AccessToken(value=value, expires_at=started + expires_in)
        logger.info("fetched IMS token", extra={"token": token.fingerprint, "expires_in": expires_in})
        return token
