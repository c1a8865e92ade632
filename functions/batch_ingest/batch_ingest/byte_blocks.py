"""A file's bytes as blocks of at most :data:`BLOCK_SIZE`: inflated when gzipped, checked to be UTF-8.

Nothing here holds more than a block (plus zlib's window): a file of any size, a gzip bomb included, is
read in constant memory. What makes the whole file unusable raises :class:`FileRefused` at the point it
is found, possibly after blocks were handed on (a truncated gzip is only known at its end): the caller then
discards what it built from the file.
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Iterator
from typing import Protocol

#: Bytes read from the stream, and the most inflated bytes handed on, at a time.
BLOCK_SIZE = 64 * 1024
UTF8_BOM = codecs.BOM_UTF8
_GZIP_HEADER_WBITS = 31  # zlib: a gzip header and trailer, not a raw or zlib stream

EMPTY = "the file is empty"
EMPTY_GZIP = "the file is empty (the gzip holds no data)"
UTF16 = "the file is not UTF-8: it starts with a UTF-16 byte order mark"
NUL_BYTES = "the file is not UTF-8: it has NUL bytes (UTF-16, UTF-32 or a binary file)"
TRUNCATED_GZIP = "the gzip is truncated: the file ends inside a compressed member"


class ByteStream(Protocol):
    """What the readers need of a stream: ``read(size)`` returning at most ``size`` bytes, ``b""`` at its end
    (a file opened ``rb``, an S3 ``StreamingBody``, ``io.BytesIO``)."""

    def read(self, size: int = ..., /) -> bytes: ...


class FileRefused(Exception):
    """A file-level rule: the whole file is refused. ``reason`` is user-facing and never quotes content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def raw_blocks(stream: ByteStream, size: int = BLOCK_SIZE) -> Iterator[bytes]:
    """The stream's bytes, ``size`` at a time (the last block shorter), until ``read`` returns nothing."""
    while True:
        block = stream.read(size)
        if not block:
            return
        yield block


def inflate(blocks: Iterator[bytes], *, max_inflated_bytes: int | None = None) -> Iterator[bytes]:
    """The gzip stream in ``blocks`` inflated, at most BLOCK_SIZE bytes at a time.

    Concatenated members (``cat a.gz b.gz``) are one stream, as ``gzip -d`` reads them; NUL padding after a
    member is ignored. Raises FileRefused when the bytes are not gzip or are corrupt, when the file ends
    inside a member, and when the inflated size passes ``max_inflated_bytes`` (None: no cap).
    """
    inflater = zlib.decompressobj(wbits=_GZIP_HEADER_WBITS)
    in_member = False  # bytes of a member fed and its end not reached yet
    inflated = 0
    for raw in blocks:
        pending = raw
        while True:
            if not in_member:
                pending = pending.lstrip(b"\0")  # padding between or after members
                if not pending:
                    break
                inflater = zlib.decompressobj(wbits=_GZIP_HEADER_WBITS)
                in_member = True
            try:
                out = inflater.decompress(pending, BLOCK_SIZE)
            except zlib.error as exc:
                raise FileRefused(f"the gzip is corrupt or not gzip ({_zlib_reason(exc)})") from exc
            if inflater.eof:  # the input past the member's end is in unused_data (only)
                in_member = False
                pending = inflater.unused_data
            else:
                pending = inflater.unconsumed_tail
            if out:
                inflated += len(out)
                if max_inflated_bytes is not None and inflated > max_inflated_bytes:
                    raise FileRefused(
                        f"the gzip inflates to more than {max_inflated_bytes:,} bytes (the limit per file)"
                    )
                yield out
            # A full output block may leave more inflated bytes inside zlib: ask again before reading on.
            if not pending and (not in_member or len(out) < BLOCK_SIZE):
                break
    if in_member:
        raise FileRefused(TRUNCATED_GZIP)


def _zlib_reason(exc: zlib.error) -> str:
    text = str(exc)
    return text.split(": ", 1)[-1] if ": " in text else text


def utf8_blocks(blocks: Iterator[bytes], *, gzipped: bool = False) -> Iterator[bytes]:
    """The blocks unchanged, a UTF-8 byte order mark at the start removed, after checking they are UTF-8.

    Raises FileRefused for no bytes at all, a UTF-16 byte order mark or NUL bytes in the first block (UTF-16
    and UTF-32 text, binary files), and any byte sequence that is not UTF-8 anywhere (a latin-1 file is
    refused whole, never read as its ASCII-looking subset). A block is handed on only once it is checked.
    """
    head = b""
    for block in blocks:
        head += block
        if len(head) >= len(UTF8_BOM):
            break
    if not head:
        raise FileRefused(EMPTY_GZIP if gzipped else EMPTY)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRefused(UTF16)
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    if b"\0" in head[:BLOCK_SIZE]:
        raise FileRefused(NUL_BYTES)
    checker = _Utf8Checker()
    if head:
        checker.check(head)
        yield head
    for block in blocks:
        checker.check(block)
        yield block
    checker.finish()


class _Utf8Checker:
    """Incremental UTF-8 validation: a sequence cut between two blocks is completed by the next one."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._offset = 0

    def check(self, block: bytes) -> None:
        # ASCII is UTF-8: no decoding unless a sequence from the last block awaits its end.
        pending = len(self._decoder.getstate()[0])  # bytes of a sequence the last block began
        if pending or not block.isascii():
            try:
                self._decoder.decode(block)
            except UnicodeDecodeError as exc:  # exc.start counts from the pending bytes
                self._refuse(self._offset - pending + exc.start)
        self._offset += len(block)

    def finish(self) -> None:
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            self._refuse(self._offset - len(self._decoder.getstate()[0]))

    @staticmethod
    def _refuse(offset: int) -> None:
        raise FileRefused(f"the file is not UTF-8: an invalid byte sequence at byte {offset:,}")
