"""The large-file protocol: INITIALIZE, PATCH parts with Content-Range, HEAD to resume, COMPLETE."""

from __future__ import annotations

import re

import pytest

from aep import AepValidationError, BytesSource
from tests.conftest import make_client, token_reply
from tests.support.recorder import Reply

FILE = "/data/foundation/import/batches/b1/datasets/d1/files/big.json"


class LargeFileServer:
    """Keeps the parts it received; can refuse one PATCH to simulate a broken upload."""

    def __init__(self, fail_at_start: int | None = None) -> None:
        self.parts: dict[int, bytes] = {}
        self.fail_at_start = fail_at_start
        self.completed = False

    def received(self) -> int:
        size = 0
        while size in self.parts:
            size += len(self.parts[size])
        return size

    def post(self, call):
        action = call.param("action")
        if action == "COMPLETE":
            self.completed = True
        return Reply(201)

    def patch(self, call):
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", call.headers["content-range"])
        assert match, call.headers["content-range"]
        start, end = int(match[1]), int(match[2])
        assert end - start + 1 == len(call.body)
        if start == self.fail_at_start:
            self.fail_at_start = None
            return Reply(400, {"title": "simulated failure", "status": 400})
        self.parts[start] = call.body
        return Reply(200)

    def head(self, call):
        got = self.received()
        return Reply(200, headers={"Range": f"bytes=0-{got - 1}"} if got else {})


@pytest.fixture
def client(recorder, secrets, clock):
    recorder.on("POST", "/ims/token/v3", Reply(200, token_reply("tok")))
    return make_client(recorder.url, secrets, clock)


def wire(recorder, server: LargeFileServer) -> None:
    recorder.on("POST", FILE, server.post)
    recorder.on("PATCH", FILE, server.patch)
    recorder.on("HEAD", FILE, server.head)


def test_file_over_the_single_put_limit_goes_in_parts(client, recorder):
    data = bytes(range(256)) * 4  # 1024 bytes
    server = LargeFileServer()
    wire(recorder, server)

    client.batches.upload("b1", "d1", "big.json", BytesSource(data), chunk_size=300, single_put_limit=1000)

    actions = [
        (c.method, c.param("action"), c.headers.get("content-range"))
        for c in recorder.requests
        if c.path == FILE
    ]
    assert actions == [
        ("POST", "INITIALIZE", None),
        ("PATCH", None, "bytes 0-299/1024"),
        ("PATCH", None, "bytes 300-599/1024"),
        ("PATCH", None, "bytes 600-899/1024"),
        ("PATCH", None, "bytes 900-1023/1024"),
        ("POST", "COMPLETE", None),
    ]
    assert b"".join(server.parts[k] for k in sorted(server.parts)) == data
    assert all(c.headers["content-type"] == "application/octet-stream" for c in recorder.calls("PATCH"))
    assert recorder.calls("PUT") == []


def test_a_broken_upload_resumes_from_what_aep_holds(client, recorder):
    data = b"0123456789" * 100
    server = LargeFileServer(fail_at_start=600)
    wire(recorder, server)

    with pytest.raises(AepValidationError):
        client.batches.upload_large("b1", "d1", "big.json", BytesSource(data), chunk_size=200)
    assert server.received() == 600
    before = len(recorder.requests)

    client.batches.upload_large("b1", "d1", "big.json", BytesSource(data), chunk_size=200, resume=True)

    resumed = [
        (c.method, c.param("action"), c.headers.get("content-range")) for c in recorder.requests[before:]
    ]
    assert resumed == [
        ("HEAD", None, None),
        ("PATCH", None, "bytes 600-799/1000"),
        ("PATCH", None, "bytes 800-999/1000"),
        ("POST", "COMPLETE", None),
    ]
    assert server.completed
    assert b"".join(server.parts[k] for k in sorted(server.parts)) == data


def test_a_transient_part_failure_is_retried_in_place(client, recorder, clock):
    data = b"x" * 500
    server = LargeFileServer()
    recorder.on("POST", FILE, server.post)
    recorder.on("PATCH", FILE, Reply(503, headers={"Retry-After": "1"}), server.patch)

    client.batches.upload_large("b1", "d1", "big.json", BytesSource(data), chunk_size=500)

    assert server.parts == {0: data}
    assert clock.sleeps == [1.0]


def test_chunk_size_is_bounded(client):
    with pytest.raises(ValueError, match="chunk_size"):
        client.batches.upload_large("b1", "d1", "big.json", BytesSource(b"x"), chunk_size=600_000_000)
