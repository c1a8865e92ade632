"""The streaming client's exact behaviour on the wire (a recording server on 127.0.0.1): byte sizes and the
1 MB boundary, the headers and URL of each request, the options a sender passes on (deadline, limits),
and the exact result of each kind of answer."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from aep import Deadline
from aep.errors import AepPayloadTooLargeError, AepValidationError
from aep.streaming import (
    MAX_MESSAGES,
    MAX_REQUEST_BYTES,
    SPLIT_STATUSES,
    RequestLedger,
    encode,
    pack,
    request_body,
)
from tests.conftest import make_client, token_reply
from tests.support.recorder import Recorded, Reply

BATCH = "/collection/batch/in"
TWO_TOKENS = (Reply(200, token_reply("token-1")), Reply(200, token_reply("token-2")))
ENVELOPE = len(b'{"messages":[') + len(b"]}")


def _accept_all(request: Recorded) -> Reply:
    count = len(request.json()["messages"])
    return Reply(207, {"responses": [{"xactionId": f"x:{i}"} for i in range(count)]})


@pytest.fixture
def streaming(recorder, secrets, clock):
    return make_client(recorder.url, secrets, clock, sandbox_name="dev-1").streaming


def sizes_sent(recorder) -> list[int]:
    return [len(call.json()["messages"]) for call in recorder.calls("POST", BATCH)]


# --- constants and pure helpers ------------------------------------------------------------------------


def test_the_limits_and_status_sets():
    assert MAX_REQUEST_BYTES == 1_000_000
    assert MAX_MESSAGES == 2000
    assert ENVELOPE == 15
    assert frozenset({400, 413}) == SPLIT_STATUSES


def test_encode_is_compact_utf8_in_key_order():
    assert encode({"b": 1, "a": [1, 2], "s": "é€"}) == '{"b":1,"a":[1,2],"s":"é€"}'.encode()
    assert len(encode({"s": "é"})) == len('{"s":""}') + 2  # sizes are UTF-8 bytes, not characters


def test_request_body_is_the_messages_envelope():
    assert request_body([b"{}", b"[1]"]) == b'{"messages":[{},[1]]}'
    assert request_body([]) == b'{"messages":[]}'


def test_packing_at_exactly_one_megabyte_with_the_default_limit():
    half = (MAX_REQUEST_BYTES - ENVELOPE - 1) // 2  # two messages and their comma fill 1,000,000 bytes
    assert ENVELOPE + half + 1 + half == MAX_REQUEST_BYTES

    assert pack([half, half]) == ([[0, 1]], [])
    assert pack([half, half + 1]) == ([[0], [1]], [])
    assert pack([MAX_REQUEST_BYTES - ENVELOPE]) == ([[0]], [])
    assert pack([MAX_REQUEST_BYTES - ENVELOPE + 1]) == ([], [0])


def test_packing_counts_every_comma_and_restarts_the_count_in_a_new_request():
    # 15 + 3 + 1 + 3 = 22 fits in 22; a third message starts a new request, where it fits with the fourth
    assert pack([3, 3, 3, 3], limit=22) == ([[0, 1], [2, 3]], [])
    assert pack([3, 3, 3, 3, 3], limit=26) == ([[0, 1, 2], [3, 4]], [])
    assert pack([3, 3, 3, 3, 3], limit=25) == ([[0, 1], [2, 3], [4]], [])


def test_packing_by_count_is_exact():
    assert pack([1] * 4, max_messages=2) == ([[0, 1], [2, 3]], [])
    assert pack([1] * 3, max_messages=1) == ([[0], [1], [2]], [])
    assert pack([1] * (MAX_MESSAGES + 1)) == ([list(range(MAX_MESSAGES)), [MAX_MESSAGES]], [])


def test_a_too_large_message_does_not_close_the_current_request():
    assert pack([5, 100, 5], limit=30) == ([[0, 2]], [1])
    assert pack([], limit=30) == ([], [])


def test_the_ledger_counts_requests_and_splits():
    ledger = RequestLedger()
    ledger.request(1.5)
    ledger.request(2.5)
    ledger.split()
    ledger.split()

    assert (ledger.request_ms, ledger.splits) == ([1.5, 2.5], 2)


# --- the sender: sizes in bytes, exact limits, options passed on ----------------------------------------


def test_a_message_too_large_for_the_limit_fails_locally_with_its_size(streaming, recorder):
    recorder.on("POST", BATCH, _accept_all)
    fits = b'"' + "é".encode() * 10 + b'"'  # 22 bytes, 12 characters

    with streaming.sender("in", concurrency=1, deadline=None, limit=ENVELOPE + 22) as sender:
        sender.add(fits)
        sender.add(fits + b" ")
    results = sender.results()

    assert [(r.index, r.ok, r.status, r.retryable) for r in results] == [
        (0, True, None, False),
        (1, False, 413, False),
    ]
    assert results[1].reason == "message is 23 bytes; AEP's request limit is 37 bytes"
    assert [call.body for call in recorder.requests] == [b'{"messages":["' + "é".encode() * 10 + b'"]}']


def test_the_sender_packs_by_bytes_at_the_exact_limit(streaming, recorder):
    recorder.on("POST", BATCH, _accept_all)
    message = json.dumps("é" * 4, ensure_ascii=False).encode()  # 10 bytes
    limit = ENVELOPE + 10 + 1 + 10

    with streaming.sender("in", concurrency=1, deadline=None, limit=limit) as sender:
        for _ in range(5):
            sender.add(message)
    sender.results()
    with streaming.sender("in", concurrency=1, deadline=None, limit=limit - 1) as sender:
        for _ in range(3):
            sender.add(message)
    sender.results()

    assert sizes_sent(recorder) == [2, 2, 1, 1, 1, 1]
    assert all(len(call.body) <= limit for call in recorder.requests)


def test_the_sender_caps_the_message_count(streaming, recorder):
    recorder.on("POST", BATCH, _accept_all)

    with streaming.sender("in", concurrency=1, deadline=None, max_messages=2) as sender:
        for n in range(5):
            sender.add(encode({"n": n}))
    results = sender.results()

    assert sizes_sent(recorder) == [2, 2, 1]
    assert [r.index for r in results] == [0, 1, 2, 3, 4]


def test_send_many_passes_its_limit_and_count_on(streaming, recorder):
    recorder.on("POST", BATCH, _accept_all)

    streaming.send_many("in", [{"n": n} for n in range(5)], max_messages=3, concurrency=1)
    streaming.send_many("in", [{"n": n} for n in range(3)], limit=ENVELOPE + 7 + 1 + 7, concurrency=1)

    assert sizes_sent(recorder) == [3, 2, 2, 1]


def test_send_many_packs_2000_messages_per_request_by_default(streaming, recorder):
    recorder.on("POST", BATCH, _accept_all)

    results = streaming.send_many("in", [{} for _ in range(MAX_MESSAGES + 1)], concurrency=1)

    assert sizes_sent(recorder) == [MAX_MESSAGES, 1]
    assert all(r.ok for r in results)


def test_send_many_sends_a_message_of_exactly_the_default_limit(streaming, recorder):
    recorder.on("POST", BATCH, _accept_all)
    # {"p":"..."} is 8 bytes around the padding; envelope + message = 1,000,000 bytes exactly
    padding = "x" * (MAX_REQUEST_BYTES - ENVELOPE - 8)

    results = streaming.send_many("in", [{"p": padding}, {"p": padding + "x"}])

    assert [(r.ok, r.status) for r in results] == [(True, None), (False, 413)]
    (call,) = recorder.requests
    assert len(call.body) == MAX_REQUEST_BYTES


@pytest.mark.parametrize("use_sender", [False, True])
def test_the_deadline_is_passed_on_to_every_request(streaming, recorder, clock, use_sender):
    recorder.on("POST", BATCH, _accept_all)
    passed = Deadline(clock.monotonic() - 1.0, clock)

    if use_sender:
        with streaming.sender("in", concurrency=1, deadline=passed) as sender:
            sender.add(b"{}")
            sender.add(b"{}")
        results = sender.results()
    else:
        results = streaming.send_many("in", [{}, {}], deadline=passed)

    assert recorder.requests == []
    assert [(r.index, r.ok, r.status, r.retryable) for r in results] == [
        (0, False, None, True),
        (1, False, None, True),
    ]
    assert results[0].reason == "stream messages: deadline reached before attempt 1"


def test_a_sender_with_no_concurrency_still_sends(streaming, recorder):
    recorder.on("POST", BATCH, _accept_all)

    with streaming.sender("in", concurrency=0, deadline=None) as sender:
        sender.add(b"{}")
    assert [r.ok for r in sender.results()] == [True]


def test_results_are_computed_once(streaming, recorder):
    recorder.on("POST", BATCH, _accept_all)

    sender = streaming.sender("in", concurrency=1, deadline=None)
    sender.add(b"{}")
    first = sender.results()
    sender.close()

    assert sender.results() is first
    assert len(recorder.requests) == 1


# --- the request: URL, headers, authentication ---------------------------------------------------------


def test_the_batch_request_url_and_headers(streaming, recorder):
    recorder.on("POST", "/collection/batch/in%2Fx%20y", _accept_all)

    streaming.send_many("in/x y", [{"n": 0}], flow_id="flow-1")
    streaming.send_many("in/x y", [{"n": 1}])

    with_flow, without_flow = recorder.requests
    assert with_flow.path == "/collection/batch/in%2Fx%20y"
    assert with_flow.query == {}
    for call in (with_flow, without_flow):
        assert call.headers["content-type"] == "application/json"
        assert call.headers["x-sandbox-name"] == "dev-1"
        assert "authorization" not in call.headers
        assert "x-gw-ims-org-id" not in call.headers
    assert with_flow.headers["x-adobe-flow-id"] == "flow-1"
    assert "x-adobe-flow-id" not in without_flow.headers
    assert with_flow.body == b'{"messages":[{"n":0}]}'


def test_the_streaming_url_may_end_with_a_slash(recorder, secrets, clock):
    streaming = make_client(
        recorder.url, secrets, clock, sandbox_name="dev-1", streaming_url=recorder.url + "/"
    ).streaming
    recorder.on("POST", BATCH, _accept_all)

    assert [r.ok for r in streaming.send_many("in", [{}])] == [True]
    assert recorder.requests[0].path == BATCH


@pytest.mark.parametrize("refusal", [401, 403])
def test_an_authenticated_batch_refreshes_the_token_once_on_401_and_403(streaming, recorder, refusal):
    recorder.on("POST", "/ims/token/v3", *TWO_TOKENS)
    recorder.on("POST", BATCH, Reply(refusal, {"title": "refused", "status": refusal}), _accept_all)

    results = streaming.send_many("in", [{}], authenticated=True)

    assert [r.ok for r in results] == [True]
    first, second = recorder.calls("POST", BATCH)
    assert (first.headers["authorization"], second.headers["authorization"]) == (
        "Bearer token-1",
        "Bearer token-2",
    )


# --- the answers ---------------------------------------------------------------------------------------


def test_each_207_entry_is_read_on_its_own(streaming, recorder):
    entries = [
        {"xactionId": "x:0"},
        {"xactionId": "x:1", "statusCode": 200},
        {"xactionId": "x:2", "statusCode": 399},
        {"xactionId": "x:3", "statusCode": 400, "message": "bad field"},
        {"statusCode": 400},
        {"statusCode": 429, "message": "slow down"},
        {"statusCode": 500},
        {"statusCode": 501},
        {},
    ]
    recorder.on("POST", BATCH, Reply(207, {"responses": entries}))

    results = streaming.send_many("in", [{"n": n} for n in range(len(entries))])

    assert [(r.index, r.ok, r.xaction_id, r.status, r.reason, r.retryable) for r in results] == [
        (0, True, "x:0", None, None, False),
        (1, True, "x:1", 200, None, False),
        (2, True, "x:2", 399, None, False),
        (3, False, None, 400, "bad field", False),
        (4, False, None, 400, "rejected by AEP", False),
        (5, False, None, 429, "slow down", True),
        (6, False, None, 500, "rejected by AEP", True),
        (7, False, None, 501, "rejected by AEP", False),
        (8, False, None, None, "rejected by AEP", True),
    ]


@pytest.mark.parametrize("body", [b"not json", b'{"responses": "none"}'])
def test_an_unreadable_answer_is_retried(streaming, recorder, body):
    recorder.on("POST", BATCH, Reply(200, body))

    results = streaming.send_many("in", [{}, {}])

    assert [(r.ok, r.status, r.reason, r.retryable) for r in results] == [
        (False, 200, "unreadable streaming response", True)
    ] * 2


def test_a_count_mismatch_is_logged_with_its_reason(streaming, recorder, caplog):
    recorder.on("POST", BATCH, Reply(207, {"responses": [{"xactionId": "x:0"}]}))

    with caplog.at_level(logging.WARNING, logger="aep.streaming"):
        streaming.send_many("in", [{}, {}])

    (record,) = [r for r in caplog.records if r.name == "aep.streaming"]
    assert record.getMessage() == "streaming answer does not match the request"
    assert record.reason == "AEP answered 1 results for 2 messages; the request is retried"


def test_a_split_is_logged_with_status_size_and_request_id(streaming, recorder, caplog):
    recorder.on(
        "POST",
        BATCH,
        Reply(400, {"title": "bad", "status": 400}, headers={"x-request-id": "req-1"}),
        _accept_all,
    )

    with caplog.at_level(logging.INFO, logger="aep.streaming"):
        results = streaming.send_many("in", [{"n": n} for n in range(3)])

    assert [r.ok for r in results] == [True, True, True]
    assert sizes_sent(recorder) == [3, 1, 2]  # the first half is the smaller one
    (record,) = [r for r in caplog.records if r.name == "aep.streaming"]
    assert record.getMessage() == "AEP refused a request as a whole; sending its halves"
    assert (record.status, record.messages, record.request_id) == (400, 3, "req-1")


def test_a_whole_request_failure_is_retryable_and_a_refused_message_is_not(recorder, secrets, clock):
    streaming = make_client(recorder.url, secrets, clock, max_attempts=1).streaming
    recorder.on("POST", BATCH, Reply(503, {"title": "down", "status": 503}))
    down = streaming.send_many("in", [{}, {}])
    recorder.on("POST", BATCH, Reply(404, {"title": "no inlet", "status": 404}))
    missing = streaming.send_many("in", [{}])
    recorder.on("POST", BATCH, Reply(400, {"title": "bad record", "status": 400}))
    refused = streaming.send_many("in", [{}])

    assert [(r.ok, r.status, r.reason, r.retryable) for r in down] == [
        (False, 503, "stream messages: down", True)
    ] * 2
    # a missing inlet is the deployment's fault, not the record's: it goes back to the queue
    assert [(r.ok, r.status, r.reason, r.retryable) for r in missing] == [
        (False, 404, "stream messages: no inlet", True)
    ]
    assert [(r.ok, r.status, r.reason, r.retryable) for r in refused] == [
        (False, 400, "stream messages: bad record", False)
    ]


# --- the single-message endpoint -----------------------------------------------------------------------


def test_send_one_url_headers_and_answer(streaming, recorder):
    recorder.on("POST", "/collection/in%2Fx", Reply(200, {"inletId": "in/x", "xactionId": "x:1"}))

    answer = streaming.send_one("in/x", {"n": "é"}, flow_id="flow-1")
    streaming.send_one("in/x", {"n": 0}, sync_validation=True)

    plain, synced = recorder.requests
    assert (answer.inlet_id, answer.xaction_id) == ("in/x", "x:1")
    assert (plain.method, plain.path) == ("POST", "/collection/in%2Fx")  # methods are case-sensitive
    assert plain.query == {}
    assert synced.query == {"syncValidation": ["true"]}
    assert plain.body == '{"n":"é"}'.encode()
    assert plain.headers["content-type"] == "application/json"
    assert plain.headers["x-adobe-flow-id"] == "flow-1"
    assert "x-adobe-flow-id" not in synced.headers
    assert "authorization" not in plain.headers


@pytest.mark.parametrize("refusal", [401, 403])
def test_send_one_authenticated_refreshes_once_on_401_and_403(streaming, recorder, refusal):
    recorder.on("POST", "/ims/token/v3", *TWO_TOKENS)
    recorder.on("POST", "/collection/in", Reply(refusal, {"title": "no"}), Reply(200, {"xactionId": "x:1"}))

    assert streaming.send_one("in", {}, authenticated=True).xaction_id == "x:1"
    assert [c.headers["authorization"] for c in recorder.calls("POST", "/collection/in")] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_send_one_refusal_names_the_call(streaming, recorder):
    recorder.on("POST", "/collection/in", Reply(400, {"title": "bad", "status": 400}))

    with pytest.raises(AepValidationError) as refused:
        streaming.send_one("in", {})

    assert refused.value.message == "stream message: bad"


def test_send_one_refuses_more_than_one_megabyte_locally(streaming, recorder):
    recorder.on("POST", "/collection/in", Reply(200, {"xactionId": "x:1"}))
    padding = "x" * (MAX_REQUEST_BYTES - 8)  # {"p":"..."} is exactly 1,000,000 bytes

    assert streaming.send_one("in", {"p": padding}).xaction_id == "x:1"
    with pytest.raises(AepPayloadTooLargeError) as too_large:
        streaming.send_one("in", {"p": padding + "x"})

    assert too_large.value.status == 413
    assert too_large.value.message == "message is 1000001 bytes; over the 1 MB limit"
    assert len(recorder.requests) == 1


def test_each_request_is_timed_in_milliseconds_on_the_senders_threads(streaming, recorder, caplog):
    def slow(request: Recorded) -> Reply:
        time.sleep(0.05)
        return _accept_all(request)

    recorder.on("POST", BATCH, Reply(400, {"title": "bad", "status": 400}), slow)

    with caplog.at_level(logging.INFO, logger="aep.streaming"):
        with streaming.sender("in", concurrency=1, deadline=None) as sender:
            sender.add(b"{}")
            sender.add(b"{}")
        sender.results()

    first, *halves = sender.request_ms
    assert len(halves) == 2
    assert 0 < first < 5000
    assert all(50 <= ms < 5000 for ms in halves)
    (record,) = [r for r in caplog.records if r.name == "aep.streaming"]
    assert record.threadName.startswith("aep-stream_")


def test_the_ledger_lock_stays_out_of_its_repr():
    assert repr(RequestLedger()) == "RequestLedger(request_ms=[], splits=0)"


@pytest.mark.parametrize(
    ("via_sender", "concurrency", "most"), [(False, None, 8), (False, 3, 3), (True, None, 8)]
)
def test_eight_requests_are_in_flight_by_default(streaming, recorder, via_sender, concurrency, most):
    changed = threading.Condition()
    in_flight = [0, 0]  # now, most

    def slow(request: Recorded) -> Reply:
        with changed:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
            changed.notify_all()
            changed.wait_for(lambda: in_flight[1] >= most, timeout=5)  # until all are in flight together
        time.sleep(0.2)  # long enough for a ninth to arrive, were there one
        with changed:
            in_flight[0] -= 1
        return _accept_all(request)

    recorder.on("POST", BATCH, slow)

    options = {} if concurrency is None else {"concurrency": concurrency}
    if via_sender:
        with streaming.sender("in", max_messages=1, **options) as sender:
            for n in range(12):
                sender.add(encode({"n": n}))
        results = sender.results()
    else:
        results = streaming.send_many("in", [{"n": n} for n in range(12)], max_messages=1, **options)

    assert len(recorder.requests) == 12
    assert all(r.ok for r in results)
    assert in_flight[1] == most
