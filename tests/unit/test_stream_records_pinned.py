"""Record preparation, behaviour pinned where mutation testing found none pinned (item 28): the deterministic
``_id`` of exactly the normalised record and its dataset, the FIFO group of a complete message, the configured
phone region for every identity, the byte (not character) size of non-ASCII records, the bare-record envelope
encoded once per container."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from aep.record_rules import MAX_DEPTH, RecordRefused, clean, deterministic_id
from aep.streaming import MAX_REQUEST_BYTES, encode
from stream_ingest import records
from stream_ingest.records import Prepared, Rejected, Target, prepare
from stream_ingest.settings import StreamSettings
from tests.support.events import load_event

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SCHEMA = "https://ns.adobe.com/acme/schemas/ivr-call-event"
DATASET = "65f0c0a1e4b0c1d2e3f40002"
OVERHEAD = len(b'{"messages":[]}')


def target() -> Target:
    """A fresh target: its encoded envelope is cached per instance (per container in the function)."""
    return Target(
        inlet_id="inlet",
        dataset_id=DATASET,
        schema_ref=SCHEMA,
        flow_id="flow-1",
        org_id="EMULATOR0000000000000000@AdobeOrg",
    )


def settings(**fields: Any) -> StreamSettings:
    return StreamSettings(inlet_id="inlet", dataset_id=DATASET, flow_id="flow-1", dlq_url="q", **fields)


def bare() -> dict[str, Any]:
    return dict(json.loads(load_event("sqs-bare-record.json")["Records"][0]["body"]))


def full() -> dict[str, Any]:
    return dict(json.loads(load_event("sqs-xdm-message.json")["Records"][0]["body"]))


def run(
    body: dict[str, Any], config: StreamSettings | None = None, group: str | None = None
) -> Prepared | Rejected:
    return prepare(
        "m1", json.dumps(body), group=group, settings=config or settings(), target=target(), now=NOW
    )


def test_the_derived_id_hashes_the_normalised_record_and_its_dataset():
    record = bare()

    result = run(record)

    assert isinstance(result, Prepared)
    normalised = {**record, "identityMap": {"Phone": [{"id": "+14155550100", "primary": True}]}}
    assert result.message["body"]["xdmEntity"]["_id"] == deterministic_id(normalised, DATASET)
    assert deterministic_id(normalised, DATASET) != deterministic_id(normalised, "another-dataset")


def test_different_records_get_different_ids():
    first, second = bare(), bare()
    second["_acme"]["call"]["queue"] = "sales"

    ids = {
        r.message["body"]["xdmEntity"]["_id"] for r in map(run, (first, second)) if isinstance(r, Prepared)
    }

    assert len(ids) == 2


@pytest.mark.parametrize("group", ["g-1", None])
def test_the_fifo_group_of_a_complete_message_travels_with_it(group):
    result = run(full(), group=group)

    assert isinstance(result, Prepared)
    assert result.group == group


@pytest.mark.parametrize("group", ["g-1", None])
def test_the_fifo_group_of_a_bare_record_travels_with_it(group):
    result = run(bare(), group=group)

    assert isinstance(result, Prepared)
    assert result.group == group


def test_identity_map_phones_are_national_to_the_configured_region():
    record = bare()
    record["identityMap"] = {"Phone": [{"id": "020 7183 8750"}]}

    result = run(record, settings(default_phone_region="GB"))

    assert isinstance(result, Prepared)
    assert result.message["body"]["xdmEntity"]["identityMap"]["Phone"] == [{"id": "+442071838750"}]


def test_the_identity_field_phone_is_national_to_the_configured_region():
    config = settings(
        record_class="profile",
        identity_field="_acme.phone",
        identity_namespace="Phone",
        default_phone_region="GB",
    )

    result = run({"_acme": {"phone": "020 7183 8750"}}, config)

    assert isinstance(result, Prepared)
    assert result.message["body"]["xdmEntity"] == {"_acme": {"phone": "+442071838750"}}


def test_an_identity_field_deeper_down_is_normalised_in_place():
    config = settings(
        record_class="profile", identity_field="_acme.crm.owner.email", identity_namespace="Email"
    )
    record = {"_acme": {"crm": {"owner": {"email": " Jo@Example.COM ", "name": "Jo"}, "tier": "gold"}}}

    result = run(record, config)

    assert isinstance(result, Prepared)
    assert result.message["body"]["xdmEntity"] == {
        "_acme": {"crm": {"owner": {"email": "jo@example.com", "name": "Jo"}, "tier": "gold"}}
    }


def test_an_identity_field_that_is_no_string_is_left_as_it_is():
    config = settings(record_class="profile", identity_field="_acme.crm", identity_namespace="CRMID")

    result = run({"_acme": {"crm": 42}}, config)

    assert isinstance(result, Prepared)
    assert result.message["body"]["xdmEntity"] == {"_acme": {"crm": 42}}


def test_a_refusal_reads_as_its_reason():
    with pytest.raises(RecordRefused) as caught:
        clean({"a": [{}]}, depth=MAX_DEPTH)

    refusal = caught.value
    assert str(refusal) == "the record is nested more than 100 levels deep"
    assert (refusal.field, refusal.reason, refusal.status) == (None, str(refusal), None)


# Sizes are bytes of UTF-8 as the message travels, not characters: "é" is two bytes, "😀" four.


@pytest.mark.parametrize("char", ["é", "\U0001f600"])
def test_the_size_limit_counts_utf8_bytes_of_non_ascii_text(char):
    record = bare()
    record["_acme"]["call"]["note"] = "x"
    small = run(record)
    assert isinstance(small, Prepared)
    width = len(char.encode())
    room = MAX_REQUEST_BYTES - OVERHEAD - len(small.encoded) + 1  # bytes the note may take
    count, rest = divmod(room, width)
    record["_acme"]["call"]["note"] = char * count + "x" * rest  # exactly the limit, in bytes

    fits = run(record)

    assert isinstance(fits, Prepared)
    assert len(fits.encoded) + OVERHEAD == MAX_REQUEST_BYTES
    assert char.encode() in fits.encoded  # sent as UTF-8, not as a \\u escape
    record["_acme"]["call"]["note"] = char * count + "x" * (rest + 1)
    assert run(record) == Rejected(
        "m1",
        f"message is {MAX_REQUEST_BYTES - OVERHEAD + 1} bytes; AEP accepts at most 1 MB per request",
        None,
        413,
    )


def test_a_complete_message_exactly_at_the_limit_is_prepared_and_one_byte_more_refused():
    message = full()
    message["body"]["xdmEntity"]["_acme"]["call"]["note"] = "x"
    small = run(message)
    assert isinstance(small, Prepared)
    assert small.encoded == encode(small.message)
    room = MAX_REQUEST_BYTES - OVERHEAD - len(small.encoded) + 1
    message["body"]["xdmEntity"]["_acme"]["call"]["note"] = "é" * (room // 2) + "x" * (room % 2)

    fits = run(message)

    assert isinstance(fits, Prepared)
    assert len(fits.encoded) == MAX_REQUEST_BYTES - OVERHEAD
    message["body"]["xdmEntity"]["_acme"]["call"]["note"] += "x"
    refused = run(message)
    assert isinstance(refused, Rejected)
    assert (refused.status, refused.field) == (413, None)
    assert (
        refused.reason
        == f"message is {MAX_REQUEST_BYTES - OVERHEAD + 1} bytes; AEP accepts at most 1 MB per request"
    )


def test_the_bare_record_envelope_is_encoded_once_per_container(monkeypatch):
    encoded: list[dict[str, Any]] = []

    def spy(message: dict[str, Any]) -> bytes:
        encoded.append(message)
        return encode(message)

    monkeypatch.setattr(records, "encode", spy)
    once = target()
    for _ in range(3):
        result = prepare("m1", json.dumps(bare()), group=None, settings=settings(), target=once, now=NOW)
        assert isinstance(result, Prepared)
        assert result.encoded == encode(result.message)

    envelopes = [m for m in encoded if "header" in m]
    assert envelopes == [once.envelope({})]
    assert len(encoded) == 4  # the envelope once, then each record's entity alone
