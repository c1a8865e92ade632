"""A CSV file's rows, read in constant memory and turned into XDM objects by a :class:`CsvMapping`.

The first non-blank line is the header; its delimiter (``,`` ``;`` or tab: the most frequent of the three)
is the file's, unless the mapping names one. Quoted fields may hold delimiters, quotes (doubled) and line
breaks; CRLF line ends and blank lines are fine (a UTF-8 byte order mark was removed before).

Record-level (that row's error, the others go on): a row with more or fewer cells than the header, a cell
not of its column's type, a row that is not CSV (a quote inside an unquoted field... as Python's ``csv``
reads it in strict mode, and a quoted field still open when the file ends). File-level (FileRefused): a
header only, a header without a column the mapping needs or with a name twice, and a record over
``max_record_bytes``. That last one refuses the whole file, unlike JSON, because a CSV reader cannot find
where an oversized record ends: a quoted field may span lines, so skipping to the next line break could
read the rest of the file shifted, cell by cell, into the wrong columns.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

from batch_ingest.byte_blocks import FileRefused
from batch_ingest.csv_mapping import CsvMapping, FieldError

_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True, slots=True)
class Row:
    """One CSV record: the XDM object built from it, or its error."""

    line: int  # 1-based line where the row starts
    value: dict[str, Any] | None = None
    error: str | None = None
    field: str | None = None


class _Lines:
    """The text lines of UTF-8 blocks (line ends kept, as ``csv`` wants them), counting lines and the bytes
    of the record being read. Raises FileRefused once a record passes ``max_bytes``."""

    def __init__(self, blocks: Iterable[bytes], max_bytes: int) -> None:
        self._blocks = blocks
        self._max = max_bytes
        self.count = 0  # lines handed out
        self.record_bytes = 0  # bytes handed out since the current record began
        self.record_line = 1  # the line it began on

    def mark(self) -> int:
        """A record begins with the next line: its number."""
        self.record_bytes = 0
        self.record_line = self.count + 1
        return self.record_line

    def __iter__(self) -> Iterator[str]:
        carry: list[bytes] = []
        carried = 0
        for block in self._blocks:
            segments = block.split(b"\n")
            for segment in segments[:-1]:
                if carry:
                    segment = b"".join([*carry, segment])  # noqa: PLW2901 - the line's earlier parts
                    carry, carried = [], 0
                yield self._line(segment + b"\n")
            rest = segments[-1]
            if rest:
                carried += len(rest)
                self._check(self.record_bytes + carried)
                carry.append(rest)
        if carry:
            yield self._line(b"".join(carry))

    def _line(self, data: bytes) -> str:
        self.count += 1
        self.record_bytes += len(data)
        self._check(self.record_bytes)
        return data.decode("utf-8")  # the blocks are checked UTF-8, and a line break never cuts a character

    def _check(self, size: int) -> None:
        if size > self._max:
            raise FileRefused(
                f"the CSV record starting at line {self.record_line} is over {self._max:,} bytes; "
                "the rest of the file cannot be read reliably"
            )


def detect_delimiter(header: str) -> str:
    """The most frequent of ``,`` ``;`` and tab in the header line (``,`` when none or a tie)."""
    counts = [header.count(delimiter) for delimiter in _DELIMITERS]
    return _DELIMITERS[counts.index(max(counts))]


def read_csv(blocks: Iterable[bytes], mapping: CsvMapping, *, max_record_bytes: int) -> Iterator[Row]:
    """The rows of a CSV file after its header, each built by ``mapping``. Raises FileRefused for the
    file-level rules (see the module).

    Sets the process-wide ``csv.field_size_limit`` to ``max_record_bytes``: the record size is checked
    first (a field is never larger than its record), and ``csv``'s default (128 KiB) would refuse a field
    that AEP accepts."""
    csv.field_size_limit(max_record_bytes)
    lines = _Lines(blocks, max_record_bytes)
    source = iter(lines)
    header_line = ""
    for text in source:
        if text.strip():
            header_line = text
            break
        lines.mark()
    if not header_line:
        raise FileRefused("no records: the file holds only whitespace")
    delimiter = mapping.delimiter or detect_delimiter(header_line)
    reader = csv.reader(chain([header_line], source), delimiter=delimiter, strict=True)
    header = [name.strip() for name in _next_row(reader)]
    _check_header(header, mapping)
    while True:
        start = lines.mark()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Row(start, error=f"not CSV: {exc}")
            continue
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or a row of empty cells
        yield _row(start, cells, header, mapping)


def _next_row(reader: Iterator[list[str]]) -> list[str]:
    try:
        return next(reader)
    except csv.Error as exc:
        raise FileRefused(f"the CSV header is not CSV ({exc})") from exc


def _check_header(header: list[str], mapping: CsvMapping) -> None:
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise FileRefused(f"the CSV header has a column name twice: {', '.join(repeated)}")
    missing = [name for name in mapping.needed_columns() if name not in header]
    if missing:
        raise FileRefused(f"the CSV header lacks columns the mapping needs: {', '.join(missing)}")


def _row(line: int, cells: list[str], header: list[str], mapping: CsvMapping) -> Row:
    if len(cells) != len(header):
        return Row(line, error=f"row has {len(cells)} cells; the header has {len(header)}")
    try:
        value = mapping.build(dict(zip(header, cells, strict=True)))
    except FieldError as exc:
        return Row(line, error=exc.reason, field=exc.field)
    return Row(line, value=value)
