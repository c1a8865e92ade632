"""The token cache's negative cache: exact backoff periods, the replacement rule and its boundaries."""

from __future__ import annotations

import json
import random

import pytest

from aep import AepAuthError, AepServerError
from aep.token import AccessToken
from aep.token_cache import MAX_AHEAD, TokenCache, parse_shared
from tests.support.fakes import FakeClock
from tests.support.fakes import FakeIms as Ims

LIFETIME = 86_399.0


def cache(ims: Ims, secrets, clock: FakeClock, **kwargs) -> TokenCache:
    return TokenCache(
        fetch=ims,
        secret_id="aep/token",
        secrets_client=lambda: secrets,
        clock=clock,
        rng=random.Random(1),
        **kwargs,
    )


def persistent_rejection(tokens: TokenCache) -> None:
    """What the transport does when every token is refused: reject, refresh, reject the replacement."""
    tokens.invalidate(tokens.get().value)
    tokens.invalidate(tokens.get().value)


def blocked(tokens: TokenCache) -> bool:
    try:
        tokens.get()
    except AepAuthError:
        return True
    return False


def test_backoff_doubles_from_thirty_seconds_to_the_cap(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, max_backoff=100)
    persistent_rejection(tokens)
    periods = []
    for _ in range(4):
        waited = 0.0
        while blocked(tokens):
            clock.advance(0.5)
            waited += 0.5
        periods.append(waited)
        tokens.invalidate(tokens.get().value)  # the new replacement is refused too

    assert periods == [30.0, 60.0, 100.0, 100.0]
    assert ims.calls == 2 + 4


def test_blocked_error_says_how_long_and_why(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock)
    persistent_rejection(tokens)
    clock.advance(10)

    with pytest.raises(AepAuthError) as caught:
        tokens.get()

    assert caught.value.retryable
    assert caught.value.retry_after == 20.0
    assert caught.value.message == (
        "authentication backing off for 20s after: "
        "Platform rejected a token requested after the previous one was rejected"
    )


def test_a_replacement_rejected_at_the_window_edge_is_refreshed_not_blocked(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, reject_window=60)
    tokens.invalidate(tokens.get().value)
    replacement = tokens.get()
    clock.advance(60)  # it was accepted for a while: this is a revocation

    tokens.invalidate(replacement.value)

    assert tokens.get().value == "tok-3"


def test_a_replacement_rejected_just_inside_the_window_blocks(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, reject_window=60)
    tokens.invalidate(tokens.get().value)
    replacement = tokens.get()
    clock.advance(59.9)

    tokens.invalidate(replacement.value)

    assert blocked(tokens)
    assert ims.calls == 2


def test_rejecting_the_same_token_twice_counts_once(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock)
    persistent_rejection(tokens)
    tokens.invalidate("tok-2")  # a concurrent request with the same replacement
    clock.advance(30)

    assert tokens.get().value == "tok-3"


def test_a_token_that_served_the_window_ends_the_failure_streak(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, reject_window=60)
    persistent_rejection(tokens)
    clock.advance(30)
    good = tokens.get()  # tok-3: accepted this time
    clock.advance(60)
    assert tokens.get() == good  # served a whole window

    tokens.invalidate(good.value)  # revoked later: replaced at once
    tokens.invalidate(tokens.get().value)  # and that replacement refused: the first backoff again
    clock.advance(29.5)
    assert blocked(tokens)
    clock.advance(0.5)
    assert not blocked(tokens)


def test_a_token_adopted_from_the_secret_counts_as_a_replacement_only_if_issued_after_the_rejection(
    secrets, clock
):
    ims = Ims(clock)
    a = cache(ims, secrets, clock)
    b = cache(ims, secrets, clock)
    a.get()  # tok-1, shared
    clock.advance(1)
    a.invalidate("tok-1")
    a.get()  # tok-2, issued after A's rejection; shared
    b.invalidate("tok-1")  # B notices no earlier than tok-2 was issued
    assert b.get().value == "tok-2"
    a.invalidate("tok-2")
    b.invalidate("tok-2")

    assert blocked(a)  # A fetched tok-2 after its rejection
    assert b.get().value == "tok-3"  # tok-2 was issued before B's rejection: B refreshes


