"""The aep client against the emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aep import AepAuthError, AepCredentials, AepValidationError, BytesSource
from aep.models import BatchState
from tests.integration.conftest import (
    CALL_EVENTS,
    CALLERS,
    CALLERS_INLET,
    EVENTS_FLOW,
    EVENTS_INLET,
    LOYALTY,
    call_event,
    caller,
    envelope,
    ndjson,
)

PHONE = "+14155550100"
pytestmark = pytest.mark.integration


def ingest(client, dataset, data: bytes, fmt="json", multi=False, **create):
    batch = client.batches.create(dataset, fmt, multi_line_json=multi, **create)
    client.batches.upload(batch.id, dataset, "part-0", BytesSource(data))
    client.batches.complete(batch.id)
    return client.catalog.wait_for_batch(batch.id, timeout=30, poll_interval=0.01)


def test_token_from_emulator_ims(client):
    token = client.ims()

    assert token.value.startswith("emu-")
    assert token.expires_at > client.clock.now() + 86000


def test_wrong_client_secret_is_an_auth_error(client, emulator):
    creds = client.credentials
    client.ims._credentials = AepCredentials(
        client_id=creds.client_id, client_secret="wrong", org_id=creds.org_id
    )

    with pytest.raises(AepAuthError) as caught:
        client.ims()

    assert caught.value.code == "invalid_client"


def test_small_ndjson_batch_reaches_success_and_the_profile(client):
    final = ingest(client, CALLERS, ndjson([caller(PHONE, "first")]))

    assert final.state is BatchState.SUCCESS
    assert final.metrics is not None
    assert final.metrics.output_record_count == 1
    profile = client.profiles.get(PHONE, "Phone")
    assert profile is not None
    assert profile.entity["person"]["name"]["firstName"] == "first"


def test_large_file_protocol_end_to_end(client):
    records = [call_event(PHONE, n) for n in range(40)]
    data = ndjson(records)
    batch = client.batches.create(CALL_EVENTS, "json")

    client.batches.upload(
        batch.id, CALL_EVENTS, "big/part-0.json", BytesSource(data), chunk_size=1000, single_put_limit=2000
    )
    client.batches.complete(batch.id)
    final = client.catalog.wait_for_batch(batch.id, timeout=30, poll_interval=0.01)

    assert final.state is BatchState.SUCCESS
    assert final.metrics is not None
    assert final.metrics.input_record_count == 40
    events = list(client.profiles.experience_events(PHONE, "Phone", limit=15))
    assert len(events) == 40


def test_bad_rows_fail_the_batch_and_are_reported(client):
    bad = call_event(PHONE, 1)
    del bad["_acme"]["call"]["direction"]
    data = ndjson([call_event(PHONE, 0), bad]) + b"{not json\n"

    final = ingest(client, CALL_EVENTS, data)

    assert final.state is BatchState.FAILED
    assert {e.code for e in final.errors} >= {"INGEST-1212-400", "INGEST-1401-400", "INGEST-1555-400"}
    rows = client.catalog.row_errors(final.id)
    assert sorted(r.errors[0]["code"] for r in rows) == ["1401", "1555"]
    assert client.profiles.get(PHONE, "Phone") is None


def test_partial_ingestion_keeps_the_good_rows(client):
    records = [call_event(PHONE, n) for n in range(19)] + [{"_id": "x", "timestamp": "yesterday"}]

    final = ingest(client, CALL_EVENTS, ndjson(records), partial_ingestion_percent=10)

    assert final.state is BatchState.SUCCESS
    assert final.metrics is not None
    assert (final.metrics.output_record_count, final.metrics.failed_record_count) == (19, 1)


def test_json_array_csv_and_parquet(client):
    array = json.dumps([caller("+14155550101", "Bo")]).encode()
    assert ingest(client, CALLERS, array, multi=True).state is BatchState.SUCCESS

    csv_data = (
        b"_id,_acme.loyalty.email,_acme.loyalty.points,person.name.firstName\nl1,cy@example.com,120,Cy\n"
    )
    assert ingest(client, LOYALTY, csv_data, fmt="csv").state is BatchState.SUCCESS
    loyal = client.profiles.get("cy@example.com", "Email")
    assert loyal is not None
    assert loyal.entity["_acme"]["loyalty"]["points"] == 120

    table = pa.table({"_id": ["l2"], "_acme": [{"loyalty": {"email": "di@example.com", "points": 7}}]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    assert ingest(client, LOYALTY, sink.getvalue(), fmt="parquet").state is BatchState.SUCCESS
    assert client.profiles.get("di@example.com", "Email") is not None


def test_streaming_multi_with_good_and_bad_messages(client, emulator, admin):
    good = [envelope(emulator, CALL_EVENTS, call_event(PHONE, n), EVENTS_FLOW) for n in range(3)]
    wrong_dataset = envelope(emulator, CALLERS, caller(PHONE, "X"), EVENTS_FLOW)
    no_body = {"header": good[0]["header"]}

    results = client.streaming.send_many(
        EVENTS_INLET, [good[0], wrong_dataset, good[1], no_body, good[2]], flow_id=EVENTS_FLOW
    )

    assert [r.ok for r in results] == [True, False, True, False, True]
    assert [r.status for r in results if not r.ok] == [400, 400]
    assert "datasetId does not match" in (results[1].reason or "")
    assert admin.streamed()["accepted"] == {CALL_EVENTS: 3}
    profile = client.profiles.get(PHONE, "Phone")
    assert profile is not None
    assert len(list(client.profiles.experience_events(PHONE, "Phone"))) == 3


def test_authenticated_inlet_and_profile_after_streaming(client, emulator):
    message = envelope(emulator, CALLERS, caller(PHONE, "second"))

    [unauth] = client.streaming.send_many(CALLERS_INLET, [message])
    [auth] = client.streaming.send_many(CALLERS_INLET, [message], authenticated=True)

    assert (unauth.ok, unauth.status) == (False, 401)
    assert auth.ok
    profile = client.profiles.get(PHONE, "phone", fields=["person.name"])
    assert profile is not None
    assert profile.entity == {"person": {"name": {"firstName": "second"}}}


def test_single_message_sync_validation(client, emulator):
    bad = call_event(PHONE, 1)
    bad["_acme"]["call"]["durationSeconds"] = "long"

    with pytest.raises(AepValidationError) as caught:
        client.streaming.send_one(EVENTS_INLET, envelope(emulator, CALL_EVENTS, bad), sync_validation=True)
    ok = client.streaming.send_one(
        EVENTS_INLET, envelope(emulator, CALL_EVENTS, call_event(PHONE, 2)), sync_validation=True
    )

    assert caught.value.status == 400
    assert ok.sync_validation == {"status": "pass"}
    assert ok.xaction_id


def test_throttling_and_outages_are_retried(client, emulator, admin):
    admin.faults(
        {"path": "^/collection/batch", "status": 503, "retry_after": 0, "first": 2},
        {"path": "^/data/core/ups", "status": 429, "retry_after_ms": 10, "first": 1},
        {"path": "^/data/foundation/import/batches$", "status": 429, "retry_after": 0, "first": 1},
    )
    message = envelope(emulator, CALL_EVENTS, call_event(PHONE, 1))

    [result] = client.streaming.send_many(EVENTS_INLET, [message])
    batch = client.batches.create(CALL_EVENTS, "json")
    profile = client.profiles.get(PHONE, "Phone")

    assert result.ok
    assert batch.id
    assert profile is not None
    statuses = [(r["path"].split("/")[1], r["status"]) for r in admin.requests()]
    assert statuses.count(("collection", 503)) == 2
    assert ("data", 429) in statuses


def test_revoked_token_is_refreshed_once(client, admin):
    client.identities.namespaces()
    assert admin.revoke_all() == 1

    names = [n.code for n in client.identities.namespaces()]

    assert "Phone" in names
    assert admin.counters()["tokens_issued"] == 2
    gateway = [r["status"] for r in admin.requests() if r["path"].startswith("/data/core/idnamespace")]
    assert gateway == [200, 401, 200]


def test_too_many_linked_identities_is_422(client, emulator):
    identity_map = {
        "Phone": [{"id": PHONE, "primary": True}],
        "ECID": [{"id": f"ecid-{n}"} for n in range(51)],
    }
    record = {**caller(PHONE, "Many"), "identityMap": identity_map}
    assert ingest(client, CALLERS, ndjson([record])).state is BatchState.SUCCESS

    with pytest.raises(AepValidationError) as caught:
        client.profiles.get(PHONE, "Phone")

    assert caught.value.status == 422


def test_upload_streams_from_s3_in_parts_and_resumes(client, emulator, admin):
    import boto3

    from aep import S3Source

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="drop")
    records = [call_event(PHONE, n) for n in range(60)]
    s3.put_object(Bucket="drop", Key="calls/day 1.json", Body=ndjson(records))
    source = S3Source(s3, "drop", "calls/day 1.json")
    batch = client.batches.create(CALL_EVENTS, "json")
    admin.faults({"path": "/files/", "method": "PATCH", "status": 400, "skip": 2, "first": 1})
    with pytest.raises(AepValidationError):  # parts 1 and 2 land, part 3 is refused
        client.batches.upload_large(batch.id, CALL_EVENTS, "calls/day-1.json", source, chunk_size=1500)
    admin.faults()
    before = len(admin.requests())

    client.batches.upload_large(
        batch.id, CALL_EVENTS, "calls/day-1.json", source, chunk_size=1500, resume=True
    )
    resumed = [r for r in admin.requests()[before:] if r["method"] == "PATCH"]
    assert len(resumed) == -(-(source.size - 3000) // 1500)  # only the parts after the first two
    client.batches.complete(batch.id)
    final = client.catalog.wait_for_batch(batch.id, timeout=30, poll_interval=0.01)

    assert final.state is BatchState.SUCCESS
    assert final.metrics is not None
    assert final.metrics.input_record_count == 60


def test_s3_source_refuses_an_object_changed_mid_upload(aws):
    import boto3
    from botocore.exceptions import ClientError

    from aep import S3Source

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="drop")
    s3.put_object(Bucket="drop", Key="f.json", Body=b'{"a":1}\n')
    source = S3Source(s3, "drop", "f.json")
    with source.open(2) as stream:
        assert stream.read() == b'a":1}\n'
    s3.put_object(Bucket="drop", Key="f.json", Body=b'{"b":2}\n')

    with pytest.raises(ClientError, match="PreconditionFailed"):
        source.open(0)
