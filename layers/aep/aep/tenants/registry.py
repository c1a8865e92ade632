"""The tenant registry: items of the stack's DynamoDB table, cached per container, plus the default tenant.

Reads are cached for ``ttl`` seconds (unknown tenants too, so a flood of records naming no real tenant
costs one read a minute, not one per record). When the table cannot be read, a cached item is used even
past its time; with none, the lookup fails as a transient :class:`TenantLookupError` (records go back to
the queue, never to the DLQ: the registry being down is not the record's fault).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from aep.errors import AepError
from aep.tenants.model import DEFAULT_TENANT, Tenant, TenantStreaming, UnknownTenantError
from aep.timing import Clock, SystemClock

TABLE_VARIABLE = "AEP_TENANTS_TABLE"
DEFAULT_TTL_SECONDS = 60.0


class TenantLookupError(AepError):
    """The registry could not be read (throttled, denied, unreachable): transient for the records."""

    @property
    def retryable(self) -> bool:
        return True


def _dynamodb_client() -> Any:
    import boto3  # noqa: PLC0415 - lazily: a single-tenant deployment never reads the table

    return boto3.client("dynamodb")


def default_tenant(environ: Mapping[str, str]) -> Tenant | None:
    """The implicit ``default`` tenant from ``AEP_*`` variables; None when they name no credentials."""
    credentials = environ.get("AEP_CREDENTIALS_SECRET_ID", "").strip()
    token = environ.get("AEP_TOKEN_SECRET_ID", "").strip()
    if not credentials or not token:
        return None
    return Tenant(
        tenant_id=DEFAULT_TENANT,
        sandbox_name=environ.get("AEP_SANDBOX_NAME", "").strip() or "prod",
        credentials_secret_id=credentials,
        token_secret_id=token,
        streaming=TenantStreaming(),
    )


class TenantRegistry:
    """``get(tenant_id)``: the enabled tenant, or :class:`UnknownTenantError` with the reason."""

    def __init__(
        self,
        table_name: str | None,
        default: Tenant | None = None,
        *,
        dynamodb_client: Callable[[], Any] = _dynamodb_client,
        clock: Clock | None = None,
        ttl: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.table_name = table_name
        self.default = default
        self._dynamodb_client = dynamodb_client
        self._client: Any = None
        self._clock: Clock = clock or SystemClock()
        self._ttl = ttl
        self._cache: dict[str, tuple[Tenant | None, float]] = {}
        self._lock = threading.Lock()
        self.reads = 0  # table reads made (for tests and the ``RegistryReads`` metric)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> TenantRegistry:
        env = os.environ if environ is None else environ
        table = env.get(TABLE_VARIABLE, "").strip() or None
        return cls(table, default_tenant(env), **kwargs)

    def get(self, tenant_id: str | None) -> Tenant:
        """The tenant named ``tenant_id`` (None or empty: the default tenant), if it exists and is enabled."""
        name = tenant_id or DEFAULT_TENANT
        tenant = self.default if name == DEFAULT_TENANT else self._read(name)
        if tenant is None:
            raise UnknownTenantError(f"unknown tenant {name!r}")
        if not tenant.enabled:
            raise UnknownTenantError(f"tenant {name!r} is disabled", disabled=True)
        return tenant

    def _read(self, name: str) -> Tenant | None:
        if self.table_name is None:
            return None
        now = self._clock.monotonic()
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and now - cached[1] < self._ttl:
                return cached[0]
        try:
            tenant = self._fetch(name)
        except AepError:
            if cached is not None:  # stale beats nothing: the registry changes rarely
                return cached[0]
            raise
        with self._lock:
            self._cache[name] = (tenant, now)
        return tenant

    def _fetch(self, name: str) -> Tenant | None:
        from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415 - with boto3, lazily

        if self._client is None:
            self._client = self._dynamodb_client()
        self.reads += 1
        try:
            answer = self._client.get_item(TableName=self.table_name, Key={"tenant_id": {"S": name}})
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise TenantLookupError(f"cannot read tenant {name!r} from the registry: {code}") from exc
        item = answer.get("Item")
        if item is None:
            return None
        deserialize = TypeDeserializer().deserialize
        return Tenant.from_item({key: deserialize(value) for key, value in item.items()})
