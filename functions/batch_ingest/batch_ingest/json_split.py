"""Splitting a JSON file's bytes into the bytes of its records, in constant memory.

Three layouts, decided from the bytes (:func:`split_json`):

- **NDJSON** (JSON Lines): one record per line; blank lines are skipped, CRLF is fine. A line that is not
  JSON is that record's error, the other lines go on: a file whose last line is cut keeps its complete
  lines.
- **One array**: the first non-whitespace byte is ``[``; each element of the array is a record. An empty
  element (``[1,,2]``, a trailing comma) is a record whose error is "not JSON". The file is refused when it
  ends before the closing ``]`` or has anything but whitespace after it.
- **Concatenated objects**: the first byte is ``{`` and the first object spans lines (a pretty-printed
  object). Every top-level value is a record, so one pretty-printed object is one record and several
  written one after another (as ``jq .`` prints a stream) are several. The file is refused when it ends
  inside an object. A first object that closes on its own line means NDJSON (``{`` on one line).

Records are found by scanning for brackets outside strings (escapes followed), never by parsing: the parse
is :func:`aep.strict_json.loads`'s, record by record. A record over ``max_bytes`` is skipped to its end
(its bytes dropped as they arrive, the scan goes on) and handed on as a :class:`Piece` with an error; so
is a record nested more than :data:`MAX_DEPTH` deep. Memory: a record up to ``max_bytes`` plus a block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain

from aep.record_rules import MAX_DEPTH, MAX_RECORD_BYTES, TOO_DEEP
from batch_ingest.byte_blocks import FileRefused

_WHITESPACE = b" \t\r\n"

# A string body up to (not including) its closing quote, or up to a backslash that ends the block.
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
# Inside a value: everything up to the next bracket or a string that does not close in this block.
_INNER = re.compile(rb'(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+")*+', re.DOTALL)
# At an array's top level, commas end elements too.
_ELEMENT = re.compile(rb'(?:[^"\[\]{},]++|"(?:[^"\\]++|\\.)*+")*+', re.DOTALL)
_SPACE = re.compile(rb"[ \t\r\n]*+")
_SCALAR = re.compile(rb"[^ \t\r\n\[{]*+")  # a top-level non-object in a concatenated stream
_BRACKET = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)


@dataclass(frozen=True, slots=True)
class Piece:
    """One record's bytes (``data``), or the reason it could not be kept (``error``, ``data`` empty)."""

    line: int  # 1-based line of the record's first byte
    data: bytes
    error: str | None = None


def too_large(size: int, max_bytes: int) -> str:
    """The reason for a record of ``size`` bytes over ``max_bytes``."""
    if max_bytes == MAX_RECORD_BYTES:
        return f"the record is {size:,} bytes; AEP accepts at most 1 MB per record"
    return f"the record is {size:,} bytes; the limit is {max_bytes:,} bytes"


def too_deep() -> str:
    """The reason for a record nested more than MAX_DEPTH levels (the record rules' own)."""
    return TOO_DEEP


