"""One :class:`~aep.client.AepClient` per tenant per container, built on first use, kept in a bounded cache.

A registry tenant's client uses the container's base settings (``AEP_*``: URLs, timeouts, retries, pool)
with the tenant's credentials secret, token secret and sandbox. Each tenant therefore has its own token in
memory, its own token secret and refresh lease, and its own IMS backoff: one tenant's IMS trouble never
touches another. The ``default`` tenant is today's single-tenant client (:func:`aep.client.shared_client`,
settings from the ``AEP_*`` variables), never evicted.

The cache holds at most ``size`` registry tenants (``AEP_TENANT_CLIENT_CACHE_SIZE``, default 16), least
recently used first out; an evicted tenant's client is built again on its next use (one read of its
credentials secret; its token comes back from its token secret). A tenant whose ``version`` changed in the
registry gets a new client.

Isolation: a tenant's credentials must name the tenant's own org. When the credentials secret names another
org, building the client fails with :class:`TenantOrgMismatchError`. That is a fault of the deployment
(a secret or a registry item pointing at the wrong brand), not of any record: callers send the tenant's
records back to their queue (retryable) and log and count why, so nothing reaches the wrong org and nothing
is dead-lettered for a configuration that can be fixed.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aep.client import AepClient, load_credentials, shared_client
from aep.config import ENVIRONMENT as AEP_ENVIRONMENT
from aep.config import AepCredentials, AepSettings, parse_env
from aep.errors import AepConfigError
from aep.tenants.model import DEFAULT_TENANT, Tenant

SIZE_VARIABLE = "AEP_TENANT_CLIENT_CACHE_SIZE"
DEFAULT_SIZE = 16
_MAX_SIZE = 1000
#: Stand-ins for the secret ids when the ``AEP_*`` variables name none (a deployment with registry tenants
#: only): every tenant client replaces both with its own.
_NO_SECRET = "-"  # noqa: S105 - a placeholder id, not a secret


class TenantOrgMismatchError(AepConfigError):
    """A tenant's credentials secret names another AEP org than the tenant's ``org_id``.

    Retryable for the records: the deployment's configuration is at fault, not the record, and it can be
    fixed (the records wait in their queue meanwhile).
    """

    @property
    def retryable(self) -> bool:
        return True


def _boto3_secrets_client() -> Any:
    import boto3  # noqa: PLC0415 - lazily: only when a registry tenant is first used

    return boto3.client("secretsmanager")


def base_settings(environ: Mapping[str, str]) -> AepSettings:
    """The container's ``AEP_*`` settings, the secret ids optional (each tenant brings its own)."""
    values = dict(environ)
    for variable in ("AEP_CREDENTIALS_SECRET_ID", "AEP_TOKEN_SECRET_ID"):
        if not values.get(variable, "").strip():
            values[variable] = _NO_SECRET
    return parse_env(AepSettings, AEP_ENVIRONMENT, values)


def cache_size(environ: Mapping[str, str]) -> int:
    """``AEP_TENANT_CLIENT_CACHE_SIZE``: a whole number from 1 to 1000, 16 when unset."""
    text = environ.get(SIZE_VARIABLE, "").strip()
    if not text:
        return DEFAULT_SIZE
    if not text.isdigit() or not 1 <= int(text) <= _MAX_SIZE:
        raise AepConfigError(f"invalid configuration: {SIZE_VARIABLE} must be a whole number from 1 to 1000")
    return int(text)


def tenant_settings(base: AepSettings, tenant: Tenant) -> AepSettings:
    """``base`` with the tenant's secrets and sandbox (validated like the ``AEP_*`` variables)."""
    return AepSettings.model_validate(
        {
            **base.model_dump(),
            "credentials_secret_id": tenant.credentials_secret_id,
            "token_secret_id": tenant.token_secret_id,
            "sandbox_name": tenant.sandbox_name,
        }
    )


ClientFactory = Callable[[AepSettings, AepCredentials, Callable[[], Any]], AepClient]


def _new_client(
    settings: AepSettings, credentials: AepCredentials, secrets_client: Callable[[], Any]
) -> AepClient:
    return AepClient(settings, credentials, secrets_client=secrets_client)


@dataclass
class _Entry:
    version: int
    client: AepClient


