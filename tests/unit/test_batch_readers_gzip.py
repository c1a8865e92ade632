"""Batch readers: gzip (members, padding, truncation, corruption, bombs) and memory bounded by a record.

The large inputs are never in memory: a stream produces them lazily, read by read, and tracemalloc
measures the reader's peak while it goes through hundreds of megabytes.
"""

from __future__ import annotations

import gzip
import io
import tracemalloc
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from batch_ingest.readers import FileFormat, FileRefused, RawRecord, read_records

NDJSON_GZ = FileFormat(kind="ndjson", gzip=True)
JSON_GZ = FileFormat(kind="json", gzip=True)
MB = 1_000_000
#: What the reader may hold at once: a record of 1 MB, a block, the bookkeeping. Far below any input here.
BOUND = 4 * MB


class LazyStream(io.RawIOBase):
    """A stream of ``parts``, each bytes repeated a number of times, produced only as it is read."""

    def __init__(self, parts: Iterable[tuple[bytes, int]]) -> None:
        self._parts: Iterator[tuple[bytes, int]] = iter(parts)
        self._current = b""
        self._left = 0
        self._at = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while self._at >= len(self._current):
            if self._left == 0:
                part = next(self._parts, None)
                if part is None:
                    return b""
                self._current, self._left = part
                self._at = len(self._current)
                continue
            self._left -= 1
            self._at = 0
        end = len(self._current) if size < 0 else self._at + size
        out = self._current[self._at : end]
        self._at += len(out)
        return out


def peak_while(work: Callable[[], Any]) -> tuple[Any, int]:
    """What ``work`` returns (or the FileRefused it raises) and the peak of memory it allocated."""
    tracemalloc.start()
    try:
        try:
            result = work()
        except FileRefused as refused:
            result = refused
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def read(data: bytes, fmt: FileFormat = NDJSON_GZ, **options: Any) -> list[RawRecord]:
    return list(read_records(io.BytesIO(data), fmt, **options))


def brief(records: list[RawRecord]) -> list[tuple[int, int, Any, str | None]]:
    return [(r.index, r.line, r.value, r.error) for r in records]


# --- gzip -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'{"a":1}\r\n\n{"b":"\xc3\xa9"}\n{"c":', "ndjson"),
        (b'\xef\xbb\xbf[\n {"a":1},\n {"b":[2]}\n]', "json"),
        (b'{\n "a": 1\n}\n{\n "b": 2\n}\n', "json"),
    ],
)
def test_gzipped_files_read_as_their_plain_bytes(data, kind):
    plain = read(data, FileFormat(kind=kind, gzip=False))

    assert brief(read(gzip.compress(data), FileFormat(kind=kind, gzip=True))) == brief(plain)
    assert any(r.error is None for r in plain)


def test_concatenated_members_are_one_stream_even_cut_inside_a_record():
    data = gzip.compress(b'{"a":1}\n{"b":') + gzip.compress(b"2}\n") + gzip.compress(b'\n{"c":3}\n')

    assert brief(read(data)) == [(0, 1, {"a": 1}, None), (1, 2, {"b": 2}, None), (2, 4, {"c": 3}, None)]


def test_members_read_a_byte_at_a_time_are_the_same_stream():
    data = gzip.compress(b'{"a":1}\n{"b":') + b"\0\0" + gzip.compress(b"2}\n" + b" " * 70000 + b'\n{"c":3}\n')
    stream = LazyStream((bytes([byte]), 1) for byte in data)

    records = list(read_records(stream, NDJSON_GZ))

    assert brief(records) == [(0, 1, {"a": 1}, None), (1, 2, {"b": 2}, None), (2, 4, {"c": 3}, None)]


def test_nul_padding_after_a_member_is_ignored():
    data = gzip.compress(b'{"a":1}\n') + b"\0" * 1000 + gzip.compress(b'{"b":2}\n') + b"\0" * 7

    assert [r.value for r in read(data)] == [{"a": 1}, {"b": 2}]


def test_a_member_inflating_to_many_blocks_is_read_whole():
    lines = b"".join(b'{"n":%d,"pad":"%s"}\n' % (n, b"p" * (n % 97)) for n in range(20000))
    compressed = gzip.compress(lines)

    records = read(compressed)

    assert len(compressed) < 300_000 < len(lines)
    assert [r.value["n"] for r in records] == list(range(20000))


@pytest.mark.parametrize("cut", [1, 4, 9, 200])
def test_truncated_gzip_refuses_the_file_after_the_records_it_held(cut):
    lines = b"".join(b'{"n":%d}\n' % n for n in range(30000))
    data = gzip.compress(lines)[:-cut]
    seen: list[RawRecord] = []

    with pytest.raises(FileRefused, match="gzip is truncated"):
        seen.extend(read_records(io.BytesIO(data), NDJSON_GZ))

    assert cut > 8 or len(seen) == 30000  # the trailer alone missing: every record inflated first
    assert len(seen) > 20000


def test_gzip_cut_in_its_header_is_truncated():
    with pytest.raises(FileRefused, match="gzip is truncated"):
        read(gzip.compress(b'{"a":1}\n')[:5])


