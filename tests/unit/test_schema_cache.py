"""aep.schema_cache against a recording HTTP server: the schema is fetched once per container and TTL, from
Catalog's schemaRef when no schema is set, with the xed-full Accept; a failed fetch is transient unless
AEP_SCHEMA_VALIDATION allows sending unchecked; a schema fetched before outlives a failed refresh."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from aep.errors import AepConfigError
from aep.record_rules import RecordRefused
from aep.schema_cache import SchemaUnavailableError, SchemaValidators, ValidationSettings
from tests.conftest import make_client, token_reply
from tests.support.recorder import Recorder, Reply

SCHEMA_ID = "https://ns.adobe.com/acme/schemas/calls"
REGISTRY = r"/data/foundation/schemaregistry/tenant/schemas/.+"
SCHEMA = {
    "$id": SCHEMA_ID,
    "type": "object",
    "properties": {"_acme": {"type": "object", "properties": {"queue": {"type": "string"}}}},
}


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def aep(recorder: Recorder, secrets: Any, clock: Any) -> Any:
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply()))
    recorder.on(
        "GET", "/data/foundation/catalog/dataSets/ds1", Reply(200, {"ds1": {"schemaRef": {"id": SCHEMA_ID}}})
    )
    return make_client(recorder.url, secrets, clock, max_attempts=1)


def registry_gets(recorder: Recorder) -> list[Any]:
    return recorder.calls("GET", "/schemaregistry/")


def test_the_schema_is_fetched_once_per_ttl_from_the_datasets_schema_ref(
    recorder: Recorder, aep: Any
) -> None:
    # Given a registry serving the schema and a cache with a 900 s TTL
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(ttl_seconds=900), clock=ticks)
    # When three batches ask for the dataset's validator within the TTL
    first = cache.validator(aep, "ds1")
    assert cache.validator(aep, "ds1") is first
    ticks.now += 899
    assert cache.validator(aep, "ds1") is first
    # Then Catalog and the registry were each asked once, by $id, for the resolved (xed-full) schema
    gets = registry_gets(recorder)
    assert len(gets) == 1
    assert len(recorder.calls("GET", "/catalog/dataSets/ds1")) == 1
    assert unquote(gets[0].path.rsplit("/", 1)[-1]) == SCHEMA_ID
    assert gets[0].headers["accept"] == "application/vnd.adobe.xed-full+json; version=1"
    # and the validator is the schema's
    assert first is not None
    with pytest.raises(RecordRefused, match=r"^_acme.queue: must be a string$"):
        first({"_acme": {"queue": 7}})
    # When the TTL has passed, the schema is fetched again (a schema change is picked up)
    ticks.now += 2
    assert cache.validator(aep, "ds1") is not first
    assert len(registry_gets(recorder)) == 2


def test_a_schema_ref_given_by_the_settings_skips_catalog(recorder: Recorder, aep: Any) -> None:
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA))
    SchemaValidators().validator(aep, "ds1", SCHEMA_ID)
    assert recorder.calls("GET", "/catalog/") == []
    assert len(registry_gets(recorder)) == 1


def test_a_schema_that_cannot_be_fetched_is_transient_and_not_asked_again_for_30_seconds(
    recorder: Recorder, aep: Any
) -> None:
    # Given a registry answering 503
    recorder.on("GET", REGISTRY, Reply(503, {"title": "down"}))
    ticks = Ticks()
    cache = SchemaValidators(clock=ticks)
    # When a batch asks for the validator: a retryable error, never "send unchecked"
    with pytest.raises(SchemaUnavailableError) as caught:
        cache.validator(aep, "ds1")
    assert caught.value.retryable
    # and within 30 s the same answer comes at once, without a call
    ticks.now += 29
    with pytest.raises(SchemaUnavailableError):
        cache.validator(aep, "ds1")
    assert len(registry_gets(recorder)) == 1
    # Then after 30 s it is tried again, and a schema served now is used
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA))
    ticks.now += 2
    assert cache.validator(aep, "ds1") is not None
    assert len(registry_gets(recorder)) == 2


def test_best_effort_sends_unchecked_when_the_schema_cannot_be_fetched(recorder: Recorder, aep: Any) -> None:
    recorder.on("GET", REGISTRY, Reply(404, {"title": "Resource not found"}))
    cache = SchemaValidators(ValidationSettings(mode="best_effort"))
    assert cache.validator(aep, "ds1") is None


def test_off_never_fetches(recorder: Recorder, aep: Any) -> None:
    assert SchemaValidators(ValidationSettings(mode="off")).validator(aep, "ds1") is None
    assert recorder.requests == []


def test_a_schema_fetched_before_stays_in_use_when_its_refresh_fails(recorder: Recorder, aep: Any) -> None:
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA), Reply(500, {"title": "oops"}))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(ttl_seconds=60), clock=ticks)
    first = cache.validator(aep, "ds1")
    ticks.now += 61
    assert cache.validator(aep, "ds1") is first
    assert cache.validator(aep, "ds1") is first  # the refresh waits 30 s before it is tried again
    assert len(registry_gets(recorder)) == 2


def test_the_settings_come_from_the_environment_and_a_bad_value_is_named() -> None:
    settings = ValidationSettings.from_env(
        {"AEP_SCHEMA_VALIDATION": "best_effort", "AEP_SCHEMA_TTL_SECONDS": "60"}
    )
    assert (settings.mode, settings.ttl_seconds) == ("best_effort", 60)
    assert ValidationSettings.from_env({}).mode == "required"
    with pytest.raises(AepConfigError, match="AEP_SCHEMA_VALIDATION"):
        ValidationSettings.from_env({"AEP_SCHEMA_VALIDATION": "maybe"})


# A field added in AEP after the container fetched the schema (setup extends field groups additively).
NEWER = {
    "$id": SCHEMA_ID,
    "type": "object",
    "properties": {
        "_acme": {
            "type": "object",
            "properties": {"queue": {"type": "string"}, "intent": {"type": "string"}},
        }
    },
}
WITH_INTENT = {"_acme": {"queue": "billing", "intent": "refund"}}


def test_a_field_added_in_aep_is_not_refused_from_a_stale_schema(recorder: Recorder, aep: Any) -> None:
    # Given a container holding the schema fetched two minutes before the field was added (TTL 900 s)
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA), Reply(200, NEWER))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(ttl_seconds=900), clock=ticks)
    assert cache.validator(aep, "ds1") is not None
    ticks.now += 120
    validator = cache.validator(aep, "ds1")
    assert validator is not None
    # When a record with the new field is checked
    result = validator(WITH_INTENT)
    # Then the schema was fetched again and the record passes; the newer copy serves the next batches
    assert result is None
    assert len(registry_gets(recorder)) == 2
    assert cache.validator(aep, "ds1") is validator
    validator(WITH_INTENT)
    assert len(registry_gets(recorder)) == 2


def test_an_unknown_field_is_refused_without_a_fetch_when_the_schema_is_recent(
    recorder: Recorder, aep: Any
) -> None:
    # Given a schema fetched 59 s ago (the recheck bound is 60 s)
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA), Reply(200, NEWER))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(recheck_seconds=60), clock=ticks)
    validator = cache.validator(aep, "ds1")
    assert validator is not None
    ticks.now += 59
    # When a record names a field it does not have, Then it is refused at once, from the copy in use
    with pytest.raises(RecordRefused, match=r"^_acme.intent: is not a field of the schema$"):
        validator(WITH_INTENT)
    assert len(registry_gets(recorder)) == 1


def test_a_field_still_unknown_after_the_recheck_is_refused_and_rechecked_once_per_bound(
    recorder: Recorder, aep: Any
) -> None:
    # Given a schema that really lacks the field, fetched 61 s ago
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(recheck_seconds=60), clock=ticks)
    validator = cache.validator(aep, "ds1")
    assert validator is not None
    ticks.now += 61
    # When three records with the unknown field arrive within the next minute
    for _ in range(3):
        with pytest.raises(RecordRefused, match=r"^_acme.intent: is not a field of the schema$") as caught:
            validator(WITH_INTENT)
        assert not isinstance(caught.value, SchemaUnavailableError)
        ticks.now += 10
    # Then the schema was fetched again once: the first refusal waited for it, the others did not
    assert len(registry_gets(recorder)) == 2
    # and a minute after that fetch, an unknown field makes it fetched once more
    ticks.now += 31
    with pytest.raises(RecordRefused):
        validator(WITH_INTENT)
    assert len(registry_gets(recorder)) == 3


def test_an_unknown_field_is_transient_when_the_newer_schema_cannot_be_fetched(
    recorder: Recorder, aep: Any
) -> None:
    # Given a schema fetched 2 minutes ago and a registry that now answers 503, then the newer schema
    recorder.on("GET", REGISTRY, Reply(200, SCHEMA), Reply(503, {"title": "down"}), Reply(200, NEWER))
    ticks = Ticks()
    cache = SchemaValidators(ValidationSettings(recheck_seconds=60), clock=ticks)
    validator = cache.validator(aep, "ds1")
    assert validator is not None
    ticks.now += 120
    # When a record with an unknown field is checked, Then it is not refused: retry it later
    with pytest.raises(SchemaUnavailableError) as caught:
        validator(WITH_INTENT)
    assert caught.value.retryable
    assert not isinstance(caught.value, RecordRefused)
    # and records without unknown fields are still checked and pass, without a fetch
    validator({"_acme": {"queue": "billing"}})
    with pytest.raises(RecordRefused, match=r"^_acme.queue: must be a string$"):
        validator({"_acme": {"queue": 7}})
    # and within the bound the failed refresh is not tried again (the same transient answer at once)
    ticks.now += 59
    with pytest.raises(SchemaUnavailableError):
        validator(WITH_INTENT)
    assert len(registry_gets(recorder)) == 2
    # When the bound has passed, the refresh is tried again and the record passes
    ticks.now += 2
    validator(WITH_INTENT)
    assert len(registry_gets(recorder)) == 3


def test_the_recheck_bound_comes_from_the_environment() -> None:
    assert ValidationSettings().recheck_seconds == 60
    assert ValidationSettings.from_env({"AEP_SCHEMA_RECHECK_SECONDS": "5"}).recheck_seconds == 5
    with pytest.raises(AepConfigError, match="AEP_SCHEMA_RECHECK_SECONDS"):
        ValidationSettings.from_env({"AEP_SCHEMA_RECHECK_SECONDS": "-1"})


def test_an_ecma_only_pattern_does_not_stop_the_whole_dataset(recorder: Recorder, aep: Any) -> None:
    # Given a schema one of whose patterns Python's re cannot read (an ECMA Unicode property escape)
    schema = {
        "$id": SCHEMA_ID,
        "type": "object",
        "properties": {
            "_acme": {
                "type": "object",
                "properties": {
                    "queue": {"type": "string", "pattern": "^[a-z]+$"},
                    "name": {"type": "string", "pattern": r"^\p{L}+$"},
                },
            }
        },
    }
    recorder.on("GET", REGISTRY, Reply(200, schema))
    # When the dataset's validator is asked for (required mode)
    validator = SchemaValidators().validator(aep, "ds1")
    # Then there is one, the other fields are checked, and only that field's pattern is skipped
    assert validator is not None
    validator({"_acme": {"queue": "billing", "name": "Zoë"}})
    with pytest.raises(RecordRefused, match=r"^_acme.queue: must match the pattern \^\[a-z\]\+\$$"):
        validator({"_acme": {"queue": "Billing"}})
    with pytest.raises(RecordRefused, match=r"^_acme.name: must be a string$"):
        validator({"_acme": {"name": 7}})
