"""The lookup service with a fake AEP client: a burst costs one call, the cache and the chunks."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from aep.errors import AepTimeoutError, AepValidationError
from aep.models import ProfileEntity
from aep.tenants import Tenant
from aep.timing import Deadline
from profile_lookup.errors import ApiError
from profile_lookup.flight import SingleFlight
from profile_lookup.identities import Identity
from profile_lookup.service import LookupService, Query, Usage
from profile_lookup.settings import LookupSettings
from tests.support.fakes import FakeClock

TENANT = Tenant(tenant_id="default", credentials_secret_id="c", token_secret_id="t")


def entity(phone: str, xid: str | None = None) -> ProfileEntity:
    return ProfileEntity.model_validate(
        {
            "entityId": xid or f"xid-{phone}",
            "entity": {"identityMap": {"Phone": [{"id": phone}]}, "person": {"name": {"firstName": phone}}},
            "lastModifiedAt": "2026-11-30T10:00:00Z",
        }
    )


class FakeProfiles:
    """AEP's profile access: known phones, every call recorded; ``gate`` holds GETs until set."""

    def __init__(self, known: set[str], gate: threading.Event | None = None) -> None:
        self.known = known
        self.gate = gate
        self.gets: list[tuple[str, str, Any]] = []
        self.posts: list[list[str]] = []
        self.entered = threading.Event()
        self.refuse_graph: set[str] = set()

    def get(self, value: str, namespace: str, **kwargs: Any) -> ProfileEntity | None:
        self.gets.append((value, namespace, kwargs.get("fields")))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
        if value in self.refuse_graph:
            raise AepValidationError("Too many related identities", status=422)
        return entity(value) if value in self.known else None

    def get_many(self, identities: list[tuple[str, str]], **kwargs: Any) -> dict[str, ProfileEntity]:
        self.posts.append([value for value, _ in identities])
        if self.refuse_graph & {value for value, _ in identities}:
            raise AepValidationError("Too many related identities", status=422)
        found = [entity(value) for value, _ in identities if value in self.known]
        return {e.entity_id: e for e in found}


def service(**settings: Any) -> tuple[LookupService, FakeClock]:
    clock = FakeClock()
    return LookupService(LookupSettings(**settings), clock), clock


def phone(n: int) -> Identity:
    return Identity("Phone", f"+1415555{n:04d}")


def test_a_burst_of_lookups_of_one_identity_costs_aep_one_request():
    svc, _ = service()
    gate = threading.Event()
    profiles = FakeProfiles({phone(1).id}, gate)
    client: Any = SimpleNamespace(profiles=profiles)
    joined = threading.Semaphore(0)
    svc.flight = SingleFlight(on_follow=lambda key: joined.release())
    usages = [Usage() for _ in range(5)]
    answers: list[Any] = [None] * 5

    def call(index: int) -> None:
        answers[index] = svc.profile(client, TENANT, phone(1), Query(), svc.deadline(), usage=usages[index])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(5)]
    threads[0].start()
    assert profiles.entered.wait(5)
    for thread in threads[1:]:
        thread.start()
    for _ in range(4):
        assert joined.acquire(timeout=5)  # the four others wait on the first one's call
    gate.set()
    for thread in threads:
        thread.join(5)

    assert len(profiles.gets) == 1
    assert {a.profile_id for a in answers} == {f"xid-{phone(1).id}"}
    assert sum(u.aep_calls for u in usages) == 1
    assert sum(u.shared for u in usages) == 4


def test_a_hit_answers_from_the_cache_and_a_bypass_asks_again():
    svc, _ = service()
    profiles = FakeProfiles({phone(1).id})
    client: Any = SimpleNamespace(profiles=profiles)

    first = svc.profile(client, TENANT, phone(1), Query(), svc.deadline())
    second = svc.profile(client, TENANT, phone(1), Query(), svc.deadline())
    third = svc.profile(client, TENANT, phone(1), Query(), svc.deadline(), bypass=True)

    assert (first.cached, second.cached, third.cached) == (False, True, False)
    assert len(profiles.gets) == 2


