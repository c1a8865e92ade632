"""Batch readers: formats from keys, the JSON layouts, record-level and file-level rules.

Every layout is read from streams that hand out 1, 2, 3, 7 bytes or a full block per read, so a string,
an escape, a multi-byte character or a line end cut between two blocks is read as if whole.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from batch_ingest.readers import FileFormat, FileRefused, RawRecord, check_parquet, format_of, read_records

CHUNKS = [1, 2, 3, 7, 65536]
JSON = FileFormat(kind="json", gzip=False)
NDJSON = FileFormat(kind="ndjson", gzip=False)


class ChunkedStream(io.RawIOBase):
    """A byte stream whose reads return at most ``chunk`` bytes, as a network stream may."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self._data = memoryview(data)
        self._chunk = chunk
        self._at = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        count = self._chunk if size < 0 else min(size, self._chunk)
        out = bytes(self._data[self._at : self._at + count])
        self._at += len(out)
        return out


def read(data: bytes, fmt: FileFormat = JSON, chunk: int = 65536, **options: Any) -> list[RawRecord]:
    return list(read_records(ChunkedStream(data, chunk), fmt, **options))


def values(records: list[RawRecord]) -> list[Any]:
    return [record.value for record in records]


def refusal(data: bytes, fmt: FileFormat = JSON, **options: Any) -> str:
    with pytest.raises(FileRefused) as caught:
        read(data, fmt, **options)
    return caught.value.reason


# --- formats -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "kind", "gzip"),
    [
        ("in/calls.json", "json", False),
        ("in/calls.NDJSON", "ndjson", False),
        ("in/calls.jsonl", "ndjson", False),
        ("in/callers.csv", "csv", False),
        ("in/export.parquet", "parquet", False),
        ("in/calls.json.gz", "json", True),
        ("in/calls.JSONL.GZ", "ndjson", True),
        ("in/callers.csv.gz", "csv", True),
        ("in/export.Parquet.gz", "parquet", True),
        ("a.b/calls.v2.ndjson", "ndjson", False),
    ],
)
def test_format_comes_from_the_extension_in_any_case(key, kind, gzip):
    assert format_of(key) == FileFormat(kind=kind, gzip=gzip)


@pytest.mark.parametrize(
    "key", ["in/a.txt", "in/calls", "in/calls.gz", "in/.json", "in/a.json.zip", "in/a.xml.gz", "json"]
)
def test_any_other_name_is_an_unknown_format(key):
    with pytest.raises(FileRefused, match="unknown format"):
        format_of(key)


def test_parquet_magic_at_both_ends_passes():
    check_parquet(b"PAR1\x15\x04", b"\x00\x00PAR1")


@pytest.mark.parametrize(
    ("head", "tail"),
    [(b"PAR1abc", b"abcPAR0"), (b"PARX", b"PAR1"), (b"", b""), (b'{"a":1}', b"PAR1"), (b"PAR", b"AR1")],
)
def test_parquet_without_its_magic_at_both_ends_is_refused(head, tail):
    with pytest.raises(FileRefused, match="not a Parquet file"):
        check_parquet(head, tail)


def test_parquet_is_not_read_record_by_record():
    with pytest.raises(ValueError, match="Parquet"):
        read(b"PAR1....PAR1", FileFormat(kind="parquet", gzip=False))


# --- NDJSON ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", CHUNKS)
def test_ndjson_one_record_per_line_blank_lines_and_crlf_skipped(chunk):
    data = b'{"a":1}\r\n\r\n  \n{"b":"x\\"y"}\r\n{"c":[1,{"d":"\xc3\xa9"}]}\n\n'

    records = read(data, NDJSON, chunk)

    assert values(records) == [{"a": 1}, {"b": 'x"y'}, {"c": [1, {"d": "é"}]}]
    assert [(r.index, r.line) for r in records] == [(0, 1), (1, 4), (2, 5)]
    assert all(r.error is None for r in records)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_ndjson_whose_last_line_is_cut_keeps_its_complete_lines(chunk):
    records = read(b'{"a":1}\n{"b":2}\n{"c": [1, 2', NDJSON, chunk)

    assert values(records[:2]) == [{"a": 1}, {"b": 2}]
    assert records[2].value is None
    assert records[2].error is not None
    assert records[2].error.startswith("not JSON")
    assert (records[2].index, records[2].line) == (2, 3)


def test_ndjson_last_line_without_a_line_break_is_a_record():
    assert values(read(b'{"a":1}\n{"b":2}', NDJSON)) == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json}", "not JSON"),
        (b'{"id":"1","id":"2"}', "the same key twice"),
        (b'{"n":NaN}', "NaN or Infinity"),
        (b'{"n":-Infinity}', "NaN or Infinity"),
        (b'{"n":1e999}', "too large for a double"),
        (b'{"a":1} {"b":2}', "not JSON"),
    ],
)
def test_record_level_errors_keep_the_other_records(line, reason):
    records = read(b'{"ok":1}\n' + line + b'\n{"ok":2}\n', NDJSON)

    assert values(records) == [{"ok": 1}, None, {"ok": 2}]
    assert records[1].error is not None
    assert reason in records[1].error
    assert (records[1].index, records[1].line) == (1, 2)


