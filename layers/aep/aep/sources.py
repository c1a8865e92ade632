"""Byte sources for uploads: something with a size that can be (re)opened at an offset.

Uploads read from a source in bounded pieces, so memory stays constant whatever the file size, and a
retried or resumed upload re-opens the source where it needs to instead of holding the bytes.
"""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO, Protocol


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


class S3Source:
    """An S3 object read with ranged GETs: re-opened at any offset for retries and resumes, never held whole.

    The object's ETag is read once and every GET is conditional on it (``IfMatch``), so an object
    overwritten during an upload fails the upload instead of mixing two versions.
    """

    def __init__(self, s3_client: Any, bucket: str, key: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket
        self.key = key
        self._size: int | None = None
        self._etag: str | None = None

    def _head(self) -> None:
        if self._size is None:
            head = self._s3.head_object(Bucket=self.bucket, Key=self.key)
            self._size = int(head["ContentLength"])
            self._etag = str(head["ETag"])

    @property
    def size(self) -> int:
        self._head()
        assert self._size is not None
        return self._size

    def open(self, offset: int = 0) -> BinaryIO:
        self._head()
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key, "IfMatch": self._etag}
        if offset:
            request["Range"] = f"bytes={offset}-"
        body: BinaryIO = self._s3.get_object(**request)["Body"]
        return body
