"""aep.schema_cache, exactly: the bounds (TTL, recheck, failed-recheck wait) at their edge, the messages,
statuses and log lines of each way a schema cannot be had, a recheck of a dataset whose schema the settings
name, and two threads meeting on one dataset's recheck (found missing by `make mutate`)."""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

import pytest

from aep.schema_cache import SchemaUnavailableError, SchemaValidators, ValidationSettings
from tests.conftest import make_client, token_reply
from tests.support.recorder import Recorded, Recorder, Reply
from tests.unit.test_schema_cache import NEWER, REGISTRY, SCHEMA, SCHEMA_ID, WITH_INTENT, Ticks, registry_gets

LOGGER = "aep.schema_cache"


@pytest.fixture
def aep(recorder: Recorder, secrets: Any, clock: Any) -> Any:
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply()))
    recorder.on(
        "GET", "/data/foundation/catalog/dataSets/ds1", Reply(200, {"ds1": {"schemaRef": {"id": SCHEMA_ID}}})
    )
    return make_client(recorder.url, secrets, clock, max_attempts=1)


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


def test_a_schema_exactly_as_old_as_the_ttl_is_fetched_again(recorder: Recorder, aep: Any) -> None:
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(ttl_seconds=900), clock=ticks)
    first = cache.validator(aep, "ds1")
    ticks.now += 900
    assert cache.validator(aep, "ds1") is not first
    assert len(registry_gets(recorder)) == 2


def test_an_unknown_field_in_a_schema_exactly_as_old_as_the_bound_makes_it_fetched_again(
    recorder: Recorder, aep: Any
) -> None:
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA), Reply(200, NEWER))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(recheck_seconds=60), clock=ticks)
    validator = cache.validator(aep, "ds1")
    assert validator is not None
    ticks.now += 60
    validator(WITH_INTENT)
    assert len(registry_gets(recorder)) == 2


def test_a_failed_recheck_says_how_old_the_schema_is_and_is_tried_again_exactly_at_the_bound(
    recorder: Recorder, aep: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a schema fetched 120 s ago and a registry that now answers 503, then the newer schema
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA), Reply(503, {"title": "down"}), Reply(200, NEWER))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(recheck_seconds=60), clock=ticks)
    validator = cache.validator(aep, "ds1")
    assert validator is not None
    ticks.now += 120
    # When a record with an unknown field is checked
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(SchemaUnavailableError) as caught:
        validator(WITH_INTENT)
    # Then the error names the dataset, the schema's age and AEP's status
    assert caught.value.status == 503
    assert caught.value.message.startswith(
        "a field is not in the schema of dataset ds1 fetched 120 s ago, "
        "and a newer copy could not be fetched: "
    )
    # and one warning says so, with the dataset and the error as fields
    (warning,) = warnings_logged(caplog)
    assert warning.getMessage() == (
        "schema refresh for an unknown field failed; such records go back to be retried"
    )
    assert warning.__dict__["dataset"] == "ds1"
    assert "status=503" in warning.__dict__["error"]
    # and within the bound the answer comes at once, saying the same
    ticks.now += 59
    with pytest.raises(SchemaUnavailableError) as again:
        validator(WITH_INTENT)
    assert str(again.value) == (
        "a field is not in the schema of dataset ds1 fetched 179 s ago, and a newer copy could not be fetched"
    )
    assert len(registry_gets(recorder)) == 2
    # When exactly the bound has passed since the failure, the refresh is tried again and the record passes
    ticks.now += 1
    validator(WITH_INTENT)
    assert len(registry_gets(recorder)) == 3


def test_a_recheck_fetches_the_schema_the_settings_name_without_catalog(recorder: Recorder, aep: Any) -> None:
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA), Reply(200, NEWER))
    ticks = Ticks()
    cache = SchemaValidators(clock=ticks)
    validator = cache.validator(aep, "ds1", SCHEMA_ID)
    assert validator is not None
    ticks.now += 120
    validator(WITH_INTENT)
    assert len(registry_gets(recorder)) == 2
    assert recorder.calls("GET", "/catalog/") == []


