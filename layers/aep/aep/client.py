"""The AEP client: one per container, composed from settings, credentials and the shared token cache."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests

from aep.auth import PlatformAuthenticator
from aep.config import AepCredentials, AepSettings
from aep.errors import AepConfigError
from aep.http import Transport, new_session
from aep.ims import ImsTokenFetcher
from aep.retry import RetryPolicy
from aep.timing import Clock, SystemClock
from aep.token_cache import TokenCache

if TYPE_CHECKING:
    from aep.batch import BatchApi
    from aep.catalog import CatalogApi
    from aep.identity import IdentityApi
    from aep.profile import ProfileApi
    from aep.streaming import StreamingApi


def _boto3_secrets_client() -> Any:
    import boto3  # noqa: PLC0415 - imported on first use: ~130 ms at cold start otherwise

    return boto3.client("secretsmanager")


class AepClient:
    """Batch, Catalog, Streaming, Profile and Identity APIs over one transport and one token cache.

    Build it with :meth:`from_env` in a Lambda function (reads the credentials secret once), or with
    the constructor in tests. Each API (and its models) is imported and built on first use: a function
    that only looks profiles up never imports the batch or streaming code.
    """

    def __init__(
        self,
        settings: AepSettings,
        credentials: AepCredentials,
        *,
        secrets_client: Callable[[], Any] = _boto3_secrets_client,
        session: requests.Session | None = None,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.clock: Clock = clock or SystemClock()
        self.transport = Transport(
            session=session or new_session(settings.pool_size),
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            policy=policy or RetryPolicy(max_attempts=settings.max_attempts, max_wait=settings.max_backoff),
            clock=self.clock,
        )
        self.ims = ImsTokenFetcher(
            self.transport,
            settings.ims_url,
            credentials,
            reload=lambda: load_credentials(secrets_client(), settings.credentials_secret_id),
        )
        self.tokens = TokenCache(
            fetch=self.ims,
            secret_id=settings.token_secret_id,
            secrets_client=secrets_client,
            clock=self.clock,
            margin=settings.token_refresh_margin,
            jitter=settings.token_refresh_jitter,
            rng=rng,
        )
        self.transport.authenticator = PlatformAuthenticator(
            self.tokens,
            api_key=credentials.client_id,
            org_id=credentials.org_id,
            sandbox_name=settings.sandbox_name,
        )

    @cached_property
    def batches(self) -> BatchApi:
        from aep.batch import BatchApi  # noqa: PLC0415 - on first use (cold start)

        return BatchApi(self.transport, self.settings.platform_url)

    @cached_property
    def catalog(self) -> CatalogApi:
        from aep.catalog import CatalogApi  # noqa: PLC0415 - on first use (cold start)

        return CatalogApi(self.transport, self.settings.platform_url)

    @cached_property
    def streaming(self) -> StreamingApi:
        from aep.streaming import StreamingApi  # noqa: PLC0415 - on first use (cold start)

        return StreamingApi(
            self.transport, self.settings.streaming_url, sandbox_name=self.settings.sandbox_name
        )

    @cached_property
    def profiles(self) -> ProfileApi:
        from aep.profile import ProfileApi  # noqa: PLC0415 - on first use (cold start)

        return ProfileApi(self.transport, self.settings.platform_url)

    @cached_property
    def identities(self) -> IdentityApi:
        from aep.identity import IdentityApi  # noqa: PLC0415 - on first use (cold start)

        return IdentityApi(self.transport, self.settings.platform_url)

    def __repr__(self) -> str:
        return f"AepClient(org_id={self.credentials.org_id!r}, sandbox={self.settings.sandbox_name!r})"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        secrets_client: Callable[[], Any] = _boto3_secrets_client,
        **kwargs: Any,
    ) -> AepClient:
        """Settings from ``AEP_*`` variables, credentials from the credentials secret.

        Raises AepConfigError when a variable is missing or bad, or the secret cannot be read or parsed.
        """
        settings = AepSettings.from_env(os.environ if environ is None else environ)
        client = secrets_client()  # one boto3 client for both secrets (each costs time at cold start)
        credentials = load_credentials(client, settings.credentials_secret_id)
        return cls(settings, credentials, secrets_client=lambda: client, **kwargs)


def load_credentials(secrets: Any, secret_id: str) -> AepCredentials:
    """Read and parse the credentials secret; errors name the secret, never its content."""
    try:
        response = secrets.get_secret_value(SecretId=secret_id)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise AepConfigError(f"cannot read credentials secret {secret_id!r}: {code}") from exc
    text = response.get("SecretString")
    if not text:
        raise AepConfigError(f"credentials secret {secret_id!r} has no SecretString")
    return AepCredentials.from_secret_string(text, secret_id)


_shared: AepClient | None = None
_shared_lock = threading.Lock()


def shared_client() -> AepClient:
    """The container's client, built on first use and reused by every invocation."""
    global _shared  # noqa: PLW0603 - one client per container is the point
    with _shared_lock:
        if _shared is None:
            _shared = AepClient.from_env()
        return _shared


def reset_shared_client() -> None:
    """Forget the container's client (tests, or after the credentials secret was rotated)."""
    global _shared  # noqa: PLW0603
    with _shared_lock:
        _shared = None
