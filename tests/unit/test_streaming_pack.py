from __future__ import annotations

import itertools
import json

import pytest

from aep.streaming import MAX_MESSAGES, MAX_REQUEST_BYTES, encode, pack, request_body


def test_packs_stay_under_one_megabyte_and_keep_order():
    messages = [{"body": {"xdmEntity": {"_id": str(i), "pad": "x" * (900 + i % 300)}}} for i in range(3000)]
    encoded = [encode(m) for m in messages]

    groups, too_large = pack([len(e) for e in encoded])

    assert too_large == []
    assert [i for g in groups for i in g] == list(range(3000))
    for group in groups:
        body = request_body([encoded[i] for i in group])
        assert len(body) <= MAX_REQUEST_BYTES
        assert json.loads(body) == {"messages": [messages[i] for i in group]}
    # packed tight: every request but the last is full, by size or by message count
    for group, nxt in itertools.pairwise(groups):
        body = request_body([encoded[i] for i in group])
        assert len(group) == MAX_MESSAGES or len(body) + 1 + len(encoded[nxt[0]]) > MAX_REQUEST_BYTES


def test_message_count_cap():
    groups, _ = pack([10] * 1201, max_messages=500)

    assert [len(g) for g in groups] == [500, 500, 201]


def test_exact_fit_at_the_limit():
    sizes = [10, 10]
    limit = len(b'{"messages":[') + 10 + 1 + 10 + len(b"]}")

    assert pack(sizes, limit) == ([[0, 1]], [])
    assert pack(sizes, limit - 1) == ([[0], [1]], [])


@pytest.mark.parametrize("size", [MAX_REQUEST_BYTES, MAX_REQUEST_BYTES - 14])
def test_a_message_that_cannot_fit_alone_is_reported(size):
    groups, too_large = pack([100, size, 100])

    assert too_large == [1]
    assert groups == [[0, 2]]


def test_oversized_message_fails_locally_without_a_request(recorder, secrets, clock):
    from tests.conftest import make_client
    from tests.support.recorder import Reply

    recorder.on("POST", "/collection/batch/in", Reply(207, {"responses": [{"xactionId": "a:0"}]}))
    client = make_client(recorder.url, secrets, clock)

    results = client.streaming.send_many("in", [{"big": "x" * MAX_REQUEST_BYTES}, {"small": 1}])

    assert [(r.ok, r.status, r.retryable) for r in results] == [(False, 413, False), (True, None, False)]
    (call,) = recorder.requests
    assert call.json() == {"messages": [{"small": 1}]}
