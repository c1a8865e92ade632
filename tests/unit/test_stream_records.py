"""Record preparation: envelope, bare record and SNS bodies; cleaning, identities, ids, limits."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from aep.record_rules import clean, deterministic_id
from aep.streaming import MAX_REQUEST_BYTES, encode
from stream_ingest.records import Prepared, Rejected, Target, prepare
from stream_ingest.settings import StreamSettings
from tests.support.events import load_event

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TARGET = Target(
    inlet_id="inlet",
    dataset_id="65f0c0a1e4b0c1d2e3f40002",
    schema_ref="https://ns.adobe.com/acme/schemas/ivr-call-event",
    flow_id="flow-1",
    org_id="EMULATOR0000000000000000@AdobeOrg",
)
SETTINGS = StreamSettings(
    inlet_id="inlet", dataset_id=TARGET.dataset_id, flow_id="flow-1", dlq_url="https://sqs/dlq"
)


def body_of(name: str) -> str:
    return str(load_event(name)["Records"][0]["body"])


def run(body: str, settings: StreamSettings = SETTINGS) -> Prepared | Rejected:
    return prepare("m1", body, group=None, settings=settings, target=TARGET, now=NOW)


def test_bare_record_is_wrapped_from_configuration():
    result = run(body_of("sqs-bare-record.json"))

    assert isinstance(result, Prepared)
    header = result.message["header"]
    assert header == {
        "schemaRef": {
            "id": TARGET.schema_ref,
            "contentType": "application/vnd.adobe.xed-full+json;version=1",
        },
        "imsOrgId": TARGET.org_id,
        "datasetId": TARGET.dataset_id,
        "flowId": "flow-1",
    }
    entity = result.message["body"]["xdmEntity"]
    assert entity["identityMap"]["Phone"][0]["id"] == "+14155550100"
    assert len(entity["_id"]) == 64


def test_full_message_keeps_its_header_and_normalises_identities():
    result = run(body_of("sqs-xdm-message.json"))

    assert isinstance(result, Prepared)
    assert result.message["header"]["flowId"] == "d8a6f005-0000-4000-8000-00000000c411"
    assert result.message["body"]["xdmEntity"]["_id"] == "call-2026-11-29-0002"
    assert result.message["body"]["xdmEntity"]["identityMap"]["Phone"][0]["id"] == "+14155550100"


def test_sns_notification_is_unwrapped():
    result = run(body_of("sqs-sns-wrapped.json"))

    assert isinstance(result, Prepared)
    assert result.message["body"]["xdmEntity"]["_id"] == "call-2026-11-29-0003"


def test_deterministic_id_is_stable_across_redelivery_and_number_formats():
    record = json.loads(body_of("sqs-bare-record.json"))
    again = {**record, "identityMap": {"Phone": [{"id": "+1 415-555-0100", "primary": True}]}}

    first, second, third = run(json.dumps(record)), run(json.dumps(record)), run(json.dumps(again))

    assert isinstance(first, Prepared)
    assert isinstance(second, Prepared)
    assert isinstance(third, Prepared)
    ids = {p.message["body"]["xdmEntity"]["_id"] for p in (first, second, third)}
    assert len(ids) == 1


def test_nulls_and_empties_are_removed():
    assert clean(
        {"a": None, "b": "", "c": [], "d": {}, "e": {"f": None}, "g": [None, 1], "h": 0, "i": False}
    ) == {
        "g": [1],
        "h": 0,
        "i": False,
    }


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda r: r.pop("identityMap"), "identityMap", "no identity"),
        (lambda r: r.update(timestamp="2026-11-29T12:05:00Z"), "timestamp", "in the future"),
        (lambda r: r.update(timestamp="yesterday"), "timestamp", "timestamp"),
        (lambda r: r.update(timestamp="2026-11-29T09:30:00"), "timestamp", "timezone"),
        (lambda r: r.update(_id=42.0), "_id", "valid string"),
        (lambda r: r.update(_id=True), "_id", "valid string"),
        (lambda r: r["identityMap"]["Phone"][0].update(id="not a number"), "identityMap.Phone.0.id", "phone"),
        (lambda r: r.update(identityMap={"Email": [{"id": "nobody"}]}), "identityMap.Email.0.id", "email"),
    ],
)
def test_invalid_records_are_rejected_with_field_and_reason(mutate, field, reason):
    record = json.loads(body_of("sqs-bare-record.json"))
    mutate(record)

    result = run(json.dumps(record))

    assert isinstance(result, Rejected)
    assert result.field == field
    assert reason in result.reason.lower() or reason in result.reason


def test_not_json_and_wrong_dataset_are_rejected():
    envelope = json.loads(body_of("sqs-xdm-message.json"))
    envelope["header"]["datasetId"] = "another"

    assert run("{oops").reason == "message body is not JSON"  # type: ignore[union-attr]
    assert run(json.dumps(envelope)).field == "header.datasetId"  # type: ignore[union-attr]


def test_oversized_message_is_refused_with_413():
    record = json.loads(body_of("sqs-bare-record.json"))
    record["_acme"]["call"]["intent"] = "x" * 1_000_000

    result = run(json.dumps(record))

    assert isinstance(result, Rejected)
    assert result.status == 413


def test_profile_records_need_no_id_or_timestamp_and_use_descriptor_identity():
    settings = StreamSettings(
        inlet_id="i",
        dataset_id=TARGET.dataset_id,
        flow_id="flow-1",
        dlq_url="q",
        record_class="profile",
        identity_field="_acme.loyalty.email",
        identity_namespace="Email",
    )
    record = {"_acme": {"loyalty": {"email": " Cy@Example.com ", "points": 3}}}

    result = run(json.dumps(record), settings)

    assert isinstance(result, Prepared)
    assert result.message["body"]["xdmEntity"] == {
        "_acme": {"loyalty": {"email": "cy@example.com", "points": 3}}
    }


def test_identity_settings_go_together():
    from aep import AepConfigError

    with pytest.raises(AepConfigError, match="go together"):
        StreamSettings.from_env(
            {
                "STREAM_INLET_ID": "i",
                "STREAM_DATASET_ID": "d",
                "STREAM_FLOW_ID": "f",
                "STREAM_DLQ_URL": "q",
                "STREAM_IDENTITY_FIELD": "_acme.email",
            }
        )


def test_bare_records_are_encoded_exactly_as_the_full_message_would_be():
    for name in ("sqs-bare-record.json", "sqs-sns-wrapped.json"):
        result = run(body_of(name))
        assert isinstance(result, Prepared)
        assert result.encoded == encode(result.message)
        assert json.loads(result.encoded) == result.message


# Pinned behaviour (exact reasons, boundaries, shapes): what users read in the DLQ and what AEP receives.


def record_of(name: str = "sqs-bare-record.json") -> dict[str, Any]:
    return dict(json.loads(body_of(name)))


def test_a_bare_record_travels_in_the_configured_envelope():
    result = run(body_of("sqs-bare-record.json"))

    assert isinstance(result, Prepared)
    schema = {"id": TARGET.schema_ref, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    body = result.message["body"]
    assert list(body) == ["xdmMeta", "xdmEntity"]
    assert body["xdmMeta"] == {"schemaRef": schema}
    assert result.group is None
    assert result.message_id == "m1"


def test_the_group_travels_with_the_prepared_message():
    result = prepare(
        "m1", body_of("sqs-bare-record.json"), group="g-1", settings=SETTINGS, target=TARGET, now=NOW
    )

    assert isinstance(result, Prepared)
    assert result.group == "g-1"


def test_the_deterministic_id_hashes_the_canonical_form():
    record = {"b": 1, "a": "é", "c": [1, {"y": 2, "x": 3}]}
    canonical = '{"a":"é","b":1,"c":[1,{"x":3,"y":2}]}'

    assert deterministic_id(record, "ds") == hashlib.sha256(f"ds|{canonical}".encode()).hexdigest()


def test_a_one_character_id_is_an_id():
    record = record_of()
    record["_id"] = "a"

    result = run(json.dumps(record))

    assert isinstance(result, Prepared)
    assert result.message["body"]["xdmEntity"]["_id"] == "a"


def test_a_message_with_an_empty_header_keeps_its_body_fields():
    entity = record_of()
    message = {"header": {}, "body": {"xdmEntity": entity, "extra": {"kept": 1}}}

    result = run(json.dumps(message))

    assert isinstance(result, Prepared)
    assert result.message["body"]["extra"] == {"kept": 1}
    assert result.message["header"]["flowId"] == TARGET.flow_id


def test_a_header_without_a_body_is_refused():
    message = json.loads(body_of("sqs-xdm-message.json"))
    del message["body"]

    result = run(json.dumps(message))

    assert result == Rejected("m1", "a streaming message needs header and body.xdmEntity objects", "body")


def test_a_message_for_another_dataset_is_refused_with_its_reason():
    message = json.loads(body_of("sqs-xdm-message.json"))
    message["header"]["datasetId"] = "another"

    assert run(json.dumps(message)) == Rejected(
        "m1", "header.datasetId is not the dataset of this inlet", "header.datasetId"
    )


def test_a_timestamp_exactly_at_the_allowed_skew_is_accepted_and_one_second_later_refused():
    record = record_of()
    record["timestamp"] = "2026-11-29T12:01:00Z"  # NOW + 60 s, the default skew
    assert isinstance(run(json.dumps(record)), Prepared)

    record["timestamp"] = "2026-11-29T12:01:01Z"
    assert run(json.dumps(record)) == Rejected("m1", "timestamp: is in the future", "timestamp")


def test_a_record_without_identity_is_refused_with_its_reason():
    record = record_of()
    del record["identityMap"]

    assert run(json.dumps(record)) == Rejected(
        "m1", "the record has no identity (identityMap)", "identityMap"
    )


def test_a_record_without_identity_names_the_identity_field_too():
    settings = StreamSettings(
        inlet_id="i",
        dataset_id=TARGET.dataset_id,
        flow_id="f",
        dlq_url="q",
        identity_field="_acme.email",
        identity_namespace="Email",
    )
    record = record_of()
    del record["identityMap"]

    assert run(json.dumps(record), settings) == Rejected(
        "m1", "the record has no identity (identityMap or _acme.email)", "identityMap"
    )


def test_an_invalid_identity_field_is_refused_with_its_reason():
    settings = StreamSettings(
        inlet_id="i",
        dataset_id=TARGET.dataset_id,
        flow_id="f",
        dlq_url="q",
        record_class="profile",
        identity_field="_acme.loyalty.email",
        identity_namespace="Email",
    )
    record = {"_acme": {"loyalty": {"email": "cy@@example.com"}}}

    assert run(json.dumps(record), settings) == Rejected(
        "m1", "_acme.loyalty.email: email address must have exactly one @", "_acme.loyalty.email"
    )


def test_an_invalid_identity_entry_is_refused_with_its_reason():
    record = record_of()
    record["identityMap"] = {"Email": [{"id": "jane@doe@example.com"}]}

    assert run(json.dumps(record)) == Rejected(
        "m1", "identityMap.Email.0.id: email address must have exactly one @", "identityMap.Email.0.id"
    )


def test_an_identity_list_of_the_wrong_type_under_a_personal_key_is_not_echoed():
    record = record_of()
    record["identityMap"] = {"jane@example.com": "x"}

    result = run(json.dumps(record))

    assert isinstance(result, Rejected)
    assert result.field == "identityMap.(a key that is not a namespace code)"


def test_lists_nest_their_items_one_level_deeper():
    from aep.record_rules import MAX_DEPTH

    node: dict[str, Any] = {"v": 1}
    for _ in range(MAX_DEPTH - 3):
        node = {"n": node}
    record = record_of()
    record["_acme"] = [node]  # entity 1, list 2, then MAX_DEPTH - 2 objects

    assert isinstance(run(json.dumps(record)), Prepared)
    record["_acme"] = [{"n": node}]
    assert isinstance(run(json.dumps(record)), Rejected)


def test_clean_keeps_scalars():
    assert clean(3) == 3
    assert clean("x") == "x"


def test_the_size_limit_is_exact():
    record = record_of()
    record["_acme"]["call"]["intent"] = ""
    record["_acme"]["call"]["note"] = "x"
    first = run(json.dumps(record))
    assert isinstance(first, Prepared)
    room = MAX_REQUEST_BYTES - len(b'{"messages":[]}') - len(first.encoded)
    record["_acme"]["call"]["note"] = "x" * (1 + room)  # exactly 1,000,000 bytes as one request

    fits = run(json.dumps(record))

    assert isinstance(fits, Prepared)
    assert len(fits.encoded) + len(b'{"messages":[]}') == MAX_REQUEST_BYTES
    record["_acme"]["call"]["note"] = "x" * (2 + room)
    size = len(fits.encoded) + 1
    assert run(json.dumps(record)) == Rejected(
        "m1", f"message is {size} bytes; AEP accepts at most 1 MB per request", None, 413
    )


# Types AEP's XDM validation would refuse after accepting the request (the record would then reach neither
# AEP's dataset nor our DLQ): refused here instead, not coerced.
RFC3339 = "timestamp: must be an RFC 3339 date-time string with a timezone, such as 2026-11-29T09:30:00Z"


@pytest.mark.parametrize(
    "value",
    [
        1764400000,
        1764400000.5,
        "1764400000",
        "2026-11-29",
        "2026-11-29T09:30:00",
        True,
        " 2026-11-29T09:30:00Z",
    ],
)
def test_a_timestamp_must_be_an_rfc3339_string_with_a_timezone(value):
    record = record_of()
    record["timestamp"] = value

    assert run(json.dumps(record)) == Rejected("m1", RFC3339, "timestamp")


@pytest.mark.parametrize(
    "value",
    ["2026-11-29T09:30:00Z", "2026-11-29T09:30:00.123Z", "2026-11-29T10:30:00+01:00", "2026-11-29t09:30:00z"],
)
def test_rfc3339_timestamps_are_accepted_as_written(value):
    record = record_of()
    record["timestamp"] = value

    result = run(json.dumps(record))

    assert isinstance(result, Prepared)
    assert result.message["body"]["xdmEntity"]["timestamp"] == value


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_primary_must_be_a_boolean(value):
    record = record_of()
    record["identityMap"]["Phone"][0]["primary"] = value

    assert run(json.dumps(record)) == Rejected(
        "m1", "identityMap.Phone.0.primary: Input should be a valid boolean", "identityMap.Phone.0.primary"
    )
