"""The refresh lease's edges: the hard margin, a lease loser's recheck, waiting for the lease holder."""

from __future__ import annotations

import json
import random

from aep.token_cache import TokenCache
from tests.support.fakes import FakeClock
from tests.support.fakes import FakeIms as Ims

LIFETIME = 86_399.0


class CountingSecrets:
    def __init__(self, client) -> None:
        self.client = client
        self.reads = 0

    def get_secret_value(self, **kwargs):
        self.reads += 1
        return self.client.get_secret_value(**kwargs)

    def put_secret_value(self, **kwargs):
        return self.client.put_secret_value(**kwargs)


def cache(ims, secrets, clock, **kwargs) -> TokenCache:
    return TokenCache(
        fetch=ims,
        secret_id="aep/token",
        secrets_client=lambda: secrets,
        clock=clock,
        rng=random.Random(1),
        **kwargs,
    )


def current_version(secrets) -> str:
    return str(secrets.get_secret_value(SecretId="aep/token")["VersionId"])


def test_a_token_is_not_used_from_the_hard_margin_on(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, margin=30, jitter=0, hard_margin=60)
    first = tokens.get()

    clock.set(first.expires_at - 60.5)
    assert tokens.get() == first
    clock.set(first.expires_at - 60)
    assert tokens.get().value == "tok-2"


def test_a_lease_loser_rechecks_the_secret_thirty_seconds_later(secrets, clock):
    ims = Ims(clock)
    first = cache(ims, secrets, clock, margin=3600, jitter=0).get()
    clock.set(first.expires_at - 3000)
    holder = cache(ims, secrets, clock, margin=3600, jitter=0)
    assert holder._take_lease(current_version(secrets), clock.now())
    counting = CountingSecrets(secrets)
    loser = cache(ims, counting, clock, margin=3600, jitter=0)

    assert loser.get() == first
    reads = counting.reads
    clock.advance(29.5)
    assert loser.get() == first
    assert counting.reads == reads
    assert ims.calls == 1
    clock.advance(0.5)
    loser.get()  # (the lease's time bucket has changed by now: the loser may take the next one)
    assert counting.reads == reads + 1


class PublishingClock(FakeClock):
    """Publishes a token into the secret during the second sleep (the lease holder finishing)."""

    def __init__(self, secrets) -> None:
        super().__init__()
        self.secrets = secrets

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(self.sleeps) == 2:
            body = {"access_token": "published", "expires_at": self.now() + LIFETIME, "issued_at": self.now()}
            self.secrets.put_secret_value(SecretId="aep/token", SecretString=json.dumps(body))


def test_without_a_usable_token_a_lease_loser_waits_for_the_holder(secrets):
    clock = PublishingClock(secrets)
    ims = Ims(clock)
    holder = cache(ims, secrets, clock)
    assert holder._take_lease(current_version(secrets), clock.now())  # the secret holds no token yet
    waiting = cache(ims, secrets, clock, lease_poll_seconds=0.5, lease_polls=10)

    token = waiting.get()

    assert token.value == "published"
    assert clock.sleeps == [0.5, 0.5]
    assert ims.calls == 0


def test_a_lease_loser_fetches_itself_when_the_holder_never_publishes(secrets, clock):
    ims = Ims(clock)
    holder = cache(ims, secrets, clock)
    assert holder._take_lease(current_version(secrets), clock.now())
    waiting = cache(ims, secrets, clock, lease_poll_seconds=0.5, lease_polls=3)

    assert waiting.get().value == "tok-1"
    assert clock.sleeps == [0.5, 0.5, 0.5]