def nested_deeper_than(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON in ``data`` nests objects and arrays more than ``limit`` levels (brackets in
    strings do not count). Cheap for the usual record: it cannot unless it has more than ``limit``
    opening brackets."""
    if data.count(b"{") + data.count(b"[") <= limit:
        return False
    depth = 0
    for match in _BRACKET.finditer(data):
        char = match.group()
        if char in (b"{", b"["):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"}", b"]"):
            depth -= 1
    return False


def split_ndjson(blocks: Iterable[bytes], max_bytes: int) -> Iterator[Piece]:
    """One Piece per non-blank line; a line over ``max_bytes`` becomes an error Piece, read past in
    constant memory."""
    line = 0  # lines completed
    parts: list[bytes] = []  # the start of a line that began in an earlier block (dropped once too large)
    size = 0  # bytes of that line so far
    content = False  # whether they hold anything but whitespace
    for block in blocks:
        segments = block.split(b"\n")
        for segment in segments[:-1]:
            line += 1
            if size:  # the line began in an earlier block
                size += len(segment)
                content = content or bool(segment.strip(_WHITESPACE))
                if content:
                    data = b"" if size > max_bytes else b"".join([*parts, segment])
                    yield _line_piece(line, data, size, max_bytes)
                parts, size, content = [], 0, False
            elif segment.strip(_WHITESPACE):
                yield _line_piece(line, segment, len(segment), max_bytes)
        rest = segments[-1]
        if rest:
            size += len(rest)
            content = content or bool(rest.strip(_WHITESPACE))
            if size > max_bytes:
                parts = []
            else:
                parts.append(rest)
    if content:  # a last line without a line break
        yield _line_piece(line + 1, b"" if size > max_bytes else b"".join(parts), size, max_bytes)


def _line_piece(line: int, data: bytes, size: int, max_bytes: int) -> Piece:
    if size > max_bytes:
        return Piece(line, b"", too_large(size, max_bytes))
    return Piece(line, data)


def split_json(blocks: Iterator[bytes], max_bytes: int) -> Iterator[Piece]:
    """The records of a ``.json`` file, its layout decided from its first bytes (see the module)."""
    lookahead: list[bytes] = []
    seen = 0
    first = b""
    for block in blocks:
        lookahead.append(block)
        seen += len(block)
        first = block.lstrip(_WHITESPACE)[:1]
        if first:
            break
    if not first:
        return  # whitespace only: no records
    if first == b"[":
        yield from _Scanner(max_bytes, array=True).run(chain(lookahead, blocks))
        return
    if first != b"{":
        yield from split_ndjson(chain(lookahead, blocks), max_bytes)
        return
    # Read on until the first line break (or max_bytes past it: no break in a record's worth of bytes
    # means a too-large first line, which NDJSON reports as such).
    while b"\n" not in lookahead[-1] and seen <= max_bytes + len(lookahead[0]):
        block = next(blocks, b"")
        if not block:
            break
        lookahead.append(block)
        seen += len(block)
    head = b"".join(lookahead)
    start = len(head) - len(head.lstrip(_WHITESPACE))
    newline = head.find(b"\n", start)
    if newline >= 0 and not _closes(head[start:newline]):
        del head
        yield from _Scanner(max_bytes, array=False).run(chain(lookahead, blocks))
    else:
        del head
        yield from split_ndjson(chain(lookahead, blocks), max_bytes)


def _closes(data: bytes) -> bool:
    """Whether the object or array starting ``data`` ends within it."""
    depth = 0
    for match in _BRACKET.finditer(data):
        char = match.group()
        if char in (b"{", b"["):
            depth += 1
        elif char in (b"}", b"]"):
            depth -= 1
            if depth == 0:
                return True
    return False


class _Scanner:
    """The array and concatenated layouts: a byte scanner that follows strings, escapes and depth across
    blocks. ``level`` is the depth of the records' container: 1 inside an array, 0 for a stream of values.
    """

    def __init__(self, max_bytes: int, *, array: bool) -> None:
        self.max_bytes = max_bytes
        self.array = array
        self.level = 1 if array else 0
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.started = not array  # an array's "[" seen
        self.closed = False  # an array's "]" seen
        self.in_record = False
        self.scalar = False  # the current record is a top-level non-container (concatenated layout)
        self.parts: list[bytes] = []
        self.size = 0
        self.error: str | None = None
        self.record_line = 0
        self.line = 1  # line at offset `counted` of the current block
        self.counted = 0
        self.after_comma = False  # inside an array, right after a comma: a "]" now is a trailing comma

    def run(self, blocks: Iterable[bytes]) -> Iterator[Piece]:
        for block in blocks:
            self.counted = 0
            yield from self._block(block)
            self.line += block.count(b"\n", self.counted)
        if self.in_record and self.scalar and not self.in_string:
            yield self._end()
        elif self.array and not self.closed:
            raise FileRefused("the JSON array is cut short: the file ends before its closing ]")
        elif self.in_record:
            raise FileRefused("the JSON object is cut short: the file ends inside it")

    def _start(self, block: bytes, at: int) -> None:
        self.line += block.count(b"\n", self.counted, at)
        self.counted = at
        self.record_line = self.line
        self.in_record = True
        self.parts, self.size, self.error = [], 0, None

    def _keep(self, segment: bytes) -> None:
        self.size += len(segment)
        if self.error is None and self.size > self.max_bytes:
            self.error = "large"
        if self.error is None:
            self.parts.append(segment)
        else:
            self.parts = []

    def _end(self) -> Piece:
        self.in_record = False
        self.scalar = False
        if self.error is not None or self.size > self.max_bytes:
            reason = too_deep() if self.error == "deep" else too_large(self.size, self.max_bytes)
            return Piece(self.record_line, b"", reason)
        data = b"".join(self.parts).rstrip(_WHITESPACE)
        self.parts = []
        return Piece(self.record_line, data)

    def _block(self, block: bytes) -> Iterator[Piece]:  # noqa: PLR0915 - one state machine
        n = len(block)
        i = 0
        begin = 0  # where the current record's bytes in this block begin
        if self.escape:
            self.escape = False
            i = 1
        while i < n:
            if self.in_string:
                i = _skip(_STRING_REST, block, i)
                if i >= n:
                    break
                if block[i] == _QUOTE:
                    self.in_string = False
                    i += 1
                else:  # a backslash ending the block escapes the next block's first byte
                    self.escape = True
                    i = n
                continue
            if not self.in_record:
                i = _skip(_SPACE, block, i)
                if i >= n:
                    break
                if self.closed:
                    raise FileRefused("the file has more data after the end of its JSON array")
                char = block[i]
                if not self.started:  # the array's opening bracket
                    self.started = True
                    self.depth = 1
                    i += 1
                    continue
                if self.array and char in b",]":
                    if char == _CLOSE_ARRAY and not self.after_comma:
                        self.closed = True  # "[]", or "]" after the last element's whitespace
                    else:
                        self._start(block, i)
                        self.in_record = False
                        yield Piece(self.record_line, b"", "not JSON: an empty array element")
                        self.after_comma = char == _COMMA
                        self.closed = char == _CLOSE_ARRAY
                    i += 1
                    continue
                self._start(block, i)
                begin = i
                self.after_comma = False
                self.scalar = not self.array and char not in b"[{"
                continue
            if self.scalar:  # a top-level value of a concatenated stream that is no object or array
                i = _skip(_SCALAR, block, i)
                if i < n:
                    self._keep(block[begin:i])
                    yield self._end()
                continue
            at_level = self.depth == self.level
            skipped = (_ELEMENT if at_level and self.array else _INNER).match(block, i)
            i = skipped.end() if skipped else i  # (the pattern always matches, maybe nothing)
            if i >= n:
                break
            char = block[i]
            i += 1
            if char == _QUOTE:
                self.in_string = True
            elif char in b"[{":
                self.depth += 1
                if self.depth - self.level > MAX_DEPTH and self.error is None:
                    self.error = "deep"
                    self.parts = []
            elif char == _COMMA or (at_level and char == _CLOSE_ARRAY and self.array):
                # the element ends at the array's top level, and with it the array on a "]"
                self._keep(block[begin : i - 1])
                yield self._end()
                self.after_comma = char == _COMMA
                self.closed = char == _CLOSE_ARRAY
            elif not at_level:  # a closing bracket
                self.depth -= 1
                if not self.array and self.depth == 0:
                    self._keep(block[begin:i])
                    yield self._end()
            # else: a stray closing bracket at the top level, part of the element (which will not parse)
        if self.in_record:
            self._keep(block[begin:])


_QUOTE = ord('"')
_COMMA = ord(",")
_CLOSE_ARRAY = ord("]")


def _skip(pattern: re.Pattern[bytes], block: bytes, at: int) -> int:
    """Where ``pattern`` (which matches the empty string too) stops matching from ``at``."""
    match = pattern.match(block, at)
    return match.end() if match else at
