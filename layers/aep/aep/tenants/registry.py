"""The tenant registry: items of the stack's DynamoDB table, cached per container, plus the default tenant.

:meth:`TenantRegistry.resolve` answers for every tenant name of an invocation at once: the names not
cached (or cached for more than ``ttl`` seconds) are read together with ``BatchGetItem``, 100 keys a call,
so a batch naming 300 made-up tenants costs 3 table calls, not 300. Keys DynamoDB leaves unprocessed
(throttling) are asked again up to 3 times, after 50, 100 and 200 ms; those still unread then are
transient for their records.

Reads are cached for ``ttl`` seconds, unknown names too, in a least-recently-used cache of at most
``cache_size`` names (1024 by default): a flood of made-up names costs a few reads and never grows the
container's memory. When the table cannot be read, a cached item is used even past its time; with none,
the name fails as a transient :class:`TenantLookupError` (records go back to the queue, never to the DLQ:
the registry being down is not the record's fault), and that failure is answered for FAILURE_HOLD_SECONDS
without another read. An item that cannot be used (an unknown attribute, a
value of the wrong type) is an :class:`InvalidTenantError`: a fault of that tenant's configuration, never
hidden behind an older cached version of the item, and transient for its records.

With ``background`` (a function that runs work off the caller's thread; the lookup API gives its pool), a
name cached past its ``ttl`` is answered from the cache at once and read again in the background, one read
per name at a time (stale while revalidating): a registry that hangs then costs a caller nothing it had.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aep.errors import AepConfigError, AepError
from aep.tenants.model import DEFAULT_TENANT, Tenant, TenantStreaming, UnknownTenantError
from aep.timing import Clock, SystemClock

TABLE_VARIABLE = "AEP_TENANTS_TABLE"
DEFAULT_TTL_SECONDS = 60.0
#: Tenant names (known or not) a container keeps, least recently used evicted first.
DEFAULT_CACHE_SIZE = 1024
#: DynamoDB's limit of keys per ``BatchGetItem`` call.
BATCH_KEYS = 100
#: Further asks for the keys a ``BatchGetItem`` answer left unprocessed, after UNPROCESSED_WAIT_SECONDS,
#: doubled each time.
UNPROCESSED_RETRIES = 3
UNPROCESSED_WAIT_SECONDS = 0.05
#: A name whose read failed (nothing cached for it) answers that failure for this long without another read:
#: a throttled or unreachable table is not asked again by every request or record of the moment.
FAILURE_HOLD_SECONDS = 1.0


class TenantLookupError(AepError):
    """The registry could not be read (throttled, denied, unreachable): transient for the records."""

    @property
    def retryable(self) -> bool:
        return True


class InvalidTenantError(AepConfigError):
    """A tenant's item cannot be used (an unknown attribute, an invalid value; the message names the tenant
    and the fields, never the values). A fault of the deployment, not of the records: retryable for them,
    they wait in their queue until the item is fixed."""

    @property
    def retryable(self) -> bool:
        return True


@dataclass(frozen=True)
class _Invalid:
    """A cached item that cannot be used: why (a fresh error is raised each time from it)."""

    message: str


#: What the cache holds for a name: the tenant, None (no such item), or why its item is unusable.
_Entry = Tenant | None | _Invalid


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
    """``get(tenant_id)``: the enabled tenant, or :class:`UnknownTenantError` with the reason;
    ``resolve(names)``: the same for many names at once, the errors returned rather than raised."""

    def __init__(
        self,
        table_name: str | None,
        default: Tenant | None = None,
        *,
        dynamodb_client: Callable[[], Any] = _dynamodb_client,
        clock: Clock | None = None,
        ttl: float = DEFAULT_TTL_SECONDS,
        cache_size: int = DEFAULT_CACHE_SIZE,
        background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self.table_name = table_name
        self.default = default
        self.cache_size = cache_size
        self._dynamodb_client = dynamodb_client
        self._client: Any = None
        self._clock: Clock = clock or SystemClock()
        self._ttl = ttl
        self._cache: OrderedDict[str, tuple[_Entry, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._background = background
        self._refreshing: set[str] = set()  # names read again in the background right now
        self._failed: dict[str, tuple[str, float]] = {}  # name -> why its last read failed, and when
        self.reads = 0  # table calls made (for tests)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> TenantRegistry:
        env = os.environ if environ is None else environ
        table = env.get(TABLE_VARIABLE, "").strip() or None
        return cls(table, default_tenant(env), **kwargs)

    def get(self, tenant_id: str | None) -> Tenant:
        """The tenant named ``tenant_id`` (None or empty: the default tenant), if it exists and is enabled.

        Raises UnknownTenantError (unknown or disabled), InvalidTenantError or TenantLookupError."""
        name = tenant_id or DEFAULT_TENANT
        found = self.resolve([name])[name]
        if isinstance(found, AepError):
            raise found
        return found

    def resolve(self, names: Iterable[str]) -> dict[str, Tenant | AepError]:
        """Each name's enabled tenant, or the error :meth:`get` would raise for it; the names neither the
        default nor freshly cached are read from the table together (``BatchGetItem``)."""
        wanted = list(dict.fromkeys(names))
        entries: dict[str, _Entry | TenantLookupError] = {}
        missing: list[str] = []
        stale: list[str] = []
        now = self._clock.monotonic()
        with self._lock:
            for name in wanted:
                cached = self._cache.get(name)
                if name == DEFAULT_TENANT or self.table_name is None:
                    entries[name] = self.default if name == DEFAULT_TENANT else None
                elif cached is not None and (now - cached[1] < self._ttl or self._background is not None):
                    self._cache.move_to_end(name)
                    entries[name] = cached[0]
                    due = now - cached[1] >= self._ttl and not self._held(name, now)
                    if due and name not in self._refreshing:
                        self._refreshing.add(name)
                        stale.append(name)
                elif cached is None and self._held(name, now):
                    entries[name] = _unreadable(name, self._failed[name][0])
                else:
                    missing.append(name)
        background = self._background
        if background is not None:  # stale entries are answered only when there is one
            for name in stale:
                self._refresh_later(name, background)
        for start in range(0, len(missing), BATCH_KEYS):
            entries.update(self._read(missing[start : start + BATCH_KEYS], now))
        return {name: _verdict(name, entries[name]) for name in wanted}

    def holds(self, tenant_id: str | None) -> bool:
        """Whether :meth:`get` answers ``tenant_id`` without reading the table on the caller's thread (the
        default tenant, no table, a read younger than the ttl, or with ``background`` any cached read).
        Never blocks on a read in progress."""
        name = tenant_id or DEFAULT_TENANT
        if name == DEFAULT_TENANT or self.table_name is None:
            return True
        cached = self._cache.get(name)  # a dict read: safe without the lock, which a read may hold
        if cached is None:
            return False
        return self._background is not None or self._clock.monotonic() - cached[1] < self._ttl

    def _refresh_later(self, name: str, background: Callable[[Callable[[], None]], None]) -> None:
        """Read ``name`` again through ``background``; the cache keeps answering the old read meanwhile."""

        def refresh() -> None:
            try:
                self._read([name], self._clock.monotonic())
            finally:
                with self._lock:
                    self._refreshing.discard(name)

        try:
            background(refresh)
        except Exception:  # the runner refused the work (shutting down): a later resolve asks again
            with self._lock:
                self._refreshing.discard(name)

    def _held(self, name: str, now: float) -> bool:
        """Whether ``name``'s last read failed less than FAILURE_HOLD_SECONDS ago (call with the lock)."""
        failed = self._failed.get(name)
        return failed is not None and now - failed[1] < FAILURE_HOLD_SECONDS

    def cached(self) -> list[str]:
        """The names held in the cache, least recently used first."""
        with self._lock:
            return list(self._cache)

    def _read(self, names: list[str], now: float) -> dict[str, _Entry | TenantLookupError]:
        """At most BATCH_KEYS names from the table; a name left unread is served stale from the cache, or
        is a TenantLookupError."""
        items, unread, why = self._fetch(names)
        read = {name: _parsed(items[name]) if name in items else None for name in names if name not in unread}
        found: dict[str, _Entry | TenantLookupError] = {}
        with self._lock:
            for name in names:
                cached = self._cache.get(name)
                if name in read:
                    self._cache[name] = (read[name], now)
                    self._failed.pop(name, None)
                    found[name] = read[name]
                else:
                    if len(self._failed) >= self.cache_size:
                        self._failed.clear()
                    self._failed[name] = (why, now)
                    # stale beats nothing: the registry changes rarely
                    found[name] = cached[0] if cached is not None else _unreadable(name, why)
                if name in self._cache:
                    self._cache.move_to_end(name)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found

    def _fetch(self, names: list[str]) -> tuple[dict[str, dict[str, Any]], set[str], str]:
        """The items found (by name), the names left unread, and why they were (an error code)."""
        if self._client is None:
            self._client = self._dynamodb_client()
        items: dict[str, dict[str, Any]] = {}
        keys = [{"tenant_id": {"S": name}} for name in names]
        why = "UnprocessedKeys"
        for attempt in range(UNPROCESSED_RETRIES + 1):
            if attempt:
                self._clock.sleep(UNPROCESSED_WAIT_SECONDS * 2 ** (attempt - 1))
            self.reads += 1
            try:
                answer = self._client.batch_get_item(RequestItems={self.table_name: {"Keys": keys}})
            except Exception as exc:
                why = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                break
            for item in answer.get("Responses", {}).get(self.table_name, []):
                items[item["tenant_id"]["S"]] = item
            keys = answer.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
            if not keys:
                break
        return items, {key["tenant_id"]["S"] for key in keys}, why


def _unreadable(name: str, why: str) -> TenantLookupError:
    return TenantLookupError(f"cannot read tenant {name!r} from the registry: {why}")


def _parsed(item: dict[str, Any]) -> Tenant | _Invalid:
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415 - with boto3, lazily

    deserialize = TypeDeserializer().deserialize
    try:
        return Tenant.from_item({key: deserialize(value) for key, value in item.items()})
    except AepConfigError as exc:
        return _Invalid(exc.message)


def _verdict(name: str, entry: _Entry | TenantLookupError) -> Tenant | AepError:
    if isinstance(entry, TenantLookupError):
        return entry
    if isinstance(entry, _Invalid):
        return InvalidTenantError(entry.message)
    if entry is None:
        return UnknownTenantError(f"unknown tenant {name!r}")
    if not entry.enabled:
        return UnknownTenantError(f"tenant {name!r} is disabled", disabled=True)
    return entry
