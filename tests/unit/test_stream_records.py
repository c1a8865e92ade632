"""Record preparation: envelope, bare record and SNS bodies; cleaning, identities, ids, limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from aep.streaming import encode
from stream_ingest.records import Prepared, Rejected, Target, clean, prepare
from stream_ingest.settings import StreamSettings
from tests.support.events import load_event

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TARGET = Target(
    inlet_id="inlet",
    dataset_id="65f0c0a1e4b0c1d2e3f40002",
    schema_ref="https://ns.adobe.com/acme/schemas/ivr-call-event",
    flow_id="flow-1",
    org_id="ORG@AdobeOrg",
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
        "imsOrgId": "ORG@AdobeOrg",
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
        (lambda r: r.update(_id=42), "_id", "valid string"),
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