def test_an_adopted_token_issued_after_the_rejection_blocks_without_an_ims_call(secrets, clock):
    ims = Ims(clock)
    a = cache(ims, secrets, clock)
    b = cache(ims, secrets, clock)
    a.get()
    b.get()
    clock.advance(1)
    b.invalidate("tok-1")
    clock.advance(1)
    a.invalidate("tok-1")
    assert a.get().value == "tok-2"  # A refreshed after B's rejection
    assert b.get().value == "tok-2"  # B adopts it

    b.invalidate("tok-2")

    assert blocked(b)
    assert ims.calls == 2


def test_a_failed_ims_call_blocks_and_says_why(secrets, clock):
    ims = Ims(clock)
    ims.failure = AepServerError("IMS token request: Service Unavailable", status=503, code="E503")
    tokens = cache(ims, secrets, clock)

    with pytest.raises(AepServerError):
        tokens.get()
    clock.advance(29.5)
    with pytest.raises(AepAuthError) as caught:
        tokens.get()
    clock.advance(0.5)
    ims.failure = None

    assert (caught.value.status, caught.value.code) == (503, "E503")
    assert tokens.get().value == "tok-2"
    assert ims.calls == 2


def test_a_valid_token_is_served_during_a_backoff_and_refreshed_after_it(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, margin=3600, jitter=0)
    first = tokens.get()
    clock.set(first.expires_at - 3600)
    ims.failure = AepServerError("down", status=503)

    assert tokens.get() == first  # the refresh failed: keep the valid token
    clock.advance(29.5)
    assert tokens.get() == first
    assert ims.calls == 2
    ims.failure = None
    clock.advance(0.5)
    assert tokens.get().value == "tok-3"


def test_the_shared_secret_records_when_the_token_was_requested(secrets, clock):
    tokens = cache(Ims(clock), secrets, clock)
    token = tokens.get()

    stored = json.loads(secrets.get_secret_value(SecretId="aep/token")["SecretString"])

    assert stored == {
        "access_token": "tok-1",
        "expires_at": token.expires_at,
        "issued_at": clock.now(),
        "token_type": "bearer",
    }


NOW = 1_800_000_000.0


def shared(**fields: object) -> str:
    return json.dumps({"access_token": "abc", "expires_at": NOW + 100, **fields})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (shared(), AccessToken("abc", NOW + 100, 0.0)),
        (shared(issued_at=NOW), AccessToken("abc", NOW + 100, NOW)),
        (shared(issued_at=NOW + 100), AccessToken("abc", NOW + 100, NOW + 100)),
        (shared(issued_at=NOW + 100.5), None),
        (shared(issued_at=-1), None),
        (shared(issued_at=0), AccessToken("abc", NOW + 100, 0.0)),
        (shared(expires_at=NOW + MAX_AHEAD), AccessToken("abc", NOW + MAX_AHEAD, 0.0)),
        (shared(expires_at=NOW + MAX_AHEAD + 1), None),
        (shared(expires_at=0), AccessToken("abc", 0.0, 0.0)),
        (shared(expires_at=-0.5), None),
        (shared(expires_at=int(NOW + 100)), AccessToken("abc", NOW + 100, 0.0)),
        ("", None),
        (None, None),
        ("{}", None),
        ("null", None),
        (shared(expires_at=True), None),
        (shared(expires_at=float("nan")), None),
        (shared(issued_at=True), None),
        (shared(issued_at=float("inf")), None),
    ],
)
def test_parse_shared_boundaries(text, expected):
    assert parse_shared(text, NOW) == expected


