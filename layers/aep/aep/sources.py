"""Byte sources for uploads: something with a size that can be (re)opened at an offset.

Uploads read from a source in bounded pieces, so memory stays constant whatever the file size, and a
retried or resumed upload re-opens the source where it needs to instead of holding the bytes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

from aep.errors import AepError, AepSourceError

#: The largest read asked of a source: memory per upload stays at this, whatever the file or part size.
READ_BLOCK = 64 * 1024


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


class SizedStream:
    """Exactly ``length`` bytes of ``source`` from ``offset``: the body of one PUT or PATCH.

    ``len()`` is known before anything is read, so ``requests`` frames the body with one
    ``Content-Length`` (and no ``Transfer-Encoding``), whatever the source's own stream type (a
    botocore ``StreamingBody`` has no usable length). The source is opened on the first read and read
    in blocks of at most :data:`READ_BLOCK` bytes. A source that ends early, or whose read fails, raises
    :class:`AepSourceError` naming ``name``, never the data: the body is never sent short.
    """

    def __init__(self, source: ByteSource, offset: int, length: int, *, name: str, total: int) -> None:
        self._source = source
        self._position = offset
        self._left = length
        self._name = name
        self._total = total
        self._stream: BinaryIO | None = None

    def __len__(self) -> int:
        return self._left

    def __iter__(self) -> Iterator[bytes]:
        while piece := self.read(READ_BLOCK):
            yield piece

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left for ``-1``/None), short only at the end of the range."""
        want = self._left if size is None or size < 0 else min(size, self._left)
        parts: list[bytes] = []
        while want > 0:
            piece = self._read_block(min(want, READ_BLOCK))
            parts.append(piece)
            want -= len(piece)
        return b"".join(parts)

    def _read_block(self, size: int) -> bytes:
        try:
            if self._stream is None:
                self._stream = self._open()
            piece = self._stream.read(size)[:size]
        except AepError:
            raise
        except Exception as exc:
            raise AepSourceError(
                f"{self._name}: reading the source failed ({type(exc).__name__})",
                retryable=retryable_read_failure(exc),
            ) from exc
        if not piece:
            raise AepSourceError(
                f"{self._name}: source ended at byte {self._position} of {self._total}", retryable=False
            )
        self._position += len(piece)
        self._left -= len(piece)
        return piece

    def _open(self) -> BinaryIO:
        """The source from the current position: a bounded range when the source offers one
        (``open_range(offset, length)``, as :class:`S3Source` does), else open-ended."""
        open_range = getattr(self._source, "open_range", None)
        if callable(open_range):
            stream: BinaryIO = open_range(self._position, self._left)
            return stream
        return self._source.open(self._position)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


def retryable_read_failure(exc: Exception) -> bool:
    """A botocore ``ClientError`` is retryable only for a 5xx or throttling; anything else (a reset
    connection, a read timeout) may well pass on the next attempt."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return bool(status >= 500 or status == 429)
    return True


class S3Source:
    """An S3 object read with ranged GETs: re-opened at any offset for retries and resumes, never held whole.

    The object's ETag is read once and every GET is conditional on it (``IfMatch``), so an object
    overwritten during an upload fails the upload instead of mixing two versions. With ``version_id`` (a
    versioned bucket) every request reads that version, whatever was written since.
    """

    def __init__(self, s3_client: Any, bucket: str, key: str, version_id: str | None = None) -> None:
        self._s3 = s3_client
        self.bucket = bucket
        self.key = key
        self._version: dict[str, str] = {"VersionId": version_id} if version_id else {}
        self._size: int | None = None
        self._etag: str | None = None

    def _head(self) -> None:
        if self._size is None:
            head = self._s3.head_object(Bucket=self.bucket, Key=self.key, **self._version)
            self._size = int(head["ContentLength"])
            self._etag = str(head["ETag"])

    @property
    def size(self) -> int:
        self._head()
        assert self._size is not None
        return self._size

    def open(self, offset: int = 0) -> BinaryIO:
        self._head()
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.key,
            "IfMatch": self._etag,
            **self._version,
        }
        if offset:
            request["Range"] = f"bytes={offset}-"
        body: BinaryIO = self._s3.get_object(**request)["Body"]
        return body

    def open_range(self, offset: int, length: int) -> BinaryIO:
        """``length`` bytes from ``offset`` (one upload part): a bounded range, so S3 sends no more."""
        self._head()
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.key,
            "IfMatch": self._etag,
            "Range": f"bytes={offset}-{offset + length - 1}",
            **self._version,
        }
        body: BinaryIO = self._s3.get_object(**request)["Body"]
        return body
