"""The streaming client on the wire (a recording server on 127.0.0.1): headers, 207 answers, whole-request
refusals and how a refused request is split until its bad messages are isolated."""

from __future__ import annotations

import json

import pytest

from aep.streaming import MAX_SPLIT_REQUESTS
from tests.conftest import make_client
from tests.support.recorder import Recorded, Reply

BATCH = "/collection/batch/in"


def _accept_all(request: Recorded) -> Reply:
    count = len(request.json()["messages"])
    return Reply(207, {"responses": [{"xactionId": f"x:{i}"} for i in range(count)]})


def _refuse_marked(request: Recorded) -> Reply:
    """A whole-request 400 for any request holding a marked message, as a strict gateway answers."""
    messages = request.json()["messages"]
    if any(m.get("bad") for m in messages):
        return Reply(
            400, {"title": "Invalid XDM Message Format", "status": 400, "report": {"message": "bad"}}
        )
    return Reply(207, {"responses": [{"xactionId": f"x:{m['n']}"} for m in messages]})


@pytest.fixture
def streaming(recorder, secrets, clock):
    return make_client(recorder.url, secrets, clock, sandbox_name="dev-1").streaming


# --- item 6: x-sandbox-name, 207 counts, 408 -----------------------------------------------------------


def test_unauthenticated_send_carries_the_sandbox_header(streaming, recorder):
    recorder.on("POST", BATCH, _accept_all)

    streaming.send_many("in", [{"n": 0}])

    (call,) = recorder.calls("POST", BATCH)
    assert call.headers["x-sandbox-name"] == "dev-1"
    assert call.headers["content-type"] == "application/json"
    assert "authorization" not in call.headers


def test_authenticated_send_carries_the_sandbox_header_once(streaming, recorder):
    from tests.conftest import token_reply

    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply()))
    recorder.on("POST", BATCH, _accept_all)

    streaming.send_many("in", [{"n": 0}], authenticated=True)

    (call,) = recorder.calls("POST", BATCH)
    assert call.headers["x-sandbox-name"] == "dev-1"
    assert call.headers["authorization"] == "Bearer token-1"


def test_single_message_endpoint_carries_the_sandbox_header(streaming, recorder):
    recorder.on("POST", "/collection/in", Reply(200, {"inletId": "in", "xactionId": "x:1"}))

    streaming.send_one("in", {"n": 0})

    (call,) = recorder.calls("POST", "/collection/in")
    assert call.headers["x-sandbox-name"] == "dev-1"


@pytest.mark.parametrize("answered", [0, 1, 3])
def test_a_207_with_the_wrong_number_of_entries_is_retried_as_a_whole(streaming, recorder, answered):
    recorder.on("POST", BATCH, Reply(207, {"responses": [{"xactionId": f"x:{i}"} for i in range(answered)]}))

    results = streaming.send_many("in", [{"n": 0}, {"n": 1}])

    assert [(r.index, r.ok, r.retryable, r.status) for r in results] == [
        (0, False, True, 207),
        (1, False, True, 207),
    ]
    assert results[0].reason == f"AEP answered {answered} results for 2 messages; the request is retried"
    assert len(recorder.requests) == 1


def test_a_207_with_the_right_count_is_read_entry_by_entry(streaming, recorder):
    recorder.on("POST", BATCH, Reply(207, {"responses": [{"xactionId": "x:0"}, {"statusCode": 400}]}))

    results = streaming.send_many("in", [{"n": 0}, {"n": 1}])

    assert [(r.ok, r.retryable, r.status) for r in results] == [(True, False, None), (False, False, 400)]


def test_a_whole_request_408_is_transient(streaming, recorder):
    recorder.on("POST", BATCH, Reply(408, {"title": "Request Timeout", "status": 408}))

    results = streaming.send_many("in", [{"n": 0}, {"n": 1}])

    assert [(r.ok, r.retryable, r.status) for r in results] == [(False, True, 408), (False, True, 408)]
    assert len(recorder.requests) == 1  # not split: a timeout says nothing about the messages


# --- item 13: a refused request is split until its bad messages are isolated ----------------------------


def test_a_whole_request_400_dead_letters_only_the_bad_messages(streaming, recorder):
    recorder.on("POST", BATCH, _refuse_marked)
    messages = [{"n": n, "bad": n in (5, 11)} for n in range(16)]

    results = streaming.send_many("in", messages)

    assert [r.index for r in results] == list(range(16))
    refused = [r.index for r in results if not r.ok]
    assert refused == [5, 11]
    for index in refused:
        assert (results[index].status, results[index].retryable) == (400, False)
        assert results[index].reason == "stream messages: bad"
    assert [r.xaction_id for r in results if r.ok] == [f"x:{n}" for n in range(16) if n not in (5, 11)]
    # 1 request, then halves: 16 -> 8+8 -> (4+4)+(4+4) -> ... only the refused halves are split again
    sizes = [len(call.json()["messages"]) for call in recorder.requests]
    assert sizes == [16, 8, 4, 4, 2, 1, 1, 2, 8, 4, 2, 2, 1, 1, 4]
    assert len(sizes) <= 1 + 2 * 2 * 4  # at most two requests per level per bad message