def test_the_reason_never_quotes_the_record():
    records = read(b'{"phone":"+14155550100",\n{"phone":"+14155550100","phone":"+14155550101"}\n', NDJSON)

    assert all(r.error is not None and "4155550" not in r.error for r in records)


def test_values_that_are_not_objects_are_read_for_the_record_rules_to_judge():
    assert values(read(b'[1]\n"text"\nnull\n42\n', NDJSON)) == [[1], "text", None, 42]
    assert all(r.error is None for r in read(b'[1]\n"text"\nnull\n42\n', NDJSON))


def nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.mark.parametrize("fmt", [NDJSON, JSON])
def test_nesting_up_to_100_levels_is_read_and_deeper_is_the_records_error(fmt):
    deep = b"[" * 5000 + b"]" * 5000  # deep enough to exhaust a recursive parser
    data = nested(100) + b"\n" + nested(101) + b"\n" + deep + b"\n"

    records = read(data, fmt)

    assert records[0].error is None
    assert json.dumps(records[0].value).count("{") == 100
    assert [r.error for r in records[1:]] == ["the record is nested more than 100 levels deep"] * 2


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = b'{"a":"' + b"[{" * 200 + b'"}\n'

    assert values(read(text, NDJSON)) == [{"a": "[{" * 200}]


# --- JSON layouts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", CHUNKS)
def test_json_array_elements_are_the_records(chunk):
    data = b' \n[\n  {"a": "x,]}\\"\\\\"},\r\n  {"b": [1, {"c": "]"}]},\n  {"d": "\xe2\x82\xac"}\n]\n\n'

    records = read(data, JSON, chunk)

    assert values(records) == [{"a": 'x,]}"\\'}, {"b": [1, {"c": "]"}]}, {"d": "€"}]
    assert [(r.index, r.line) for r in records] == [(0, 3), (1, 4), (2, 5)]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_json_array_of_compact_records_on_one_line(chunk):
    records = read(b'[{"a":1},{"b":2},3,"s",[4]]', JSON, chunk)

    assert values(records) == [{"a": 1}, {"b": 2}, 3, "s", [4]]
    assert {r.line for r in records} == {1}


def test_json_array_bad_elements_are_their_records_errors():
    records = read(b'[{"a":1}, {"a":1,"a":2}, {oops}, , {"n": NaN}, {"ok": true},]', JSON)

    assert [r.value for r in records] == [{"a": 1}, None, None, None, None, {"ok": True}, None]
    reasons = [r.error or "" for r in records]
    assert "same key twice" in reasons[1]
    assert reasons[2].startswith("not JSON")
    assert reasons[3] == "not JSON: an empty array element"
    assert "NaN" in reasons[4]
    assert reasons[6] == "not JSON: an empty array element"  # the trailing comma


@pytest.mark.parametrize("chunk", CHUNKS)
def test_json_array_cut_short_refuses_the_file(chunk):
    for data in (b'[{"a":1}, {"b":', b'[{"a":1}, {"b":"]}', b'[{"a":1}', b"[", b'[{"a":1},\n'):
        with pytest.raises(FileRefused, match="array is cut short"):
            read(data, JSON, chunk)


def test_json_array_followed_by_more_data_refuses_the_file():
    assert "after the end of its JSON array" in refusal(b'[{"a":1}]\n[{"b":2}]')


def test_json_array_followed_by_whitespace_is_fine():
    assert values(read(b'[{"a":1}]\r\n \n')) == [{"a": 1}]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_json_one_pretty_printed_object_is_one_record(chunk):
    data = b'{\n  "_id": "1",\n  "nested": {"list": [1, 2, "}"]}\n}\n'

    records = read(data, JSON, chunk)

    assert values(records) == [{"_id": "1", "nested": {"list": [1, 2, "}"]}}]
    assert records[0].line == 1


@pytest.mark.parametrize("chunk", CHUNKS)
def test_json_pretty_printed_objects_one_after_another_are_one_record_each(chunk):
    data = b'{\n  "a": 1\n}\n{\n  "b": {"c": "{"}\n}{"d": 3}\n\n{\n "e": [\n]}'

    records = read(data, JSON, chunk)

    assert values(records) == [{"a": 1}, {"b": {"c": "{"}}, {"d": 3}, {"e": []}]
    assert [r.line for r in records] == [1, 4, 6, 8]


def test_json_pretty_printed_object_cut_short_refuses_the_file():
    assert "cut short" in refusal(b'{\n  "a": 1\n}\n{\n  "b": 2,\n')


def test_json_pretty_printed_objects_with_a_bad_one_keep_the_others():
    records = read(b'{\n "a": 1,\n "a": 2\n}\n{\n "b": 2\n}\n')

    assert [r.value for r in records] == [None, {"b": 2}]
    assert "same key twice" in (records[0].error or "")


