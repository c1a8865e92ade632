"""Lookups for one tenant's client: cache, single flight, the deadline, AEP's answers in our shape.

A profile answer is cached per container (:class:`~profile_lookup.cache.TtlCache`) under the tenant (and
its version), the identity, the fields and the merge policy: ``LOOKUP_CACHE_TTL_SECONDS`` for a profile,
``LOOKUP_NEGATIVE_TTL_SECONDS`` for "no profile" (a 404). A request may bypass the cache (it still refreshes
it). Concurrent lookups of the same key share one AEP call (:class:`~profile_lookup.flight.SingleFlight`).
A multi-identity lookup answers its cached identities from the cache and asks AEP for the others in calls
of at most ``LOOKUP_AEP_BATCH_SIZE`` identities (AEP documents no maximum per call, and refuses a graph of
more than 50 linked identities with a 422 for the whole call: such a call is asked again one identity at a
time, so only the identity at fault answers the error).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aep.client import AepClient
from aep.errors import AepError
from aep.models import ProfileEntity
from aep.tenants import Tenant
from aep.timing import Clock, Deadline
from profile_lookup.cache import TtlCache
from profile_lookup.errors import ApiError, deadline_passed, from_aep
from profile_lookup.flight import FlightTimeoutError, SingleFlight
from profile_lookup.identities import Identity
from profile_lookup.offload import Offload
from profile_lookup.settings import LookupSettings
from profile_lookup.tokens import TokenGate
from profile_lookup.views import (
    IDENTITY_MAP,
    ErrorDetail,
    Event,
    LookupItem,
    Profile,
    event_view,
    identities_of,
    profile_view,
)

logger = logging.getLogger(__name__)

#: AEP calls of one multi-identity lookup in flight at once.
MAX_PARALLEL_CALLS = 4
#: Threads reading the tenant registry and tenants' credentials secrets (a few tenants' first requests).
CONTROL_WORKERS = 4

CacheKey = tuple[str, int, str, str, tuple[str, ...], str | None]


class _OutOfTime(Exception):
    """A shared AEP call failed after its first caller's deadline had passed: the failure says nothing to a
    caller who joined later with time left (see :meth:`LookupService.profile`)."""


@dataclass(frozen=True)
class _Entry:
    """What the cache holds: the profile (without its ``cached`` flag), or None for "no profile"."""

    profile: Profile | None


@dataclass
class Usage:
    """What one request cost (for logs and metrics): cache hits and misses, lookups shared with another
    request, AEP calls (``aep_calls``: one per profile call or chunk) and every attempt the transport made
    for them, retries and a token refresh included (``attempts``: each HTTP status, None for no answer;
    recorded by :func:`profile_lookup.telemetry.record_attempt`)."""

    cache_hits: int = 0
    cache_misses: int = 0
    shared: int = 0
    aep_calls: int = 0
    attempts: list[int | None] = field(default_factory=list)


@dataclass(frozen=True)
class Query:
    """What to read: the fields (empty: all) and the merge policy (None: the org's default)."""

    fields: tuple[str, ...] = ()
    merge_policy_id: str | None = None

    @property
    def aep_fields(self) -> list[str] | None:
        """The fields sent to AEP: ours plus ``identityMap`` (the answer's ``identities``)."""
        return [*self.fields, IDENTITY_MAP] if self.fields else None


class LookupService:
    def __init__(self, settings: LookupSettings, clock: Clock, control: Offload | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.cache: TtlCache[_Entry] = TtlCache(settings.cache_size, clock)
        self.flight: SingleFlight[_Entry] = SingleFlight()
        self.tokens = TokenGate()
        self.offload = Offload()  # AEP calls
        # Reads of the registry and the credentials secrets, on a pool of their own: a hanging DynamoDB or
        # Secrets Manager never takes the threads AEP calls need (profile_lookup.offload).
        self.control = control or Offload(CONTROL_WORKERS)
        self.tenant_reads: SingleFlight[None] = SingleFlight()  # one registry read per tenant at a time

    def deadline(self) -> Deadline:
        return Deadline.after(self.settings.deadline_seconds, self.clock)

    # -- one profile ------------------------------------------------------------------------------------

    def held(
        self, tenant: Tenant, identity: Identity, query: Query, usage: Usage | None = None
    ) -> Profile | None:
        """The cached answer, if any (counted as a hit); None when the cache holds nothing for it. Raises
        ApiError 404 for a cached "no profile"."""
        entry = self.cache.get(self._key(tenant, identity, query))
        if entry is None:
            return None
        if usage is not None:
            usage.cache_hits += 1
        return _answer(entry, cached=True)

    def profile(
        self,
        client: AepClient,
        tenant: Tenant,
        identity: Identity,
        query: Query,
        deadline: Deadline,
        *,
        bypass: bool = False,
        usage: Usage | None = None,
    ) -> Profile:
        """The profile, from the cache or AEP. Raises ApiError: 404 when there is none, or the mapping of
        AEP's failure (:func:`profile_lookup.errors.from_aep`)."""
        usage = usage if usage is not None else Usage()
        key = self._key(tenant, identity, query)
        if not bypass:
            held = self.held(tenant, identity, query, usage)
            if held is not None:
                return held
        usage.cache_misses += 1

        def fetch() -> _Entry:
            """The AEP call, shared by every caller of ``key`` meanwhile; ``deadline`` is the first one's."""
            try:
                if deadline.expired():  # queued behind other work past its deadline: its caller has answered
                    raise deadline_passed()
                self.tokens.wait(client, deadline)  # a cold or due token: fetched within the deadline
                usage.aep_calls += 1
                entity = client.profiles.get(
                    identity.id,
                    identity.namespace,
                    fields=query.aep_fields,
                    merge_policy_id=query.merge_policy_id,
                    deadline=deadline,
                )
            except (ApiError, AepError):
                if deadline.expired():
                    raise _OutOfTime from None
                raise
            entry = _Entry(None if entity is None or entity.empty else profile_view(entity))
            self._remember(key, entry)
            return entry

        for ask in range(2):
            try:
                # Off the request thread: a token refresh after a 401 inside the call is bounded too.
                entry, shared = self.flight.run(
                    key, fetch, timeout=max(0.0, deadline.remaining()), submit=self.offload.submit
                )
                break
            except FlightTimeoutError:
                raise deadline_passed() from None
            except _OutOfTime:
                # The call ran out of its first caller's time: ours too (504), or this caller shared it
                # and still has time, and asks once more.
                if ask or deadline.expired():
                    raise deadline_passed() from None
            except AepError as exc:
                raise from_aep(exc, deadline) from None
        if shared:
            usage.shared += 1
        return _answer(entry, cached=False)

    # -- many profiles ----------------------------------------------------------------------------------

    def profiles(
        self,
        client: AepClient,
        tenant: Tenant,
        identities: Sequence[Identity],
        query: Query,
        deadline: Deadline,
        *,
        bypass: bool = False,
        usage: Usage | None = None,
    ) -> list[LookupItem]:
        """One item per identity, in order (duplicates answered each time)."""
        usage = usage if usage is not None else Usage()
        answers: dict[tuple[str, str], LookupItem] = {}
        missing: list[Identity] = []
        for identity in dict.fromkeys(identities):
            held = None if bypass else self.cache.get(self._key(tenant, identity, query))
            if held is None:
                usage.cache_misses += 1
                missing.append(identity)
            else:
                usage.cache_hits += 1
                answers[identity.key] = _item(identity, held, cached=True)
        size = self.settings.aep_batch_size
        chunks = [missing[start : start + size] for start in range(0, len(missing), size)]

        def ask(chunk: list[Identity]) -> list[LookupItem]:
            return self._ask_chunk(
                client, tenant=tenant, chunk=chunk, query=query, deadline=deadline, usage=usage
            )

        if len(chunks) == 1:
            results = [ask(chunks[0])]
        elif chunks:
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_CALLS, len(chunks))) as pool:
                # Each call in the request's context: its attempts are counted into the request's usage.
                futures = [pool.submit(contextvars.copy_context().run, ask, chunk) for chunk in chunks]
                results = [future.result() for future in futures]
        else:
            results = []
        for chunk, chunk_items in zip(chunks, results, strict=True):
            for identity, item in zip(chunk, chunk_items, strict=True):  # each chunk answers in its order
                answers[identity.key] = item
        return [answers[identity.key] for identity in identities]

    def _ask_chunk(
        self,
        client: AepClient,
        *,
        tenant: Tenant,
        chunk: list[Identity],
        query: Query,
        deadline: Deadline,
        usage: Usage,
    ) -> list[LookupItem]:
        try:
            self.tokens.wait(client, deadline)
        except ApiError as refused:
            return [_error_item(identity, refused) for identity in chunk]
        usage.aep_calls += 1
        try:
            found = self.offload.run(
                lambda: client.profiles.get_many(
                    [(identity.id, identity.namespace) for identity in chunk],
                    fields=query.aep_fields,
                    merge_policy_id=query.merge_policy_id,
                    deadline=deadline,
                ),
                deadline,
            )
        except ApiError as refused:  # the deadline passed first
            return [_error_item(identity, refused) for identity in chunk]
        except AepError as exc:
            if exc.status == 422 and len(chunk) > 1 and not deadline.expired():
                return [
                    self._one_item(
                        client, tenant=tenant, identity=one, query=query, deadline=deadline, usage=usage
                    )
                    for one in chunk
                ]
            error = from_aep(exc, deadline)
            return [_error_item(identity, error) for identity in chunk]
        index = _by_identity(found.values())
        items = []
        for identity in chunk:
            entity = index.get(identity.key)
            entry = _Entry(profile_view(entity) if entity is not None else None)
            self._remember(self._key(tenant, identity, query), entry)
            items.append(_item(identity, entry, cached=False))
        return items

    def _one_item(
        self,
        client: AepClient,
        *,
        tenant: Tenant,
        identity: Identity,
        query: Query,
        deadline: Deadline,
        usage: Usage,
    ) -> LookupItem:
        try:
            profile = self.profile(client, tenant, identity, query, deadline, bypass=True, usage=usage)
        except ApiError as error:
            if error.status == 404:
                return LookupItem(namespace=identity.namespace, id=identity.id, status="not_found")
            return _error_item(identity, error)
        return LookupItem(namespace=identity.namespace, id=identity.id, status="found", profile=profile)

    # -- events -----------------------------------------------------------------------------------------

    def events(
        self,
        client: AepClient,
        identity: Identity,
        *,
        limit: int,
        start_ms: int | None,
        end_ms: int | None,
        deadline: Deadline,
        usage: Usage | None = None,
    ) -> list[Event]:
        """The newest ``limit`` experience events in ``[start_ms, end_ms)``; never cached."""
        usage = usage if usage is not None else Usage()
        self.tokens.wait(client, deadline)
        usage.aep_calls += 1
        try:
            found = self.offload.run(
                lambda: list(
                    client.profiles.experience_events(
                        identity.id,
                        identity.namespace,
                        limit=limit,
                        start_time_ms=start_ms,
                        end_time_ms=end_ms,
                        max_pages=1,
                        deadline=deadline,
                    )
                ),
                deadline,
            )
        except AepError as exc:
            raise from_aep(exc, deadline) from None
        return [event_view(event) for event in found[:limit]]

    # -- the cache --------------------------------------------------------------------------------------

    @staticmethod
    def _key(tenant: Tenant, identity: Identity, query: Query) -> CacheKey:
        namespace, value = identity.key
        return (tenant.tenant_id, tenant.version, namespace, value, query.fields, query.merge_policy_id)

    def _remember(self, key: CacheKey, entry: _Entry) -> None:
        ttl = self.settings.cache_ttl_seconds if entry.profile else self.settings.negative_ttl_seconds
        self.cache.put(key, entry, ttl)


def _answer(entry: _Entry, *, cached: bool) -> Profile:
    if entry.profile is None:
        raise ApiError(404, "not-found", "no profile for this identity")
    return entry.profile.model_copy(update={"cached": cached})


def _item(identity: Identity, entry: _Entry, *, cached: bool) -> LookupItem:
    if entry.profile is None:
        return LookupItem(namespace=identity.namespace, id=identity.id, status="not_found")
    profile = entry.profile.model_copy(update={"cached": cached})
    return LookupItem(namespace=identity.namespace, id=identity.id, status="found", profile=profile)


def _error_item(identity: Identity, error: ApiError) -> LookupItem:
    detail = ErrorDetail(status=error.status, code=error.code, message=error.message)
    return LookupItem(namespace=identity.namespace, id=identity.id, status="error", error=detail)


def _by_identity(entities: Iterable[ProfileEntity]) -> dict[tuple[str, str], ProfileEntity]:
    """Each identity of each profile AEP returned -> that profile (AEP keys its answer by profile id)."""
    index: dict[tuple[str, str], ProfileEntity] = {}
    for entity in entities:
        if entity.empty:
            continue
        for view in identities_of(entity.entity):
            index.setdefault((view.namespace.lower(), view.id), entity)
    return index
