"""JSON layout detection: is a file NDJSON (one object per line) or multi-line JSON?

AEP reads a JSON batch as JSON Lines unless the batch was created with ``isMultiLineJson: true``, which
a JSON array (on one line or many) and a pretty-printed object need. The layout is read from the bytes:
the first non-whitespace character (after a UTF-8 BOM, inside gzip when the file is gzipped) is ``[``
for an array; for ``{`` the first object is followed to its closing brace: a line break inside it means
multi-line. Only the first record is read, in blocks, never more than :data:`SNIFF_LIMIT` bytes.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from aep.errors import AepError, AepSourceError
from aep.sources import READ_BLOCK, ByteSource, retryable_read_failure

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
#: A first record longer than this on one line is taken as NDJSON without reading further.
SNIFF_LIMIT = 8 * 1024 * 1024
_WHITESPACE = b" \t\r\n"


def is_multi_line_json(source: ByteSource, *, limit: int = SNIFF_LIMIT) -> bool:
    """True when ``source`` holds a JSON array or a multi-line object; False for NDJSON (or empty).

    Raises AepSourceError when the source cannot be read, or is gzipped and cannot be decompressed.
    """
    try:
        return _sniff(source, limit)
    except AepError:
        raise
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise AepSourceError(f"not a readable gzip file ({type(exc).__name__})", retryable=False) from exc
    except Exception as exc:
        raise AepSourceError(
            f"reading the source failed ({type(exc).__name__})", retryable=retryable_read_failure(exc)
        ) from exc


def _sniff(source: ByteSource, limit: int) -> bool:
    with source.open(0) as raw:
        magic = raw.read(2)
    with source.open(0) as raw:
        if magic == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                return _multi_line(_blocks(unzipped, limit))
        return _multi_line(_blocks(raw, limit))


def _blocks(stream: BinaryIO | gzip.GzipFile, limit: int) -> Iterator[bytes]:
    left = limit
    while left > 0:
        block = stream.read(min(READ_BLOCK, left))
        if not block:
            return
        left -= len(block)
        yield block


def _multi_line(blocks: Iterator[bytes]) -> bool:
    depth = 0
    in_string = escaped = False
    for index, block in enumerate(blocks):
        for byte in block.removeprefix(UTF8_BOM) if index == 0 else block:
            if depth == 0:
                if byte in _WHITESPACE:
                    continue
                if byte == ord("["):
                    return True
                if byte != ord("{"):
                    return False
                depth = 1
            elif in_string:
                if escaped:
                    escaped = False
                elif byte == ord("\\"):
                    escaped = True
                elif byte == ord('"'):
                    in_string = False
            elif byte == ord('"'):
                in_string = True
            elif byte == ord("\n"):
                return True
            elif byte in b"{[":
                depth += 1
            elif byte in b"}]":
                depth -= 1
                if depth == 0:
                    return False
    return False
