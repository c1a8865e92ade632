"""A CSV file's rows, read in constant memory and turned into XDM objects by a :class:`CsvMapping`.

The first non-blank line is the header; its delimiter (``,`` ``;`` or tab: the most frequent of the three)
is the file's, unless the mapping names one. Quoted fields may hold delimiters, quotes (doubled) and line
breaks; CRLF line ends and blank lines are fine (a UTF-8 byte order mark was removed before).

Record-level (that row's error, the others go on): a row with more or fewer cells than the header, a cell
not of its column's type, a row that is not CSV (a quote inside an unquoted field... as Python's ``csv``
reads it in strict mode, and a quoted field still open when the file ends). A record over ``max_record_bytes``
that lies on one line with balanced quotes is record-level too: it is skipped to its line end (never held
in memory) and reported. File-level (FileRefused): a header only, a header without a column the mapping
needs or with a name twice, and a record over ``max_record_bytes`` that spans lines (a quoted field with
line breaks, or an odd number of quotes on its line: it goes on past the line end) or is the header. A
reader cannot find where such a record ends without holding it, and skipping to the next line break could
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
    of the record being read.

    A record over ``max_bytes``: when it began on the line being read, past the header, and that line
    holds an even number of quotes (so it ends at that line end, as a CSV record), the line is skipped
    (never held: only its bytes and quotes are counted) and listed in ``skipped`` as ``(line, bytes)``;
    the ``csv`` reader never sees it. Otherwise (the header, a record already spanning lines, or an odd
    number of quotes: a quoted field goes on past the line end) FileRefused."""

    def __init__(self, blocks: Iterable[bytes], max_bytes: int) -> None:
        self._blocks = blocks
        self._max = max_bytes
        self.count = 0  # lines handed out or skipped
        self.record_bytes = 0  # bytes handed out since the current record began
        self.record_line = 1  # the line it began on
        self.skippable = False  # set once the header is read
        self.skipped: list[tuple[int, int]] = []

    def mark(self) -> int:
        """A record begins with the next line: its number."""
        self.record_bytes = 0
        self.record_line = self.count + 1
        return self.record_line

    def __iter__(self) -> Iterator[str]:
        carry: list[bytes] = []
        carried = 0
        skipping: list[int] | None = None  # [bytes, quotes] of the line being skipped
        for block in self._blocks:
            segments = block.split(b"\n")
            for segment in segments[:-1]:
                if skipping is not None:
                    self._skip_ends(skipping[0] + len(segment) + 1, skipping[1] + segment.count(b'"'))
                    skipping = None
                    continue
                if carry:
                    segment = b"".join([*carry, segment])  # noqa: PLW2901 - the line's earlier parts
                    carry, carried = [], 0
                line = segment + b"\n"
                if self.record_bytes + len(line) > self._max:
                    self._may_skip()
                    self._skip_ends(len(line), line.count(b'"'))
                    continue
                yield self._line(line)
            rest = segments[-1]
            if not rest:
                continue
            if skipping is not None:
                skipping[0] += len(rest)
                skipping[1] += rest.count(b'"')
                continue
            carried += len(rest)
            if self.record_bytes + carried > self._max:
                self._may_skip()
                skipping = [carried, sum(part.count(b'"') for part in carry) + rest.count(b'"')]
                carry, carried = [], 0
                continue
            carry.append(rest)
        if skipping is not None:
            self._skip_ends(skipping[0], skipping[1])
        elif carry:
            line = b"".join(carry)
            if self.record_bytes + len(line) > self._max:
                self._may_skip()
                self._skip_ends(len(line), line.count(b'"'))
            else:
                yield self._line(line)

    def _line(self, data: bytes) -> str:
        self.count += 1
        self.record_bytes += len(data)
        return data.decode("utf-8")  # the blocks are checked UTF-8, and a line break never cuts a character

    def _may_skip(self) -> None:
        """The record passes the limit: can it be skipped (it began on this line, past the header)?"""
        if not self.skippable or self.record_bytes:
            raise self._refused()

    def _skip_ends(self, size: int, quotes: int) -> None:
        """The skipped line ended: its record ends with it when its quotes are balanced."""
        self.count += 1
        if quotes % 2:
            raise self._refused()
        self.skipped.append((self.record_line, size))
        self.mark()

    def _refused(self) -> FileRefused:
        return FileRefused(
            f"the CSV record starting at line {self.record_line} is over {self._max:,} bytes and spans "
            "lines (a quoted field, or the header); the rest of the file cannot be read reliably"
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
    lines.skippable = True
    while True:
        lines.mark()
        try:
            cells = next(reader)
        except StopIteration:
            yield from _skipped(lines)
            return
        except csv.Error as exc:
            yield from _skipped(lines)
            yield Row(lines.record_line, error=f"not CSV: {exc}")
            continue
        yield from _skipped(lines)  # lines skipped while the reader looked for this row come before it
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or a row of empty cells
        yield _row(lines.record_line, cells, header, mapping)


def _skipped(lines: _Lines) -> Iterator[Row]:
    for line, size in lines.skipped:
        yield Row(line, error=f"the CSV record is {size:,} bytes; AEP accepts at most 1 MB per record")
    lines.skipped.clear()


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
