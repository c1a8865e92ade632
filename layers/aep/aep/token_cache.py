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
* on a 401/403 the transport calls :meth:`TokenCache.invalidate`; the next :meth:`get` treats that token as
  unusable, and the same lease makes one container fetch a replacement while the others adopt it.

Bounded cost when auth keeps failing (a negative cache). Secrets Manager keeps only about 100 versions a
day (it does not delete versions younger than 24 hours), so versions must be spent on refreshes, never on
requests:

* a *replacement* rejected again (a token this container fetched after its last rejection, or adopted
  and issued after it, rejected less than ``reject_window`` seconds after it was requested, while no token
  has served ``reject_window`` seconds since) means the token is not the problem: the cache stops
  refreshing for a backoff period, and every :meth:`get` meanwhile fails fast with a retryable
  :class:`~aep.errors.AepAuthError` without calling IMS, Secrets Manager or AEP. A revoked token is not
  a replacement: it is replaced at once (one IMS call for the fleet, through the lease);
* a failed IMS call (refusal, ``invalid_client`` after the credentials were re-read, outage) starts the
  same backoff; a token that is still valid keeps being served meanwhile, and IMS is tried again before
  that token becomes unusable;
* while backing off, the shared secret is still read (at most once per ``shared_poll_seconds``, 1 s): a
  token another container shared that was issued after the one whose failure started the backoff is
  adopted (after a revocation of every live token, one container's replacement may be rejected while
  another's fresh token is good); if it is rejected too, it counts as a replacement;
* the backoff is ``backoff`` seconds, doubled for each consecutive failure up to ``max_backoff``; it starts
  over once a token obtained after the last failure has served ``reject_window`` seconds, and a token
  served ``reject_window`` seconds after the last rejection ends the "replacement" suspicion.

Why the lease still costs a version. It stays one ``PutSecretValue`` per refresh (plus one for the new
token): two versions per *refresh*, never per request or attempt, and refreshes are now bounded by the
backoff instead of by the request rate. Alternatives were weighed: ``UpdateSecretVersionStage`` moves a
label conditionally, but the label records neither holder nor time, so a container that died holding it
would block every refresh; tags have no conditional write; a conditional write of the token itself picks
a winner only after every contender has called IMS. The version lease keeps the guarantee of one IMS call
per refresh across the fleet. Costs under a persistent 401, per container that refreshes (followers
usually adopt the leader's replacement, see it rejected and back off without refreshing): 2 IMS calls and
4 versions in the first request, then one refresh per backoff period (30 s, 60 s, ... 1 h): about 30
refreshes (60 versions) in the first day, then 24 a day.

A shared token is validated before use: a value outside RFC 6750's ``b64token`` charset (CR/LF, spaces,
non-ASCII), an ``expires_at`` that is not a finite number, negative or more than a year ahead, wrong types
or missing fields make the secret count as empty, so the token is refreshed and never sent.

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

from aep.errors import AepAuthError, AepError
from aep.timing import Clock
from aep.token import AccessToken, is_bearer_token

logger = logging.getLogger(__name__)

LEASE_STAGE = "AEPREFRESHLEASE"
_LEASE_NAMESPACE = uuid.UUID("6f1f4c62-5b7e-4a51-9d0e-2f7f3c1a8b10")
MAX_AHEAD = 366 * 86_400.0  # an expiry further ahead than this is a corrupted secret


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
        backoff: seconds without refreshing after a replacement token was rejected or IMS failed.
        max_backoff: the cap of the doubling backoff.
        reject_window: a replacement rejected within this many seconds of being requested means auth is
            failing for another reason than the token; a token served longer ends a failure streak.
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
        backoff: float = 30.0,
        max_backoff: float = 3600.0,
        reject_window: float = 60.0,
        shared_poll_seconds: float = 1.0,
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
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._reject_window = reject_window
        self._shared_poll_seconds = shared_poll_seconds
        self._next_shared_poll = 0.0
        self._newer_than = 0.0  # while backing off, a shared token issued after this is worth trying
        self._worker = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._recheck_at = 0.0
        self._rejected: set[str] = set()
        self._issued: dict[str, float] = {}  # token value -> issued_at, for the tokens this cache served
        self._fetched: set[str] = set()  # the tokens this cache got from IMS itself
        self._last_rejection: float | None = None
        self._failed_at = 0.0  # when the last failure (blocked refresh) happened
        self._failures = 0
        self._blocked_until = 0.0
        self._blocked_by: AepError = AepAuthError("authentication failed")

    # -- public -------------------------------------------------------------------------------------

    def get(self) -> AccessToken:
        """A token that is valid now.

        Raises:
            AepError: IMS could not give a token (retryable), or a retryable AepAuthError while backing
                off after repeated auth failures (no IMS or AEP call is made then).
        """
        with self._lock:
            now = self._clock.now()
            token = self._token
            if token is not None and self._usable(token, now):
                self._note_served(token, now)
                if now < self._recheck_at or now < self._blocked_until:
                    return token
            if now < self._blocked_until:
                newer = self._newer_shared(now)
                if newer is None:
                    raise self._blocked_error(now)
                return self._adopt(newer)
            return self._load(now)

    def ready(self) -> bool:
        """Whether :meth:`get` would answer now from this container's memory (no secret read, no IMS call):
        a caller with a deadline can then fetch a token off its own thread when it would not. Never waits:
        while another thread holds the cache (a fetch in progress), the answer is False."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            now = self._clock.now()
            token = self._token
            return (
                token is not None
                and self._usable(token, now)
                and (now < self._recheck_at or now < self._blocked_until)
            )
        finally:
            self._lock.release()

    def invalidate(self, value: str) -> None:
        """Platform rejected this token (401/403): never use it again; back off when it was a replacement."""
        with self._lock:
            if value in self._rejected:
                return  # already known (concurrent requests with the same token)
            self._rejected.add(value)
            if self._token is not None and self._token.value == value:
                self._token = None
            now = self._clock.now()
            issued_at = self._issued.get(value)
            last = self._last_rejection
            replacement = (
                issued_at is not None
                and last is not None
                and now - issued_at < self._reject_window
                and (issued_at > last or (value in self._fetched and issued_at >= last))
            )
            if replacement:
                self._block(
                    now,
                    AepAuthError("Platform rejected a token requested after the previous one was rejected"),
                    newer_than=issued_at,
                )
            else:
                self._last_rejection = now
                logger.info("token rejected; it will be replaced", extra={"token": _fingerprint(value)})

    # -- internals ----------------------------------------------------------------------------------

    def _refresh_point(self, token: AccessToken) -> float:
        return token.expires_at - self._margin - self._jitter

    def _usable(self, token: AccessToken, now: float) -> bool:
        return token.value not in self._rejected and now < token.expires_at - self._hard_margin

    def _adopt(self, token: AccessToken, recheck_at: float | None = None) -> AccessToken:
        self._token = token
        self._issued[token.value] = token.issued_at
        self._recheck_at = self._refresh_point(token) if recheck_at is None else recheck_at
        return token

    def _note_served(self, token: AccessToken, now: float) -> None:
        """A token served ``reject_window`` seconds ends the trouble before it.

        After the last rejection: a later rejection is a revocation, not a failing replacement. After the
        last failure, for a token obtained since: the failure streak is over (an old token still held
        while IMS fails proves nothing about IMS).
        """
        last = self._last_rejection
        if last is not None and now - max(token.issued_at, last) >= self._reject_window:
            self._last_rejection = None
        if token.issued_at >= self._failed_at and now - token.issued_at >= self._reject_window:
            self._failures = 0

    def _newer_shared(self, now: float) -> AccessToken | None:
        """While backing off: a usable shared token issued after the one whose failure started the backoff.

        After a revocation of every live token, this container's replacement may be rejected (so it backs
        off) while another container, whose token was not a replacement, fetched and shared a new one: that
        token is worth using rather than sending every record back to the queue for the whole backoff.
        Costs one GetSecretValue per ``shared_poll_seconds`` at most; never IMS, never a secret version.
        If that token is rejected too, it counts as a replacement and the backoff doubles.
        """
        if now < self._next_shared_poll:
            return None
        self._next_shared_poll = now + self._shared_poll_seconds
        shared = self._read_shared(now)
        token = shared.token if shared else None
        if token is None or not self._usable(token, now) or token.issued_at <= self._newer_than:
            return None
        logger.info("adopting a newer shared token while backing off", extra={"token": token.fingerprint})
        return token

    def _block(self, now: float, cause: AepError, newer_than: float | None = None) -> None:
        self._failures += 1
        self._failed_at = now
        self._newer_than = now if newer_than is None else newer_than
        wait = min(self._backoff * 2 ** (self._failures - 1), self._max_backoff)
        self._blocked_until = now + wait
        self._blocked_by = cause
        logger.warning(
            "authentication failing; not refreshing the token for a while",
            extra={"backoff_seconds": wait, "failures": self._failures, "error": cause.message},
        )

    def _blocked_error(self, now: float) -> AepAuthError:
        cause = self._blocked_by
        return AepAuthError(
            f"authentication backing off for {self._blocked_until - now:.0f}s after: {cause.message}",
            status=cause.status,
            code=cause.code,
            retry_after=self._blocked_until - now,
        )

    def _load(self, now: float) -> AccessToken:
        shared = self._read_shared(now)
        current = shared.token if shared else None
        if current is not None and self._usable(current, now) and now < self._refresh_point(current):
            return self._adopt(current)
        # The shared token needs a refresh (or there is none): one container takes the lease.
        if shared is None or self._take_lease(shared.version_id, now):
            return self._refresh(now, current)
        if current is not None and self._usable(current, now):
            # Someone else is refreshing; the current token is still good for a while.
            return self._adopt(current, recheck_at=now + min(self._lease_seconds / 4, 30.0))
        # No usable token and another container is fetching one: wait for it briefly.
        for _ in range(self._lease_polls):
            self._clock.sleep(self._lease_poll_seconds)
            polled = self._read_shared(self._clock.now())
            if polled and polled.token and self._usable(polled.token, self._clock.now()):
                return self._adopt(polled.token)
        logger.warning("token refresh lease holder did not publish a token in time; fetching directly")
        return self._refresh(self._clock.now(), None)

    def _refresh(self, now: float, fallback: AccessToken | None) -> AccessToken:
        """A new token from IMS, published; on failure, back off and keep a still-valid token if any."""
        try:
            token = self._fetch()
        except AepError as exc:
            self._block(now, exc)
            for usable in (self._token, fallback):
                if usable is not None and self._usable(usable, now):
                    # Try IMS again when the backoff ends, or before this token becomes unusable.
                    self._blocked_until = min(self._blocked_until, usable.expires_at - self._hard_margin)
                    return self._adopt(usable, recheck_at=self._blocked_until)
            raise
        self._fetched.add(token.value)
        self._write_shared(token)
        return self._adopt(token)

    def _secrets(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _read_shared(self, now: float) -> _Shared | None:
        """The shared token and its version; None when Secrets Manager cannot be read."""
        try:
            response = self._secrets().get_secret_value(SecretId=self._secret_id)
        except Exception as exc:  # boto errors of every kind: fall back to per-container caching
            logger.warning("cannot read the token secret", extra={"error": type(exc).__name__})
            return None
        token = parse_shared(response.get("SecretString"), now)
        return _Shared(token, str(response.get("VersionId", "none")))

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
            {
                "access_token": token.value,
                "expires_at": token.expires_at,
                "issued_at": token.issued_at,
                "token_type": "bearer",
            }
        )
        try:
            self._secrets().put_secret_value(SecretId=self._secret_id, SecretString=body)
        except Exception as exc:
            logger.warning("cannot write the token secret", extra={"error": type(exc).__name__})


def _fingerprint(value: str) -> str:
    return AccessToken(value=value, expires_at=0.0).fingerprint if is_bearer_token(value) else "malformed"


def _number(value: Any) -> float | None:
    """A JSON number as a float, else None (bools and strings are refused). NaN and infinities pass
    through: the callers' range checks are written so that they fail them."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_shared(text: str | None, now: float) -> AccessToken | None:
    """The token in the shared secret, or None when it is empty or corrupted in any way.

    Corrupted: not a JSON object; ``access_token`` missing or not an RFC 6750 ``b64token`` (CR/LF, spaces,
    non-ASCII...); ``expires_at`` missing, not a finite number, negative or more than a year ahead of
    ``now``; ``issued_at`` present but not a finite number or after ``expires_at``.
    """
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("access_token")
    expires_at = _number(data.get("expires_at"))
    if not isinstance(value, str) or not is_bearer_token(value):
        return None
    if expires_at is None or not 0 <= expires_at <= now + MAX_AHEAD:  # false for NaN and infinities
        return None
    issued_at = _number(data.get("issued_at", 0.0))
    if issued_at is None or not 0 <= issued_at <= expires_at:
        return None
    return AccessToken(value=value, expires_at=expires_at, issued_at=issued_at)