def test_corrupt_gzip_refuses_the_file():
    data = bytearray(gzip.compress(b"".join(b'{"n":%d}\n' % n for n in range(1000)), 1))
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8

    with pytest.raises(FileRefused, match="gzip is corrupt"):
        read(bytes(data))


def test_a_second_member_that_is_not_gzip_refuses_the_file():
    with pytest.raises(FileRefused, match="gzip is corrupt or not gzip"):
        read(gzip.compress(b'{"a":1}\n') + b'{"b":2}\n')


def test_plain_text_named_gz_is_not_gzip():
    with pytest.raises(FileRefused, match="corrupt or not gzip"):
        read(b'{"a":1}\n')


@pytest.mark.parametrize("data", [b"", gzip.compress(b"", mtime=0)], ids=["no-bytes", "gzip-of-nothing"])
def test_empty_gzip_is_an_empty_file(data):
    with pytest.raises(FileRefused, match="the file is empty"):
        read(data)


def test_gzipped_utf16_is_not_utf8():
    with pytest.raises(FileRefused, match="not UTF-8"):
        read(gzip.compress('{"a":"x"}\n'.encode("utf-16")))


def test_gzipped_latin1_is_not_utf8():
    with pytest.raises(FileRefused, match="not UTF-8"):
        read(gzip.compress(b'{"a":"ok"}\n' * 10 + '{"a":"\xe9"}\n'.encode("latin-1")))


# --- bounded memory -------------------------------------------------------------------------------------


def spaces_bomb(megabytes: int) -> bytes:
    """A gzip of ``megabytes`` MB of spaces: about a thousandth of that compressed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * MB
    return b"".join(compressor.compress(block) for _ in range(megabytes)) + compressor.flush()


def test_gzip_bomb_over_the_cap_is_refused_in_bounded_memory():
    bomb = gzip.compress(b'{"a":1}\n') + spaces_bomb(64)

    result, peak = peak_while(lambda: read(bomb, max_inflated_bytes=10 * MB))

    assert isinstance(result, FileRefused)
    assert result.reason == "the gzip inflates to more than 10,000,000 bytes (the limit per file)"
    assert peak < BOUND


def test_gzip_bomb_without_a_cap_streams_through_in_bounded_memory():
    bomb = gzip.compress(b'{"a":1}\n') + spaces_bomb(64) + gzip.compress(b'\n{"b":2}\n')

    records, peak = peak_while(lambda: read(bomb))

    assert [r.value for r in records] == [{"a": 1}, {"b": 2}]
    assert [r.line for r in records] == [1, 3]
    assert peak < BOUND


def test_inflated_size_at_the_cap_is_accepted():
    data = b'{"a":1}\n' * 1000

    assert len(read(gzip.compress(data), max_inflated_bytes=len(data))) == 1000
    with pytest.raises(FileRefused, match="inflates to more than"):
        read(gzip.compress(data), max_inflated_bytes=len(data) - 1)


def huge_line(prefix: bytes, size: int, suffix: bytes) -> LazyStream:
    return LazyStream([(prefix, 1), (b"x" * MB, size // MB), (suffix, 1)])


@pytest.mark.parametrize(
    ("fmt", "prefix", "suffix"),
    [
        (FileFormat(kind="ndjson", gzip=False), b'{"ok":0}\n{"a":"', b'"}\n{"ok":1}\n'),
        (FileFormat(kind="json", gzip=False), b'{"ok":0}\n{"a":"', b'"}\n{"ok":1}\n'),
        (FileFormat(kind="json", gzip=False), b'[{"ok":0},\n{"a":"', b'"},\n{"ok":1}]'),
        (FileFormat(kind="json", gzip=False), b'{"a":"', b'"}\n{"ok":1}\n'),
    ],
)
def test_a_300_mb_line_is_one_too_large_record_read_in_bounded_memory(fmt, prefix, suffix):
    stream = huge_line(prefix, 300 * MB, suffix)

    records, peak = peak_while(lambda: list(read_records(stream, fmt)))

    bad = [r for r in records if r.error]
    assert [r.value for r in records if not r.error][-1] == {"ok": 1}
    assert len(bad) == 1
    assert bad[0].error == "the record is 300,000,008 bytes; AEP accepts at most 1 MB per record"
    assert peak < BOUND


def test_a_huge_gzipped_line_is_too_large_in_bounded_memory():
    member = gzip.compress(b"x" * MB)
    stream = LazyStream([(gzip.compress(b'{"a":"'), 1), (member, 100), (gzip.compress(b'"}\n{"ok":1}\n'), 1)])

    records, peak = peak_while(lambda: list(read_records(stream, NDJSON_GZ)))

    assert brief(records) == [
        (0, 1, None, "the record is 100,000,008 bytes; AEP accepts at most 1 MB per record"),
        (1, 2, {"ok": 1}, None),
    ]
    assert peak < BOUND


def test_many_records_are_read_in_bounded_memory():
    stream = LazyStream([(b'{"_id":"x","n":[1,2,3],"s":"' + b"y" * 200 + b'"}\n', 50_000)])

    count, peak = peak_while(
        lambda: sum(1 for r in read_records(stream, FileFormat("ndjson", False)) if r.value)
    )

    assert count == 50_000
    assert peak < BOUND
