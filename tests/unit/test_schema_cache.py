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