@pytest.mark.parametrize("chunk", CHUNKS)
def test_json_with_one_object_per_line_is_read_as_ndjson(chunk):
    data = b'{"a": {"b": 1}}\n{"c": 2}\n{broken\n{"d": 4}\n{"e": '

    records = read(data, JSON, chunk)

    assert [r.value for r in records] == [{"a": {"b": 1}}, {"c": 2}, None, {"d": 4}, None]
    assert [r.line for r in records] == [1, 2, 3, 4, 5]
    assert all((r.error or "").startswith("not JSON") for r in records if r.value is None)


def test_json_starting_with_a_scalar_is_read_line_by_line():
    assert values(read(b'"a"\n1\n')) == ["a", 1]


def test_utf8_bom_is_stripped_before_the_layout_is_decided():
    assert values(read(b'\xef\xbb\xbf[{"a":1}]')) == [{"a": 1}]
    assert values(read(b'\xef\xbb\xbf{"a":1}\n', NDJSON)) == [{"a": 1}]
    assert values(read(b'\xef\xbb\xbf{\n"a":1}\n')) == [{"a": 1}]


# --- file-level rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [JSON, NDJSON])
def test_empty_file_is_refused(fmt):
    assert refusal(b"", fmt) == "the file is empty"


@pytest.mark.parametrize("fmt", [JSON, NDJSON])
@pytest.mark.parametrize("data", [b" \n\r\n\t\n", b"\xef\xbb\xbf\n"])
def test_whitespace_only_is_no_records(fmt, data):
    assert refusal(data, fmt).startswith("no records")


@pytest.mark.parametrize("data", [b"[]", b" [ \n ] \n"])
def test_an_empty_array_is_no_records(data):
    assert refusal(data, JSON).startswith("no records")


@pytest.mark.parametrize(
    "data",
    [
        '{"a":"é"}\n'.encode("utf-16"),
        '{"a":"é"}\n'.encode("utf-16-be"),
        '{"a":"x"}\n'.encode("utf-16-le"),
        '{"a":"x"}\n'.encode("utf-32"),
    ],
)
def test_utf16_and_utf32_are_not_utf8(data):
    assert refusal(data, NDJSON).startswith("the file is not UTF-8")


@pytest.mark.parametrize("chunk", CHUNKS)
def test_latin1_anywhere_refuses_the_whole_file(chunk):
    good = b'{"ok":"ascii"}\n' * 5000  # more than a block of ASCII before the bad byte
    data = good + '{"name":"Jos\xe9"}\n'.encode("latin-1") + good

    with pytest.raises(FileRefused, match="not UTF-8: an invalid byte sequence at byte 75,012"):
        list(read_records(ChunkedStream(data, chunk), NDJSON))


def test_utf8_cut_at_the_end_of_the_file_is_not_utf8():
    assert refusal(b'{"a":1}\n"\xe2\x82', NDJSON).startswith("the file is not UTF-8")


def test_invalid_utf8_inside_a_too_large_record_still_refuses_the_file():
    data = b'{"a":"' + b"x" * 5000 + b'\xff"}\n{"b":1}\n'

    assert refusal(data, NDJSON, max_record_bytes=1000).startswith("the file is not UTF-8")


# --- sizes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [7, 65536])
@pytest.mark.parametrize("fmt", [NDJSON, JSON])
def test_a_record_over_the_limit_is_its_error_and_reading_goes_on(chunk, fmt):
    big = b'{"a":"' + b"x" * 2000 + b'"}'
    data = b'{"ok":1}\n' + big + b'\n{"ok":2}\n'

    records = read(data, fmt, chunk, max_record_bytes=1000)

    assert [r.value for r in records] == [{"ok": 1}, None, {"ok": 2}]
    assert records[1].error == f"the record is {len(big):,} bytes; the limit is 1,000 bytes"
    assert (records[1].index, records[1].line) == (1, 2)


@pytest.mark.parametrize("chunk", [7, 65536])
def test_a_too_large_array_element_is_skipped_to_its_end(chunk):
    big = b'{"a":"' + b"x]}," * 600 + b'", "b": [1, 2]}'
    data = b'[{"ok":1},\n ' + big + b',\n {"ok":2}]'

    records = read(data, JSON, chunk, max_record_bytes=1000)

    assert [r.value for r in records] == [{"ok": 1}, None, {"ok": 2}]
    assert records[1].error == f"the record is {len(big):,} bytes; the limit is 1,000 bytes"
    assert [r.line for r in records] == [1, 2, 3]


def test_the_default_limit_is_aeps_1_mb():
    exactly = b'{"a":"' + b"x" * (1_000_000 - 8) + b'"}'
    over = b'{"a":"' + b"x" * (1_000_000 - 7) + b'"}'

    records = read(exactly + b"\n" + over + b"\n", NDJSON)

    assert records[0].error is None
    assert records[1].error == "the record is 1,000,001 bytes; AEP accepts at most 1 MB per record"