def test_every_accepted_message_is_sent_exactly_once(streaming, recorder):
    recorder.on("POST", BATCH, _refuse_marked)
    messages = [{"n": n, "bad": n == 0} for n in range(9)]

    streaming.send_many("in", messages)

    accepted = [
        m["n"]
        for call in recorder.requests
        if call.json()["messages"] and not any(m.get("bad") for m in call.json()["messages"])
        for m in call.json()["messages"]
    ]
    assert sorted(accepted) == list(range(1, 9))


def test_a_lone_message_refused_with_413_is_rejected_with_aeps_reason(streaming, recorder):
    def too_large(request: Recorded) -> Reply:
        if any(m.get("big") for m in request.json()["messages"]):
            return Reply(
                413, {"title": "Payload too large", "report": {"message": "payload is larger than 1 MB"}}
            )
        return _accept_all(request)

    recorder.on("POST", BATCH, too_large)

    results = streaming.send_many("in", [{"n": 0}, {"n": 1, "big": True}, {"n": 2}])

    assert [(r.ok, r.status, r.retryable) for r in results] == [
        (True, None, False),
        (False, 413, False),
        (True, None, False),
    ]
    assert results[1].reason == "stream messages: payload is larger than 1 MB"
    assert [len(c.json()["messages"]) for c in recorder.requests] == [3, 1, 2, 1, 1]


def test_the_default_split_budget():
    assert MAX_SPLIT_REQUESTS == 64


def test_splitting_stops_at_the_budget_and_returns_the_rest_for_a_retry(streaming, recorder):
    recorder.on("POST", BATCH, _refuse_marked)
    messages = [{"n": n, "bad": True} for n in range(200)]

    results = streaming.send_many("in", messages)

    assert len(recorder.requests) == 1 + MAX_SPLIT_REQUESTS
    rejected = [r for r in results if not r.ok and not r.retryable]
    retried = [r for r in results if r.retryable]
    assert len(rejected) + len(retried) == 200
    assert rejected, "messages isolated before the budget ran out are rejected on their own"
    assert retried, "the rest go back for a retry, never to the DLQ untested"
    assert retried[0].reason == (
        "stream messages: bad; AEP refused the request as a whole and the split budget is spent"
    )
    assert retried[0].status == 400


def test_split_count_is_reported_by_the_sender(streaming, recorder):
    recorder.on("POST", BATCH, _refuse_marked)

    with streaming.sender("in", concurrency=1, deadline=None) as sender:
        for n in range(4):
            sender.add(json.dumps({"n": n, "bad": n == 3}).encode())
    sender.results()

    assert sender.splits == 2  # 4 -> 2+2, then the refused pair -> 1+1
    assert len(sender.request_ms) == len(recorder.requests) == 5


@pytest.mark.parametrize(("budget", "requests", "retryable"), [(0, 1, True), (1, 1, True), (2, 3, False)])
def test_the_split_budget_is_exact(streaming, recorder, budget, requests, retryable):
    recorder.on("POST", BATCH, _refuse_marked)

    with streaming.sender("in", concurrency=1, deadline=None, max_split_requests=budget) as sender:
        sender.add(b'{"n":0,"bad":true}')
        sender.add(b'{"n":1,"bad":true}')
    results = sender.results()

    assert len(recorder.requests) == requests
    assert [(r.ok, r.retryable, r.status) for r in results] == [(False, retryable, 400)] * 2
    assert sender.splits == (1 if budget >= 2 else 0)


@pytest.mark.parametrize("status", [301, 307, 401, 403, 404, 415, 422])
def test_other_whole_request_refusals_are_not_split_and_dead_letter_nothing(streaming, recorder, status):
    # Not a property of any message (auth that survived the refresh, an unknown inlet, a redirect...):
    # every message goes back to the queue; none is dead-lettered for it.
    recorder.on("POST", BATCH, Reply(status, {"title": "refused", "status": status}))

    results = streaming.send_many("in", [{"n": 0}, {"n": 1}])

    assert len(recorder.requests) == 1
    assert [(r.ok, r.status, r.retryable) for r in results] == [(False, status, True)] * 2