def test_tenants_and_their_versions_are_cached_apart():
    svc, _ = service()
    profiles = FakeProfiles({phone(1).id})
    client: Any = SimpleNamespace(profiles=profiles)
    other = TENANT.model_copy(update={"tenant_id": "brand-b", "org_id": "B@AdobeOrg"})
    newer = TENANT.model_copy(update={"version": 2})

    for tenant in (TENANT, other, newer, TENANT):
        svc.profile(client, tenant, phone(1), Query(), svc.deadline())

    assert len(profiles.gets) == 3


def test_fields_ask_aep_for_the_identity_map_too():
    svc, _ = service()
    profiles = FakeProfiles({phone(1).id})
    client: Any = SimpleNamespace(profiles=profiles)

    svc.profile(client, TENANT, phone(1), Query(fields=("person.name",)), svc.deadline())

    assert profiles.gets[0][2] == ["person.name", "identityMap"]


def test_a_404_is_remembered_for_the_negative_ttl_only():
    svc, clock = service(negative_ttl_seconds=2.0)
    profiles = FakeProfiles(set())
    client: Any = SimpleNamespace(profiles=profiles)

    for _ in range(2):
        with pytest.raises(ApiError) as caught:
            svc.profile(client, TENANT, phone(9), Query(), svc.deadline())
        assert caught.value.status == 404
    clock.advance(2.0)
    with pytest.raises(ApiError):
        svc.profile(client, TENANT, phone(9), Query(), svc.deadline())

    assert len(profiles.gets) == 2


def test_many_identities_go_in_chunks_and_come_back_in_order():
    svc, _ = service(aep_batch_size=3)
    identities = [phone(n) for n in range(8)]
    profiles = FakeProfiles({i.id for i in identities[::2]})
    client: Any = SimpleNamespace(profiles=profiles)

    items = svc.profiles(client, TENANT, [*identities, identities[0]], Query(), svc.deadline())

    assert sorted(len(call) for call in profiles.posts) == [2, 3, 3]
    assert [item.id for item in items] == [i.id for i in identities] + [identities[0].id]
    assert [item.status for item in items][:8] == ["found", "not_found"] * 4


def test_a_chunk_refused_for_a_large_graph_is_asked_one_identity_at_a_time():
    svc, _ = service()
    identities = [phone(n) for n in range(3)]
    profiles = FakeProfiles({i.id for i in identities})
    profiles.refuse_graph = {identities[1].id}
    client: Any = SimpleNamespace(profiles=profiles)

    items = svc.profiles(client, TENANT, identities, Query(), svc.deadline())

    assert [item.status for item in items] == ["found", "error", "found"]
    assert items[1].error is not None
    assert items[1].error.status == 422
    assert len(profiles.gets) == 3


