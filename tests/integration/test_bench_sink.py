"""The benchmarks' streaming sink (bench/stream_sink.py) over real HTTP on 127.0.0.1: what it answers and
what it counts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import requests

from bench.stream_sink import SinkServer


@pytest.fixture
def sink() -> Iterator[str]:
    server = SinkServer(0, latency_ms=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_sink_answers_one_entry_per_message_and_counts_what_it_got(sink):
    messages = [{"header": {}, "body": {"xdmEntity": {"n": n}}} for n in range(3)]
    body = json.dumps({"messages": messages}).encode()

    batch = requests.post(f"{sink}/collection/batch/inlet", data=body, timeout=5)
    single = requests.post(f"{sink}/collection/inlet", data=json.dumps(messages[0]), timeout=5)
    token = requests.post(f"{sink}/ims/token/v3", data={"grant_type": "client_credentials"}, timeout=5)
    counters = requests.get(f"{sink}/_sink/counters", timeout=5).json()

    assert batch.status_code == 207
    assert [entry["xactionId"] for entry in batch.json()["responses"]] == ["sink-0", "sink-1", "sink-2"]
    assert single.status_code == 200
    assert "xactionId" in single.json()
    assert token.json()["access_token"]
    assert counters["requests"] == {"batch": 1, "single": 1, "token": 1}
    assert counters["messages"] == 4
    assert counters["body_bytes"] == len(body) + len(json.dumps(messages[0]))
    assert len(counters["arrivals"]) == 2


def test_the_sink_resets_its_counters(sink):
    requests.post(f"{sink}/collection/inlet", data="{}", timeout=5)

    requests.post(f"{sink}/_sink/reset", timeout=5)

    assert requests.get(f"{sink}/_sink/counters", timeout=5).json()["requests"] == {}


def test_the_sink_serves_the_call_event_schema_the_function_checks_records_against(sink):
    from urllib.parse import quote

    from aep.validation import compile_schema
    from bench import streamkit

    found = requests.get(
        f"{sink}/data/foundation/schemaregistry/tenant/schemas/{quote(streamkit.SCHEMA, safe='')}",
        headers={"Accept": "application/vnd.adobe.xed-full+json; version=1"},
        timeout=5,
    )
    other = requests.get(f"{sink}/data/foundation/schemaregistry/tenant/schemas/nope", timeout=5)

    assert (found.status_code, other.status_code) == (200, 404)
    schema = found.json()
    assert schema["$id"] == streamkit.SCHEMA
    check = compile_schema(schema)
    for body in streamkit.call_events(20):
        check({**json.loads(body), "_id": "bench-1"})  # raises RecordRefused (the function adds the _id)