def test_ims_outage_while_a_valid_token_is_held_backs_off_doubling(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, margin=3600, jitter=0)
    first = tokens.get()
    clock.set(first.expires_at - 3600)
    ims.failure = AepServerError("down", status=503)
    attempts_at = []
    for second in range(0, 400):
        before = ims.calls
        assert tokens.get() == first
        if ims.calls > before:
            attempts_at.append(second)
        clock.advance(1)

    assert attempts_at == [0, 30, 90, 210]


def test_ims_is_tried_again_before_the_held_token_becomes_unusable(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, margin=3600, jitter=0, hard_margin=60, backoff=1000)
    first = tokens.get()
    clock.set(first.expires_at - 500)
    ims.failure = AepServerError("down", status=503)
    assert tokens.get() == first  # IMS failed; backoff would be 1000 s, the token has 440 s left

    clock.advance(439.5)
    assert tokens.get() == first
    assert ims.calls == 2
    ims.failure = None
    clock.advance(0.5)
    assert tokens.get().value == "tok-3"


def test_a_cold_container_keeps_the_shared_token_when_its_refresh_fails(secrets, clock):
    ims = Ims(clock)
    first = cache(ims, secrets, clock, margin=3600, jitter=0).get()
    clock.set(first.expires_at - 3000)  # past the refresh point, still valid
    ims.failure = AepServerError("down", status=503)
    cold = cache(ims, secrets, clock, margin=3600, jitter=0)

    assert cold.get() == first
    assert cold.get() == first
    assert ims.calls == 2


def test_a_malformed_rejected_value_is_logged_without_its_content(secrets, clock, caplog):
    tokens = cache(Ims(clock), secrets, clock)
    caplog.set_level("INFO", logger="aep")

    tokens.invalidate("not a\r\ntoken")

    (record,) = [r for r in caplog.records if r.name == "aep.token_cache"]
    assert record.token == "malformed"
    assert "not a" not in caplog.text


def test_a_failure_streak_ends_when_a_token_obtained_after_it_has_served_exactly_the_window(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, margin=LIFETIME - 60, jitter=0, reject_window=60)
    persistent_rejection(tokens)  # one failure: blocked for 30 s
    clock.advance(30)
    good = tokens.get()  # tok-3: its refresh point is 60 s after its issue
    clock.advance(60)
    ims.failure = AepServerError("down", status=503)

    assert tokens.get() == good  # the scheduled refresh failed: a first failure again, 30 s
    clock.advance(29.5)
    tokens.get()
    assert ims.calls == 4
    clock.advance(0.5)
    tokens.get()
    assert ims.calls == 5


def test_a_revocation_just_after_a_scheduled_refresh_is_replaced_not_blocked(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, margin=LIFETIME - 60, jitter=0, reject_window=60)
    tokens.invalidate(tokens.get().value)  # tok-1 revoked
    second = tokens.get()  # tok-2 fetched at the same instant
    clock.advance(60)  # served a whole window; its refresh point
    third = tokens.get()  # tok-3: a scheduled refresh, not a replacement

    tokens.invalidate(third.value)  # revoked at once

    assert second.value == "tok-2"
    assert third.value == "tok-3"
    assert tokens.get().value == "tok-4"


def test_an_older_adopted_token_that_serves_the_window_ends_the_suspicion(secrets, clock):
    ims = Ims(clock)
    a = cache(ims, secrets, clock, margin=LIFETIME - 120, jitter=0, reject_window=60)
    b = cache(ims, secrets, clock, margin=LIFETIME - 120, jitter=0, reject_window=60)
    b.get()  # tok-1, shared
    a.invalidate("tok-0")  # A rejected some older token just now (tok-1 was issued no later)
    assert a.get().value == "tok-1"  # adopted, issued before the rejection
    clock.advance(59.5)
    a.get()
    clock.advance(0.5)
    a.get()  # tok-1 has now served 60 s since A's rejection
    clock.advance(60)  # tok-1's refresh point: A refreshes on schedule (tok-2)
    assert a.get().value == "tok-2"

    a.invalidate("tok-2")  # revoked at once: a revocation, not a failing replacement

    assert a.get().value == "tok-3"


