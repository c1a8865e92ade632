"""Uploads on the wire: every body is framed by exactly one Content-Length and arrives byte for byte.

A raw loopback socket server (tests/support/wire.py) parses the framing itself, so a request carrying
both Content-Length and Transfer-Encoding, or an unframed body, is seen as such (and answered 400).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import boto3
import pytest
from moto.server import ThreadedMotoServer

from aep import AepError, BytesSource, FileSource, S3Source
from aep.batch import BatchApi
from aep.http import Transport
from tests.conftest import exact_policy
from tests.support.fakes import FakeClock
from tests.support.wire import WireReply, WireRequest, WireServer, wire_server

BATCH, DATASET = "b1", "d1"
FILE = f"/data/foundation/import/batches/{BATCH}/datasets/{DATASET}/files/in/f.json"
DATA = b"".join(b'{"n":%d,"pad":"%s"}\n' % (n, b"x" * (n % 17)) for n in range(60))


def script(request: WireRequest) -> WireReply:
    if request.method == "POST" and request.path == FILE:
        return WireReply(201)
    return WireReply(200)


@pytest.fixture
def server() -> Iterator[WireServer]:
    with wire_server(script) as running:
        yield running


@pytest.fixture
def batches(server: WireServer) -> BatchApi:
    """The batch API alone, without moto's mock_aws (which patches requests and reads stream bodies)."""
    return BatchApi(Transport(policy=exact_policy(), clock=FakeClock()), server.url)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 as a real loopback server: the S3 object's body arrives as a botocore StreamingBody."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto.stop()


def bytes_source(_tmp: Any, _s3: str) -> Any:
    return BytesSource(DATA)


def file_source(tmp: Any, _s3: str) -> Any:
    path = tmp / "f.json"
    path.write_bytes(DATA)
    return FileSource(path)


def s3_source(tmp: Any, endpoint: str) -> Any:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    bucket = f"drop-{tmp.name.lower().replace('_', '-')}"[:60]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/f.json", Body=DATA)
    return S3Source(s3, bucket, "in/f.json")


SOURCES: dict[str, Callable[[Any, str], Any]] = {
    "bytes": bytes_source,
    "file": file_source,
    "s3": s3_source,
}


def framed_by_length(call: WireRequest, size: int) -> None:
    assert call.framing == "length"
    assert call.headers_named("Content-Length") == [str(size)]
    assert call.headers_named("Transfer-Encoding") == []


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_small_put_is_framed_by_content_length_and_arrives_whole(
    batches, server, tmp_path, s3_endpoint, kind
):
    source = SOURCES[kind](tmp_path, s3_endpoint)

    batches.upload(BATCH, DATASET, "in/f.json", source)

    (put,) = [r for r in server.requests if r.method == "PUT"]
    assert put.path == FILE
    framed_by_length(put, len(DATA))
    assert put.headers_named("Content-Type") == ["application/octet-stream"]
    assert put.body == DATA


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_parts_are_framed_by_content_length_and_arrive_whole(batches, server, tmp_path, s3_endpoint, kind):
    source = SOURCES[kind](tmp_path, s3_endpoint)
    size = len(DATA)

    batches.upload(BATCH, DATASET, "in/f.json", source, chunk_size=500, single_put_limit=1000)

    patches = [r for r in server.requests if r.method == "PATCH"]
    expected = [(start, min(start + 500, size) - 1) for start in range(0, size, 500)]
    assert [p.header("Content-Range") for p in patches] == [f"bytes {a}-{b}/{size}" for a, b in expected]
    for patch, (start, end) in zip(patches, expected, strict=True):
        framed_by_length(patch, end - start + 1)
        assert patch.body == DATA[start : end + 1]
    assert [(r.method, r.target.split("?")[-1]) for r in server.requests if r.method == "POST"][-2:] == [
        ("POST", "action=INITIALIZE"),
        ("POST", "action=COMPLETE"),
    ]


class ReadSpy:
    """A source that records the size of every read asked of its streams."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[int] = []

    @property
    def size(self) -> int:
        return len(self.data)

    def open(self, offset: int = 0) -> BinaryIO:
        spy = self

        class Stream(io.BytesIO):
            def read(self, size: int | None = -1) -> bytes:
                spy.reads.append(-1 if size is None else size)
                return super().read(size)

        stream = Stream(self.data)
        stream.seek(offset)
        return stream


def test_parts_are_streamed_in_bounded_reads_not_held_whole(batches, server):
    data = bytes(range(256)) * 4096  # 1 MiB
    source = ReadSpy(data)

    batches.upload(BATCH, DATASET, "in/f.json", source, chunk_size=600_000, single_put_limit=1000)

    assert source.reads
    assert -1 not in source.reads
    assert max(source.reads) <= 64 * 1024
    patches = [r for r in server.requests if r.method == "PATCH"]
    assert b"".join(p.body for p in patches) == data
    assert [len(p.body) for p in patches] == [600_000, len(data) - 600_000]


def test_small_put_is_streamed_in_bounded_reads(batches, server):
    data = bytes(range(256)) * 1024
    source = ReadSpy(data)

    batches.upload(BATCH, DATASET, "in/f.json", source)

    assert -1 not in source.reads
    assert max(source.reads) <= 64 * 1024
    (put,) = [r for r in server.requests if r.method == "PUT"]
    framed_by_length(put, len(data))
    assert put.body == data


class ShortSource(ReadSpy):
    """Claims more bytes than its streams hold (a file truncated after its size was read)."""

    @property
    def size(self) -> int:
        return len(self.data) + 10


def test_a_source_shorter_than_its_size_is_a_typed_error_and_sends_no_short_body(batches, server):
    with pytest.raises(AepError, match=r"in/f\.json: source ended at byte 100 of 110"):
        batches.upload(BATCH, DATASET, "in/f.json", ShortSource(b"x" * 100))

    assert [r for r in server.requests if r.method == "PUT" and r.body == b"x" * 100] == []


def test_a_failing_source_read_is_a_typed_error_naming_no_data(batches, server):
    class Broken(ReadSpy):
        def open(self, offset: int = 0) -> BinaryIO:
            class Stream(io.BytesIO):
                def read(self, size: int | None = -1) -> bytes:
                    raise OSError("connection reset while reading s3://bucket/secret-key")

            return Stream(self.data)

    with pytest.raises(AepError) as caught:
        batches.upload(BATCH, DATASET, "in/f.json", Broken(b"x" * 100))

    assert "secret-key" not in str(caught.value)
    assert re.fullmatch(r"in/f\.json: reading the source failed \(OSError\)", caught.value.message)


class RangeSpy:
    """An S3 client that records the Range of every GET (and passes everything on)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ranges: list[str | None] = []

    def head_object(self, **kwargs: Any) -> Any:
        return self.inner.head_object(**kwargs)

    def get_object(self, **kwargs: Any) -> Any:
        self.ranges.append(kwargs.get("Range"))
        return self.inner.get_object(**kwargs)


def test_each_part_from_s3_asks_for_its_own_bounded_range(batches, server, tmp_path, s3_endpoint):
    source = s3_source(tmp_path, s3_endpoint)
    spy = RangeSpy(source._s3)
    source._s3 = spy
    size = len(DATA)

    batches.upload(BATCH, DATASET, "in/f.json", source, chunk_size=500, single_put_limit=1000)

    assert spy.ranges == [f"bytes={a}-{min(a + 500, size) - 1}" for a in range(0, size, 500)]
    assert b"".join(r.body for r in server.requests if r.method == "PATCH") == DATA
