"""A two-level token cache: this container's memory, then a secret in AWS Secrets Manager.

Adobe throttles integrations that mint too many tokens, and a Lambda fleet has many containers. So:

* each container keeps the token in memory until its own refresh point: ``expires_at - margin - jitter``,
  the jitter drawn once per container so the fleet does not refresh at the same moment;
* past that point it re-reads the shared secret: a token another container already refreshed is adopted;
* when the shared token itself needs refreshing, the container first takes a *lease*: a
  ``PutSecretValue`` whose ``ClientRequestToken`` is derived from the current secret version (and a time
  bucket, so a lease held by a container that died expires). Secrets Manager refuses the same token with
  different content, so exactly one container wins, calls IMS and writes the new token back (it becomes
  ``AWSCURRENT``). Losers keep using the current token, which is still valid because refresh happens
  early, and re-read the secret a little later;
* on a 401 the transport calls :meth:`TokenCache.invalidate`; the next :meth:`get` treats that token as
  unusable, and the same lease makes one container fetch a replacement while the others wait for it.

If Secrets Manager cannot be read or written the cache still works, per container (logged as a warning).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aep.timing import Clock
from aep.token import AccessToken

logger = logging.getLogger(__name__)

LEASE_STAGE = "AEPREFRESHLEASE"
_LEASE_NAMESPACE = uuid.UUID("6f1f4c62-5b7e-4a51-9d0e-2f7f3c1a8b10")


@dataclass(frozen=True)
class _Shared:
    token: AccessToken | None
    version_id: str


class TokenCache:
    """Returns a valid access token, calling ``fetch`` (IMS) as rarely as the fleet allows.

    Args:
        fetch: gets a new token from IMS.
        secret_id: the token secret's name or ARN.
        secrets_client: a factory for the boto3 Secrets Manager client (created lazily, once).
        clock: wall clock and sleep.
        margin: refresh this many seconds before expiry at the latest.
        jitter: spread each container's refresh point over this many seconds before that.
        hard_margin: a token closer than this to expiry is never used.
        lease_seconds: how long a refresh lease holds before another container may take it.
        rng: random source for the jitter (seeded in tests).
    """

    def __init__(
        self,
        *,
        fetch: Callable[[], AccessToken],
        secret_id: str,
        secrets_client: Callable[[], Any],
        clock: Clock,
        margin: float = 3600.0,
        jitter: float = 1800.0,
        hard_margin: float = 60.0,
        lease_seconds: float = 120.0,
        lease_poll_seconds: float = 0.5,
        lease_polls: int = 10,
        rng: random.Random | None = None,
    ) -> None:
        self._fetch = fetch
        self._secret_id = secret_id
        self._client_factory = secrets_client
        self._client: Any = None
        self._clock = clock
        self._margin = margin
        self._jitter = (rng or random.Random()).uniform(0.0, jitter)  # noqa: S311 - spreading, not crypto
        self._hard_margin = hard_margin
        self._lease_seconds = lease_seconds
        self._lease_poll_seconds = lease_poll_seconds
        self._lease_polls = lease_polls
        self._worker = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._recheck_at = 0.0
        self._rejected: set[str] = set()

    # -- public -------------------------------------------------------------------------------------

    def get(self) -> AccessToken:
        """A token that is valid now. Raises what ``fetch`` raises when IMS cannot be reached."""
        with self._lock:
            now = self._clock.now()
            if self._token is not None and now < self._recheck_at and self._usable(self._token, now):
                return self._token
            return self._load(now)

    def invalidate(self, value: str) -> None:
        """Platform rejected this token (401): never use it again."""
        with self._lock:
            self._rejected.add(value)
            if self._token is not None and self._token.value == value:
                self._token = None

    # -- internals ----------------------------------------------------------------------------------

    def _refresh_point(self, token: AccessToken) -> float:
        return token.expires_at - self._margin - self._jitter

    def _usable(self, token: AccessToken, now: float) -> bool:
        return token.value not in self._rejected and now < token.expires_at - self._hard_margin

    def _adopt(self, token: AccessToken, recheck_at: float | None = None) -> AccessToken:
        self._token = token
        self._recheck_at = self._refresh_point(token) if recheck_at is None else recheck_at
        return token

    def _load(self, now: float) -> AccessToken:
        shared = self._read_shared()
        current = shared.token if shared else None
        if current is not None and self._usable(current, now) and now < self._refresh_point(current):
            return self._adopt(current)
        # The shared token needs a refresh (or there is none): one container takes the lease.
        if shared is None or self._take_lease(shared.version_id, now):
            return self._refresh()
        if current is not None and self._usable(current, now):
            # Someone else is refreshing; the current token is still good for a while.
            return self._adopt(current, recheck_at=now + min(self._lease_seconds / 4, 30.0))
        # No usable token and another container is fetching one: wait for it briefly.
        for _ in range(self._lease_polls):
            self._clock.sleep(self._lease_poll_seconds)
            polled = self._read_shared()
            if polled and polled.token and self._usable(polled.token, self._clock.now()):
                return self._adopt(polled.token)
        logger.warning("token refresh lease holder did not publish a token in time; fetching directly")
        return self._refresh()

    def _refresh(self) -> AccessToken:
        token = self._fetch()
        self._write_shared(token)
        return self._adopt(token)

    def _secrets(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _read_shared(self) -> _Shared | None:
        """The shared token and its version; None when Secrets Manager cannot be read."""
        try:
            response = self._secrets().get_secret_value(SecretId=self._secret_id)
        except Exception as exc:  # boto errors of every kind: fall back to per-container caching
            logger.warning("cannot read the token secret", extra={"error": type(exc).__name__})
            return None
        return _Shared(_parse(response.get("SecretString")), str(response.get("VersionId", "none")))

    def _take_lease(self, version_id: str, now: float) -> bool:
        bucket = int(now // self._lease_seconds)
        request_token = str(uuid.uuid5(_LEASE_NAMESPACE, f"{self._secret_id}|{version_id}|{bucket}"))
        body = json.dumps({"lease": self._worker, "for_version": version_id})
        try:
            self._secrets().put_secret_value(
                SecretId=self._secret_id,
                SecretString=body,
                ClientRequestToken=request_token,
                VersionStages=[LEASE_STAGE],
            )
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "ResourceExistsException":
                return False  # another container holds this lease
            logger.warning("cannot take the token refresh lease", extra={"error": code or type(exc).__name__})
            return True  # cannot coordinate: refresh on our own rather than fail
        return True

    def _write_shared(self, token: AccessToken) -> None:
        body = json.dumps(
            {"access_token": token.value, "expires_at": token.expires_at, "token_type": "bearer"}
        )
        try:
            self._secrets().put_secret_value(SecretId=self._secret_id, SecretString=body)
        except Exception as exc:
            logger.warning("cannot write the token secret", extra={"error": type(exc).__name__})


def _parse(text: str | None) -> AccessToken | None:
    if not text:
        return None
    try:
        data = json.loads(text)
        value, expires_at = data["access_token"], float(data["expires_at"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(value, str) or not value:
        return None
    return AccessToken(value=value, expires_at=expires_at)