def test_a_late_rejection_of_an_old_replacement_keeps_the_current_token_served(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, margin=LIFETIME - 60, jitter=0, reject_window=600, backoff=100)
    tokens.invalidate(tokens.get().value)
    tokens.get()  # tok-2, a replacement
    clock.advance(60)
    current = tokens.get()  # tok-3, a scheduled refresh
    tokens.invalidate("tok-2")  # a slow request's 401 for the old replacement: blocked for 100 s
    clock.advance(70)  # past tok-3's own refresh point, inside the block

    assert tokens.get() == current
    assert ims.calls == 3


def test_a_token_issued_at_the_instant_of_the_failure_ends_the_streak_once_it_served(secrets, clock):
    ims = Ims(clock)
    a = cache(ims, secrets, clock, margin=LIFETIME - 90, jitter=0, reject_window=60)
    b = cache(ims, secrets, clock, margin=LIFETIME - 90, jitter=0, reject_window=60)
    persistent_rejection(a)  # A: tok-1 and tok-2 rejected; one failure at t
    b.invalidate(b.get().value)
    assert b.get().value == "tok-3"  # fetched by B at t, shared
    clock.advance(30)
    assert a.get().value == "tok-3"  # A adopts it when its backoff ends
    clock.advance(60)  # served 90 s since its issue; its refresh point
    ims.failure = AepServerError("down", status=503)

    a.get()  # the scheduled refresh fails: a first failure again (30 s), not a second (60 s)
    clock.advance(30)
    a.get()

    assert ims.calls == 5


def test_a_scheduled_refresh_rejected_at_once_right_after_a_rejection_blocks(secrets, clock):
    ims = Ims(clock)
    b = cache(ims, secrets, clock)
    a = cache(ims, secrets, clock, margin=LIFETIME - 100, jitter=0, reject_window=60)
    b.get()  # tok-1 at t, shared
    assert a.get().value == "tok-1"
    clock.advance(99.5)
    a.invalidate("tok-0")  # some older token rejected just now
    clock.advance(0.5)
    assert a.get().value == "tok-2"  # tok-1's refresh point: refreshed on schedule

    a.invalidate("tok-2")  # rejected at once, half a second after the other rejection

    assert blocked(a)


def test_a_container_backing_off_adopts_a_newer_token_another_container_shared(secrets, clock):
    # B's replacement is revoked moments after it was fetched (a revocation of every live token): B backs
    # off. A, whose own token was not a replacement, fetches a new one and shares it. B must not wait out
    # its backoff with records going back to the queue: it adopts A's newer token, without calling IMS.
    ims = Ims(clock)
    a, b = cache(ims, secrets, clock), cache(ims, secrets, clock)
    first = a.get()
    b.invalidate(first.value)
    second = b.get()  # B's replacement (tok-2), shared
    clock.advance(1)
    b.invalidate(second.value)  # revoked: a rejected replacement, B backs off
    assert blocked(b)
    a.invalidate(first.value)  # A's token revoked too: not a replacement for A
    a.invalidate(a.get().value)  # A adopts B's shared tok-2, revoked too: issued before A's rejection
    third = a.get()  # tok-3, shared
    calls = ims.calls
    clock.advance(1)  # B reads the shared secret at most once a second while backing off

    adopted = b.get()

    assert (first.value, second.value, third.value) == ("tok-1", "tok-2", "tok-3")
    assert adopted.value == third.value
    assert ims.calls == calls


def test_while_backing_off_the_shared_secret_is_read_at_most_every_five_seconds(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, shared_poll_seconds=5)
    persistent_rejection(tokens)
    reads = []
    original = secrets.get_secret_value

    def counting(**kwargs):
        reads.append(clock.now())
        return original(**kwargs)

    secrets.get_secret_value = counting
    for _ in range(12):
        assert blocked(tokens)
        clock.advance(1)

    assert len(reads) == 3  # at 0, 5 and 10 seconds into the backoff: the shared token is the rejected one
    assert reads[1] - reads[0] == 5
    assert ims.calls == 2


