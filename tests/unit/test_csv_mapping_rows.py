"""CSV files read through a mapping: delimiters, quotes, line breaks in cells, BOM, messy rows, limits."""

from __future__ import annotations

import csv
import gzip
import io
from typing import Any

import pytest

from batch_ingest.csv_mapping import CsvMapping
from batch_ingest.csv_rows import detect_delimiter
from batch_ingest.readers import FileFormat, FileRefused, RawRecord, read_records

CSV = FileFormat(kind="csv", gzip=False)
MAPPING = CsvMapping.model_validate(
    {
        "columns": {
            "name": "_acme.caller.name",
            "note": "_acme.call.note",
            "minutes": {"path": "_acme.call.minutes", "type": "integer"},
        },
        "identities": [{"column": "phone", "namespace": "Phone", "primary": True}],
        "timestamp": {"column": "ended", "format": "epoch-seconds"},
    }
)


#: The columns most tests use: a name, the caller's phone (identity) and the end of the call.
SMALL = CsvMapping.model_validate(
    {
        "columns": {"name": "_acme.caller.name"},
        "identities": [{"column": "phone", "namespace": "Phone", "primary": True}],
        "timestamp": {"column": "ended", "format": "epoch-seconds"},
    }
)


class ChunkedStream(io.RawIOBase):
    """A byte stream whose reads return at most ``chunk`` bytes."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self._data = data
        self._chunk = chunk
        self._at = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        out = self._data[self._at : self._at + min(size if size >= 0 else self._chunk, self._chunk)]
        self._at += len(out)
        return out


def read(data: bytes, chunk: int = 65536, fmt: FileFormat = CSV, **options: Any) -> list[RawRecord]:
    options.setdefault("mapping", SMALL)
    return list(read_records(ChunkedStream(data, chunk), fmt, **options))


def refusal(data: bytes, **options: Any) -> str:
    with pytest.raises(FileRefused) as caught:
        read(data, **options)
    return caught.value.reason


def event(name: str, phone: str, minutes: int | None = None, note: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {}
    if note is not None:
        call["note"] = note
    if minutes is not None:
        call["minutes"] = minutes
    record: dict[str, Any] = {"_acme": {"caller": {"name": name}}}
    if call:
        record["_acme"]["call"] = call
    record["identityMap"] = {"Phone": [{"id": phone, "primary": True}]}
    record["timestamp"] = "2025-11-29T09:30:00Z"
    return record


@pytest.mark.parametrize("chunk", [1, 3, 65536])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_rows_become_xdm_whatever_the_delimiter(chunk, delimiter):
    text = (
        "name,phone,minutes,ended,note\nAda,+15551234567,3,1764408600,\nBob,(415) 555-0100,,1764408600,hi\n"
    )

    records = read(text.replace(",", delimiter).encode(), chunk, mapping=MAPPING)

    assert [r.value for r in records] == [
        event("Ada", "+15551234567", minutes=3),
        event("Bob", "(415) 555-0100", note="hi"),
    ]
    assert [(r.index, r.line, r.error) for r in records] == [(0, 2, None), (1, 3, None)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a,b,c", ","),
        ("a;b;c", ";"),
        ("a\tb\tc", "\t"),
        ('"a;1",b,c', ","),
        ("a;b,c;d", ";"),
        ("single", ","),
        ("a,b;c", ","),
    ],
)
def test_the_delimiter_is_the_headers_most_frequent(header, expected):
    assert detect_delimiter(header) == expected


def test_the_mappings_delimiter_wins_over_detection():
    mapping = CsvMapping.model_validate({**MAPPING.model_dump(), "delimiter": ";"})
    data = b"name;phone;minutes;ended;note\nA,B;+15551234567;1;1764408600;x,y\n"

    assert read(data, mapping=mapping)[0].value == event("A,B", "+15551234567", minutes=1, note="x,y")


@pytest.mark.parametrize("chunk", [1, 2, 65536])
def test_quoted_cells_hold_delimiters_quotes_and_line_breaks(chunk):
    data = (
        b'\xef\xbb\xbf"name";phone;minutes;ended;note\r\n'
        b'"Smith; Ada";+15551234567;2;1764408600;"said ""hi""\r\nthen\nleft"\r\n'
        b"\r\n"
        b"Bob;+15551234568;4;1764408600;plain\r\n"
    )

    records = read(data, chunk, mapping=MAPPING)

    assert [r.value for r in records] == [
        event("Smith; Ada", "+15551234567", minutes=2, note='said "hi"\r\nthen\nleft'),
        event("Bob", "+15551234568", minutes=4, note="plain"),
    ]
    assert [r.line for r in records] == [2, 6]


@pytest.mark.parametrize(
    "cell", ["+15551234567", '=HYPERLINK("x")', "-1+1", "@SUM(A1)", "+cmd|' /C calc'!A0"]
)
def test_formula_looking_cells_reach_the_record_unchanged(cell):
    writer_output = io.StringIO()
    csv.writer(writer_output).writerows(
        [["name", "phone", "ended", "note"], [cell, cell, "1764408600", cell]]
    )

    record = read(writer_output.getvalue().encode())[0]

    assert record.error is None
    assert record.value["_acme"]["caller"]["name"] == cell
    assert record.value["identityMap"]["Phone"] == [{"id": cell, "primary": True}]


def test_messy_rows_are_their_own_errors_and_the_rest_go_on():
    data = (
        b"name,phone,minutes,ended,note\n"
        b"Ada,+15551234567,1,1764408600,\n"
        b"Bob,+15551234568,1,1764408600\n"  # a cell missing
        b"Cy,+15551234569,1,1764408600,,extra\n"  # a cell too many
        b"Di,+15551234570,many,1764408600,\n"  # not an integer
        b'"Ed"x,+15551234571,1,1764408600,\n'  # not CSV
        b",,,,\n"  # no cells: a blank row
        b"Fay,+15551234572,,1764408600,\n"
        b"Gus,+15551234573,1,yesterday,\n"
    )

    records = read(data, mapping=MAPPING)

    assert [r.line for r in records] == [2, 3, 4, 5, 6, 8, 9]
    assert [r.index for r in records] == list(range(7))
    assert records[0].value == event("Ada", "+15551234567", minutes=1)
    assert (records[1].error, records[1].field) == ("row has 4 cells; the header has 5", None)
    assert (records[2].error, records[2].field) == ("row has 6 cells; the header has 5", None)
    assert (records[3].error, records[3].field) == ("not an integer", "minutes")
    assert (records[4].error or "").startswith("not CSV")
    assert records[5].value == event("Fay", "+15551234572")
    assert records[6].field == "ended"
    assert all(r.value is None for r in records if r.error)


def test_a_quote_left_open_at_the_end_is_the_last_rows_error():
    records = read(b'name,phone,ended\nAda,+15551234567,1764408600\nBob,"+1555,1764408600\n')

    assert records[0].error is None
    assert (records[1].error or "").startswith("not CSV")
    assert records[1].line == 3


def test_unmapped_columns_are_ignored_and_header_names_trimmed():
    data = b" name , secret ,phone,ended\nAda,s3cr3t,+15551234567,1764408600\n"

    assert read(data)[0].value == event("Ada", "+15551234567")


def test_gzipped_csv_reads_as_plain():
    data = b"name,phone,ended\r\nAda,+15551234567,1764408600\r\n"

    assert [r.value for r in read(gzip.compress(data), fmt=FileFormat(kind="csv", gzip=True))] == [
        r.value for r in read(data)
    ]


def test_a_cell_larger_than_csvs_default_field_limit_is_read():
    name = "n" * 200_000
    data = f"name,phone,ended\n{name},+15551234567,1764408600\n".encode()

    assert read(data)[0].value["_acme"]["caller"]["name"] == name


# --- file-level rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"name,phone,ended\n", b"\xef\xbb\xbfname,phone,ended\r\n\r\n,,\n  \n"])
def test_a_header_only_is_no_records(data):
    assert refusal(data) == "no records: the CSV file has a header only"


@pytest.mark.parametrize("data", [b"\n \r\n", b"\xef\xbb\xbf"])
def test_whitespace_only_is_no_records(data):
    assert refusal(data).startswith("no records")


def test_an_empty_csv_is_refused():
    assert refusal(b"") == "the file is empty"


def test_a_header_without_a_mapped_column_is_refused():
    assert refusal(b"name,ended\nAda,1764408600\n") == (
        "the CSV header lacks columns the mapping needs: phone"
    )


def test_a_header_naming_a_column_twice_is_refused():
    assert refusal(b"name,phone,name,ended\nA,+15551234567,B,1\n") == (
        "the CSV header has a column name twice: name"
    )


def test_a_csv_without_a_mapping_is_refused():
    assert "needs a mapping" in refusal(b"name\nAda\n", mapping=None)


@pytest.mark.parametrize(
    "data",
    [
        "name,phone,ended\r\nAda,+15551234567,1764408600\r\n".encode("utf-16"),
        "name,phone,ended\nJosé,+15551234567,1764408600\n".encode("latin-1"),
    ],
)
def test_a_csv_that_is_not_utf8_is_refused(data):
    assert refusal(data).startswith("the file is not UTF-8")


@pytest.mark.parametrize(
    ("row", "after"),
    [
        (b'Ada,+15551234567,1764408600,"' + b"x\n" * 1500 + b'"\n', b"Cy,+15551234569,1,x\n"),  # many lines
        (b'Ada,+15551234567,1764408600,"' + b"x" * 3000 + b"\n", b'Cy,+15551234569,1,x"\n'),  # quote open
        (b'Ada,+15551234567,1764408600,"x\n' + b"y" * 3000 + b'"\n', b""),  # over on its second line
    ],
)
def test_a_record_over_the_limit_spanning_lines_refuses_the_csv(row, after):
    data = b"name,phone,ended,note\nBob,+15551234568,1764408600,short\n" + row + after

    reason = refusal(data, max_record_bytes=1000)

    assert reason == (
        "the CSV record starting at line 3 is over 1,000 bytes and spans lines (a quoted field, or the "
        "header); the rest of the file cannot be read reliably"
    )


@pytest.mark.parametrize("chunk", [7, 64, 1000, 65536])
@pytest.mark.parametrize(
    "row",
    [
        b"Ada,+15551234567,1764408600," + b"x" * 3000 + b"\n",  # one long line
        b'Ada,+15551234567,1764408600,"' + b'x""y' * 800 + b'"\r\n',  # quoted, quotes doubled
        b"Ada,+15551234567,1764408600," + b"x" * 3000,  # the last line, without a line break
    ],
)
def test_a_record_over_the_limit_on_one_line_is_refused_alone(row, chunk):
    after = b"Cy,+15551234569,1764408600,ok\n" if row.endswith(b"\n") else b""
    data = b"name,phone,ended,note\nBob,+15551234568,1764408600,short\n" + row + after

    records = read(data, chunk, max_record_bytes=1000)

    assert [(r.index, r.line, r.error is None) for r in records] == [
        (0, 2, True),
        (1, 3, False),
        *([(2, 4, True)] if after else []),
    ]
    size = len(row)  # its bytes, line end included
    assert records[1].error == f"the CSV record is {size:,} bytes; AEP accepts at most 1 MB per record"
    if after:
        assert records[2].value == read(b"name,phone,ended,note\n" + after)[0].value


def test_a_header_over_the_limit_refuses_the_csv():
    reason = refusal(b"name,phone,ended,note" + b",x" * 600 + b"\nBob,+1,1,x\n", max_record_bytes=1000)

    assert "starting at line 1 is over 1,000 bytes" in reason