class ClientCache:
    """``get(tenant)``: the tenant's client; the default tenant's is ``default()`` (today's shared client).

    Args:
        base: the container's settings; each registry tenant's client uses them with its secrets and
            sandbox.
        size: at most this many registry tenants' clients are kept (least recently used evicted first).
        default: the default tenant's client (built on first use; :func:`shared_client` in Lambda).
        secrets_client: a factory of the Secrets Manager client, created once and shared by the tenants'
            credentials reads and token caches.
        factory: builds a client from settings, credentials and the secrets client factory (tests inject
            clocks and retry policies here).
    """

    def __init__(
        self,
        base: AepSettings,
        *,
        size: int = DEFAULT_SIZE,
        default: Callable[[], AepClient] = shared_client,
        secrets_client: Callable[[], Any] = _boto3_secrets_client,
        factory: ClientFactory = _new_client,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.base = base
        self.size = size
        self._default = default
        self._default_client: AepClient | None = None  # once given out: its IMS calls are counted too
        self._secrets_factory = secrets_client
        self._secrets: Any = None
        self._factory = factory
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}  # one build at a time per tenant
        self._uncounted: dict[str, int] = {}  # IMS calls of clients dropped before they were counted
        self.builds = 0  # registry tenants' clients built (first use, eviction, version change)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> ClientCache:
        env = os.environ if environ is None else environ
        return cls(base_settings(env), size=cache_size(env), **kwargs)

    def _secrets_client(self) -> Any:
        with self._lock:
            if self._secrets is None:
                self._secrets = self._secrets_factory()
            return self._secrets

    def get(self, tenant: Tenant) -> AepClient:
        """The tenant's client, built when missing, evicted or out of date.

        A build (the credentials secret read) holds only its own tenant's build lock: other tenants' clients
        are answered meanwhile, and callers of the same tenant wait for that one build.

        Raises AepConfigError when its credentials secret cannot be read or parsed, or its settings are
        invalid, and :class:`TenantOrgMismatchError` when the secret names another org.
        """
        if tenant.tenant_id == DEFAULT_TENANT:
            client = self._default()
            with self._lock:
                self._default_client = client
            return client
        name = tenant.tenant_id
        with self._lock:
            held = self._held(tenant)
            if held is not None:
                return held
            building = self._building.setdefault(name, threading.Lock())
        with building:
            with self._lock:
                held = self._held(tenant)  # built by the caller this one waited for
                if held is not None:
                    return held
            client = self._build(tenant)
            with self._lock:
                self.builds += 1
                entry = self._entries.pop(name, None)
                if entry is not None:
                    self._drop(name, entry)
                self._entries[name] = _Entry(tenant.version, client)
                while len(self._entries) > self.size:
                    evicted, oldest = self._entries.popitem(last=False)
                    self._drop(evicted, oldest)
                return client

    def _held(self, tenant: Tenant) -> AepClient | None:
        """The tenant's client of this version, if built (call with the lock held)."""
        entry = self._entries.get(tenant.tenant_id)
        if entry is None or entry.version != tenant.version:
            return None
        self._entries.move_to_end(tenant.tenant_id)
        return entry.client

    def holds(self, tenant: Tenant) -> bool:
        """Whether :meth:`get` answers ``tenant`` with a client already built (no secret to read). Never
        blocks on a build in progress."""
        if tenant.tenant_id == DEFAULT_TENANT:
            return self._default_client is not None
        entry = self._entries.get(tenant.tenant_id)  # a dict read: safe without the lock a build holds
        return entry is not None and entry.version == tenant.version

    def _build(self, tenant: Tenant) -> AepClient:
        settings = tenant_settings(self.base, tenant)
        credentials = load_credentials(self._secrets_client(), tenant.credentials_secret_id)
        if credentials.org_id != tenant.org_id:
            raise TenantOrgMismatchError(
                f"tenant {tenant.tenant_id!r}: credentials secret {tenant.credentials_secret_id!r} names "
                "another org than the tenant's org_id; its records wait in their queue until one is fixed"
            )
        return self._factory(settings, credentials, self._secrets_client)

    def _drop(self, name: str, entry: _Entry) -> None:
        """Forget a client, keeping its IMS call count for :meth:`take_ims_counts`."""
        count = entry.client.ims.take_count()
        if count:
            self._uncounted[name] = self._uncounted.get(name, 0) + count

    def cached(self) -> list[str]:
        """The tenants whose clients are held, least recently used first."""
        with self._lock:
            return list(self._entries)

    def take_ims_counts(self) -> dict[str, int]:
        """IMS token requests per tenant since the last call (the ``ImsTokenRequests`` metric), the default
        tenant's included once its client was used."""
        with self._lock:
            counts, self._uncounted = self._uncounted, {}
            held = [(name, entry.client) for name, entry in self._entries.items()]
            if self._default_client is not None:
                held.append((DEFAULT_TENANT, self._default_client))
            for name, client in held:
                count = client.ims.take_count()
                if count:
                    counts[name] = counts.get(name, 0) + count
        return counts