def test_an_older_shared_token_is_not_adopted_while_backing_off(secrets, clock):
    ims = Ims(clock)
    a, b = cache(ims, secrets, clock), cache(ims, secrets, clock)
    first = a.get()
    b.invalidate(first.value)
    second = b.get()
    b.invalidate(second.value)
    # The secret goes back to a token issued before the rejected one (a stale write): not a way out.
    secrets.put_secret_value(
        SecretId="aep/token",
        SecretString=json.dumps(
            {"access_token": "tok-old", "expires_at": clock.now() + 3600, "issued_at": clock.now() - 10}
        ),
    )
    clock.advance(6)

    assert blocked(b)


def test_rejecting_another_token_keeps_the_held_one_without_reading_the_secret(secrets, clock):
    reads = {"n": 0}

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(secrets, name)

        def get_secret_value(self, **kwargs: object) -> object:
            reads["n"] += 1
            return secrets.get_secret_value(**kwargs)

    ims = Ims(clock)
    tokens = TokenCache(
        fetch=ims, secret_id="aep/token", secrets_client=Counting, clock=clock, rng=random.Random(1)
    )
    held = tokens.get()
    before = reads["n"]

    tokens.invalidate("tok-other")  # a token this container does not hold (another container's)

    assert tokens.get() is held
    assert (reads["n"], ims.calls) == (before, 1)


def share(secrets, value: str, *, issued_at: float, expires_at: float) -> None:
    """Another container's token in the shared secret."""
    body = {"access_token": value, "expires_at": expires_at, "issued_at": issued_at}
    secrets.put_secret_value(SecretId="aep/token", SecretString=json.dumps(body))


def test_a_shared_token_issued_exactly_when_the_rejected_one_was_is_not_a_way_out(secrets, clock):
    # "Newer" is strictly newer: a token from the same instant as the rejected replacement may be the
    # same revocation's victim.
    ims = Ims(clock)
    b = cache(ims, secrets, clock)
    b.invalidate(b.get().value)
    second = b.get()
    clock.advance(1)
    b.invalidate(second.value)  # a rejected replacement: backing off, newer than second.issued_at only
    share(secrets, "tok-same-instant", issued_at=second.issued_at, expires_at=clock.now() + 3600)
    clock.advance(1)

    assert blocked(b)
    share(secrets, "tok-later", issued_at=second.issued_at + 0.5, expires_at=clock.now() + 3600)
    clock.advance(1)
    assert b.get().value == "tok-later"


def test_adopting_a_newer_shared_token_is_logged_with_its_fingerprint_only(secrets, clock, caplog):
    ims = Ims(clock)
    b = cache(ims, secrets, clock)
    b.invalidate(b.get().value)
    second = b.get()
    clock.advance(1)
    b.invalidate(second.value)
    share(secrets, "tok-from-a", issued_at=clock.now(), expires_at=clock.now() + 3600)
    clock.advance(1)

    with caplog.at_level("INFO", logger="aep.token_cache"):
        adopted = b.get()

    [record] = [
        r for r in caplog.records if r.getMessage() == "adopting a newer shared token while backing off"
    ]
    assert record.__dict__["token"] == adopted.fingerprint
    assert "tok-from-a" not in caplog.text


def test_while_backing_off_an_unreadable_secret_keeps_the_backoff(secrets, clock):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock)
    persistent_rejection(tokens)
    clock.advance(2)

    def unreadable(**kwargs: object) -> object:
        raise ConnectionError("Secrets Manager unreachable")

    secrets.get_secret_value = unreadable

    with pytest.raises(AepAuthError, match="backing off"):
        tokens.get()


