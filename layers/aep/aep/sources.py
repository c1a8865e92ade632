"""Byte sources for uploads: something with a size that can be (re)opened at an offset.

Uploads read from a source in bounded pieces, so memory stays constant whatever the file size, and a
retried or resumed upload re-opens the source where it needs to instead of holding the bytes.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO, Protocol


class ByteSource(Protocol):
    @property
    def size(self) -> int: ...

    def open(self, offset: int = 0) -> BinaryIO:
        """A stream positioned at ``offset``; the caller closes it."""
        ...


class BytesSource:
    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    def open(self, offset: int = 0) -> BinaryIO:
        stream = io.BytesIO(self._data)
        stream.seek(offset)
        return stream


class FileSource:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)

    @property
    def size(self) -> int:
        return os.path.getsize(self._path)

    def open(self, offset: int = 0) -> BinaryIO:
        stream = open(self._path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        stream.seek(offset)
        return stream


def read_exactly(stream: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes (fewer only at end of stream): some streams return short reads."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        piece = stream.read(remaining)
        if not piece:
            break
        parts.append(piece)
        remaining -= len(piece)
    return b"".join(parts)