def test_a_first_fetch_that_fails_is_logged_and_its_error_keeps_aeps_status(
    recorder: Recorder, aep: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.on("GET", REGISTRY, Reply(503, {"title": "down"}))
    ticks = Ticks()
    cache = SchemaValidators(clock=ticks)
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(SchemaUnavailableError) as caught:
        cache.validator(aep, "ds1")
    assert caught.value.status == 503
    assert caught.value.message.startswith("the schema of dataset ds1 could not be fetched: ")
    (warning,) = warnings_logged(caplog)
    assert warning.getMessage() == "schema unavailable; records go back to be retried"
    assert warning.__dict__["dataset"] == "ds1"
    assert "status=503" in warning.__dict__["error"]
    # Within 30 s, the same answer at once, saying when it is tried
    ticks.now += 10
    with pytest.raises(SchemaUnavailableError) as again:
        cache.validator(aep, "ds1")
    assert str(again.value) == "the schema of dataset ds1 could not be fetched (tried every 30 s)"
    assert len(registry_gets(recorder)) == 1


def test_best_effort_logs_the_unchecked_sending_and_keeps_sending_unchecked_for_30_seconds(
    recorder: Recorder, aep: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.on("GET", REGISTRY, Reply(503, {"title": "down"}))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(mode="best_effort"), clock=ticks)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert cache.validator(aep, "ds1") is None
    (warning,) = warnings_logged(caplog)
    assert warning.getMessage() == "schema unavailable; records are sent unchecked (best_effort)"
    assert warning.__dict__["dataset"] == "ds1"
    assert "status=503" in warning.__dict__["error"]
    ticks.now += 10
    assert cache.validator(aep, "ds1") is None
    assert len(registry_gets(recorder)) == 1


def test_a_failed_refresh_of_a_schema_in_use_is_logged(
    recorder: Recorder, aep: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA), Reply(500, {"title": "oops"}))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(ttl_seconds=60), clock=ticks)
    first = cache.validator(aep, "ds1")
    ticks.now += 61
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert cache.validator(aep, "ds1") is first
    (warning,) = warnings_logged(caplog)
    assert warning.getMessage() == "schema refresh failed; the schema fetched before stays in use"
    assert warning.__dict__["dataset"] == "ds1"
    assert "status=500" in warning.__dict__["error"]


class WatchedLock:
    """A dataset's lock that tells when the second thread is about to wait for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.second_waits = threading.Event()

    def __enter__(self) -> bool:
        if threading.current_thread().name == "second":
            self.second_waits.set()
        return self._lock.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._lock.__exit__(kind, value, trace)


def test_a_record_waiting_on_anothers_recheck_is_checked_against_the_copy_it_fetched(
    recorder: Recorder, aep: Any
) -> None:
    # Given a schema fetched 2 minutes ago, and two threads checking records with a field added since
    ticks = Ticks()
    cache = SchemaValidators(clock=ticks)
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA))
    check = cache.validator(aep, "ds1")
    assert check is not None
    (key,) = cache._entries
    lock = WatchedLock()
    cache._locks[key] = lock  # type: ignore[assignment]
    ticks.now += 120
    outcome: dict[str, BaseException | None] = {}

    def run(name: str) -> None:
        try:
            check(WITH_INTENT)
            outcome[name] = None
        except BaseException as exc:  # the assertion below names it
            outcome[name] = exc

    second = threading.Thread(target=run, args=("second",), name="second")

    def newer_once_the_second_waits(request: Recorded) -> Reply:
        # the first thread's fetch, under the dataset's lock: the second thread has read the stale copy
        # and now waits for that lock (the wait is a guard against a hang, not a timing)
        second.start()
        assert lock.second_waits.wait(30)
        return Reply(200, NEWER)

    recorder.on("GET", REGISTRY, newer_once_the_second_waits)
    # When the first thread's record makes the schema fetched again while the second's waits
    first = threading.Thread(target=run, args=("first",), name="first")
    first.start()
    first.join(60)
    second.join(60)
    # Then both records pass, and the schema was fetched once for both
    assert outcome == {"first": None, "second": None}
    assert len(registry_gets(recorder)) == 2