def test_after_a_failed_ims_call_a_token_shared_since_is_adopted_before_the_backoff_ends(secrets, clock):
    # IMS failed here (no rejected token to compare with): any usable token shared after the failure is
    # newer, and adopted without waiting for the backoff or calling IMS.
    ims = Ims(clock)
    ims.failure = AepServerError("IMS down", status=503)
    tokens = cache(ims, secrets, clock)
    with pytest.raises(AepServerError):
        tokens.get()
    clock.advance(2)
    share(secrets, "tok-from-a", issued_at=clock.now(), expires_at=clock.now() + 3600)
    clock.advance(1)

    assert tokens.get().value == "tok-from-a"
    assert ims.calls == 1


@pytest.mark.parametrize(("lease_seconds", "recheck"), [(40.0, 10.0), (400.0, 30.0)])
def test_while_another_container_refreshes_the_held_token_is_rechecked_soon(
    secrets, clock, lease_seconds, recheck
):
    # B holds the lease (refreshing): A keeps the still-valid shared token and looks again after a quarter
    # of the lease, at most 30 s, rather than at the token's far refresh point.
    ims = Ims(clock)
    a = cache(ims, secrets, clock, margin=3600, jitter=0, lease_seconds=lease_seconds)
    first = a.get()
    clock.set(first.expires_at - 3600)  # refresh point reached
    taken = []
    original_put = secrets.put_secret_value

    def lease_held(**kwargs: object) -> object:
        if kwargs.get("VersionStages"):
            taken.append(kwargs)
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "ResourceExistsException", "Message": "held"}}, "PutSecretValue"
            )
        return original_put(**kwargs)

    secrets.put_secret_value = lease_held
    reads = []
    original_get = secrets.get_secret_value

    def counting(**kwargs: object) -> object:
        reads.append(clock.now())
        return original_get(**kwargs)

    secrets.get_secret_value = counting

    assert a.get() == first
    start = clock.now()
    clock.advance(recheck - 0.5)
    assert a.get() == first
    assert reads == [start]
    clock.advance(0.5)
    assert a.get() == first
    assert reads == [start, start + recheck]
    assert ims.calls == 1


def test_when_the_lease_holder_never_publishes_the_container_fetches_and_says_so(secrets, clock, caplog):
    ims = Ims(clock)
    tokens = cache(ims, secrets, clock, lease_polls=3, lease_poll_seconds=0.5)

    def lease_held(**kwargs: object) -> object:
        from botocore.exceptions import ClientError

        if kwargs.get("VersionStages"):
            raise ClientError(
                {"Error": {"Code": "ResourceExistsException", "Message": "held"}}, "PutSecretValue"
            )
        return None

    secrets.put_secret_value = lease_held
    secrets.get_secret_value(SecretId="aep/token")  # "{}": no token, another container holds the lease

    with caplog.at_level("WARNING", logger="aep.token_cache"):
        token = tokens.get()

    assert token.value == "tok-1"
    assert "token refresh lease holder did not publish a token in time; fetching directly" in caplog.messages


def test_ready_says_whether_a_token_is_held_in_memory_and_not_due(secrets, clock):
    tokens = cache(Ims(clock), secrets, clock, margin=3600, jitter=0)

    assert tokens.ready() is False  # cold: the secret (or IMS) would be read
    first = tokens.get()
    assert tokens.ready() is True
    clock.set(first.expires_at - 3600)  # its refresh point: get() would refresh
    assert tokens.ready() is False
    tokens.invalidate(first.value)
    assert tokens.ready() is False


def test_ready_never_waits_for_a_fetch_in_progress(secrets, clock):
    import threading

    tokens = cache(Ims(clock), secrets, clock)
    tokens.get()

    answers: list[bool] = []
    tokens._lock.acquire()  # as a fetch in progress holds it
    try:
        asking = threading.Thread(target=lambda: answers.append(tokens.ready()), daemon=True)
        asking.start()
        asking.join(5)
        assert answers == [False]
    finally:
        tokens._lock.release()
    assert tokens.ready() is True
