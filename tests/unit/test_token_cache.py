"""The two-level token cache: memory, then the shared secret, with a lease so one container refreshes."""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3

from aep.token import AccessToken
from aep.token_cache import TokenCache
from tests.support.fakes import FakeClock

DAY = 86_400.0
LIFETIME = 86_399.0


class FakeIms:
    def __init__(self, clock: FakeClock, lifetime: float = LIFETIME) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> AccessToken:
        with self._lock:
            self.calls.append(self.clock.now())
            now = self.clock.now()
            return AccessToken(
                value=f"token-{len(self.calls)}", expires_at=now + self.lifetime, issued_at=now
            )


class CountingSecrets:
    """Wraps the moto client to count reads."""

    def __init__(self, client) -> None:
        self.client = client
        self.reads = 0

    def get_secret_value(self, **kwargs):
        self.reads += 1
        return self.client.get_secret_value(**kwargs)

    def put_secret_value(self, **kwargs):
        return self.client.put_secret_value(**kwargs)


def cache(ims, secrets, clock, seed=1, **kwargs) -> TokenCache:
    return TokenCache(
        fetch=ims,
        secret_id="aep/token",
        secrets_client=lambda: secrets,
        clock=clock,
        rng=random.Random(seed),
        **kwargs,
    )


def shared_token(secrets) -> dict[str, object]:
    value: dict[str, object] = json.loads(secrets.get_secret_value(SecretId="aep/token")["SecretString"])
    return value


def test_first_call_fetches_and_publishes_then_memory_serves(secrets, clock):
    ims = FakeIms(clock)
    counting = CountingSecrets(secrets)
    tokens = cache(ims, counting, clock)

    first = tokens.get()
    reads_after_first = counting.reads
    clock.advance(3600)
    second = tokens.get()

    assert first.value == second.value == "token-1"
    assert len(ims.calls) == 1
    assert counting.reads == reads_after_first  # memory hit: no Secrets Manager call
    assert shared_token(secrets) == {
        "access_token": "token-1",
        "expires_at": first.expires_at,
        "issued_at": first.issued_at,
        "token_type": "bearer",
    }


def test_another_container_adopts_the_shared_token(secrets, clock):
    ims = FakeIms(clock)
    cache(ims, secrets, clock, seed=1).get()

    adopted = cache(ims, secrets, clock, seed=2).get()

    assert adopted.value == "token-1"
    assert len(ims.calls) == 1


def test_refresh_happens_before_expiry_within_the_margin_and_jitter(secrets, clock):
    ims = FakeIms(clock)
    tokens = cache(ims, secrets, clock, margin=3600, jitter=1800)
    first = tokens.get()

    clock.set(first.expires_at - 5401)  # before any possible refresh point
    assert tokens.get().value == "token-1"
    clock.set(first.expires_at - 3600)  # past every refresh point
    refreshed = tokens.get()

    assert refreshed.value == "token-2"
    assert refreshed.expires_at > first.expires_at
    assert shared_token(secrets)["access_token"] == "token-2"


def test_invalidated_token_is_replaced_once(secrets, clock):
    ims = FakeIms(clock)
    a = cache(ims, secrets, clock, seed=1)
    b = cache(ims, secrets, clock, seed=2)
    assert a.get().value == b.get().value == "token-1"

    a.invalidate("token-1")
    replaced = a.get()
    b.invalidate("token-1")
    adopted = b.get()

    assert replaced.value == adopted.value == "token-2"
    assert len(ims.calls) == 2


def test_lease_loser_keeps_the_still_valid_token(secrets, clock):
    ims = FakeIms(clock)
    tokens_a = cache(ims, secrets, clock, seed=1, margin=3600, jitter=0)
    first = tokens_a.get()
    clock.set(first.expires_at - 3000)
    version = secrets.get_secret_value(SecretId="aep/token")["VersionId"]
    # Another container took the lease for this version and is still calling IMS.
    tokens_b = cache(ims, secrets, clock, seed=2, margin=3600, jitter=0)
    assert tokens_b._take_lease(version, clock.now())

    still = tokens_a.get()

    assert still.value == "token-1"
    assert len(ims.calls) == 1


def test_unreadable_secret_falls_back_to_per_container_cache(clock):
    class Broken:
        def get_secret_value(self, **kwargs):
            raise RuntimeError("AccessDenied")

        def put_secret_value(self, **kwargs):
            raise RuntimeError("AccessDenied")

    ims = FakeIms(clock)
    tokens = cache(ims, Broken(), clock)

    assert tokens.get().value == "token-1"
    assert tokens.get().value == "token-1"
    assert len(ims.calls) == 1


def test_fifty_workers_over_three_days_call_ims_at_most_twice_per_token_lifetime(aws):
    """50 containers (threads, each its own cache) share one secret; the clock runs for 3 simulated days."""
    client = boto3.client("secretsmanager")
    client.create_secret(Name="aep/token", SecretString="{}")
    clock = FakeClock(real_sleep=0.005)
    ims = FakeIms(clock)
    workers = [cache(ims, client, clock, seed=n) for n in range(50)]
    tick = 300.0
    tokens_seen: set[str] = set()
    lock = threading.Lock()

    def work(worker: TokenCache) -> None:
        token = worker.get()
        assert clock.now() < token.expires_at
        with lock:
            tokens_seen.add(token.value)

    start = clock.now()
    with ThreadPoolExecutor(max_workers=50) as pool:
        while clock.now() < start + 3 * DAY:
            list(pool.map(work, workers))
            clock.advance(tick)

    calls = ims.calls
    windows = [sum(1 for t in calls if w <= t < w + LIFETIME) for w in calls]
    print(f"IMS calls over 3 days with 50 workers: {len(calls)}; most in one token lifetime: {max(windows)}")
    assert max(windows) <= 2
    assert 3 <= len(calls) <= 8
    assert len(tokens_seen) == len(calls)