class SlowTokens:
    """A token cache whose fetch (secret read, IMS) takes as long as ``gate`` stays closed."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lock = threading.Lock()  # held by a fetch, as the real cache's is
        self.held = False
        self.gets = 0

    def ready(self) -> bool:
        if not self.lock.acquire(blocking=False):
            return False
        try:
            return self.held
        finally:
            self.lock.release()

    def get(self) -> Any:
        with self.lock:
            self.gets += 1
            self.gate.wait(10)
            self.held = True
            return object()


def test_a_slow_token_fetch_costs_a_lookup_its_deadline_not_more_and_serves_the_next():
    svc, _ = service(deadline_seconds=0.2)
    tokens = SlowTokens()
    profiles = FakeProfiles({phone(1).id})
    client: Any = SimpleNamespace(profiles=profiles, tokens=tokens)

    with pytest.raises(ApiError) as caught:
        svc.profile(client, TENANT, phone(1), Query(), svc.deadline())
    with pytest.raises(ApiError):
        svc.profile(client, TENANT, phone(1), Query(), svc.deadline())  # waits on the same fetch

    assert (caught.value.status, caught.value.code) == (504, "deadline")
    assert profiles.gets == []  # AEP never asked without a token
    assert (svc.tokens.fetches, tokens.gets) == (1, 1)
    tokens.gate.set()  # the fetch ends in the background and fills the cache
    for _ in range(200):
        if tokens.held:
            break
        threading.Event().wait(0.01)
    answer = svc.profile(client, TENANT, phone(1), Query(), svc.deadline())
    assert answer.profile_id == f"xid-{phone(1).id}"
    assert (svc.tokens.fetches, tokens.gets) == (1, 1)


def test_a_token_the_cache_holds_is_used_on_the_request_thread():
    svc, _ = service()
    tokens = SlowTokens()
    tokens.held = True
    client: Any = SimpleNamespace(profiles=FakeProfiles({phone(1).id}), tokens=tokens)

    svc.profile(client, TENANT, phone(1), Query(), svc.deadline())

    assert (svc.tokens.fetches, tokens.gets) == (0, 0)


class WaitingSlowTokens(SlowTokens):
    """A cache whose ready() waits for its lock: the gate must not ask it while its own fetch runs."""

    def ready(self) -> bool:
        with self.lock:
            return self.held


def test_lookups_arriving_during_a_slow_fetch_wait_on_it_within_their_own_deadline():
    svc, _ = service(deadline_seconds=0.2)
    tokens = WaitingSlowTokens()
    client: Any = SimpleNamespace(profiles=FakeProfiles({phone(1).id}), tokens=tokens)
    with pytest.raises(ApiError):
        svc.profile(client, TENANT, phone(1), Query(), svc.deadline())

    started = threading.Event()
    outcome: list[int] = []

    def another() -> None:
        started.set()
        try:
            svc.profile(client, TENANT, phone(1), Query(), svc.deadline())
        except ApiError as refused:
            outcome.append(refused.status)

    worker = threading.Thread(target=another)
    worker.start()
    started.wait(5)
    worker.join(5)  # answered by its deadline although the fetch still runs

    assert not worker.is_alive()
    assert outcome == [504]
    assert tokens.gets == 1
    tokens.gate.set()


class FirstCallTimesOut(FakeProfiles):
    """The first GET waits for ``gate`` and then fails as a timed-out exchange does; later GETs answer."""

    def get(self, value: str, namespace: str, **kwargs: Any) -> ProfileEntity | None:
        self.gets.append((value, namespace, kwargs.get("fields")))
        if len(self.gets) == 1:
            self.entered.set()
            assert self.gate is not None
            self.gate.wait(5)
            raise AepTimeoutError("AEP did not answer in time")
        return entity(value)


def test_a_caller_who_shared_a_call_that_ran_out_of_its_first_caller_s_time_asks_again():
    svc, _ = service()
    gate = threading.Event()
    profiles = FirstCallTimesOut(set(), gate)
    client: Any = SimpleNamespace(profiles=profiles)
    joined = threading.Semaphore(0)
    svc.flight = SingleFlight(on_follow=lambda key: joined.release())
    first_clock, later_clock = FakeClock(), FakeClock()
    answers: dict[str, Any] = {}

    def ask(name: str, deadline: Deadline) -> None:
        try:
            answers[name] = svc.profile(client, TENANT, phone(1), Query(), deadline).profile_id
        except ApiError as refused:
            answers[name] = (refused.status, refused.code)

    first = threading.Thread(target=ask, args=("first", Deadline.after(1.0, first_clock)))
    later = threading.Thread(target=ask, args=("later", Deadline.after(1.0, later_clock)))
    first.start()
    assert profiles.entered.wait(5)  # the first caller's call is with AEP
    later.start()
    assert joined.acquire(timeout=5)  # the later caller waits on that call
    first_clock.advance(2.0)  # the first caller's deadline passes while AEP is silent
    gate.set()  # and the call fails
    first.join(5)
    later.join(5)

    assert answers == {"first": (504, "deadline"), "later": f"xid-{phone(1).id}"}  # asked again, in time
    assert len(profiles.gets) == 2


def test_a_caller_whose_own_deadline_passed_on_a_failed_call_is_answered_504():
    svc, clock = service(deadline_seconds=1.0)
    gate = threading.Event()
    profiles = FirstCallTimesOut(set(), gate)
    client: Any = SimpleNamespace(profiles=profiles)
    deadline = svc.deadline()

    def expire_then_fail() -> None:
        assert profiles.entered.wait(5)
        clock.advance(2.0)
        gate.set()

    threading.Thread(target=expire_then_fail).start()
    with pytest.raises(ApiError) as caught:
        svc.profile(client, TENANT, phone(1), Query(), deadline)

    assert (caught.value.status, caught.value.code) == (504, "deadline")
    assert len(profiles.gets) == 1  # not asked again: no time left
