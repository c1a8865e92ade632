"""moto's server for the batch benchmark, in its own process: ``python -m bench.batch_moto PORT``.

One change to moto, so that S3 costs what it costs in AWS and not more: moto answers a GET by reading the
whole object into memory first, and a ranged GET by reading the whole object and slicing it. The
function's S3 source reads each 32 MiB part of a pass-through as an open-ended range (``bytes=N-``) and
stops after the part, which S3 serves as a stream; moto built the rest of the object (up to 1 GB) for
every part, and the benchmark measured moto. Here a GET's body is a lazy view of the stored object, sent
in 1 MiB blocks as the client reads, sliced without copying. Everything else is moto as it is.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from moto.s3.models import FakeKey
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer

BLOCK = 1 << 20
_in_get = threading.local()


class LazyBytes:
    """Bytes ``start`` to ``stop`` of a stored object: a length, slices, and blocks read when iterated."""

    def __init__(self, key: Any, start: int = 0, stop: int | None = None) -> None:
        self._key = key
        self._start = start
        self._stop = int(key.size) if stop is None else stop

    def __len__(self) -> int:
        return max(0, self._stop - self._start)

    def __getitem__(self, span: slice) -> LazyBytes:
        start, stop, _ = span.indices(len(self))
        return LazyBytes(self._key, self._start + start, self._start + max(start, stop))

    def __iter__(self) -> Iterator[bytes]:
        position = self._start
        while position < self._stop:
            with self._key.lock:
                self._key._value_buffer.seek(position)
                block: bytes = self._key._value_buffer.read(min(BLOCK, self._stop - position))
            if not block:
                return
            position += len(block)
            yield block


def install() -> None:
    plain_value: Any = FakeKey.__dict__["value"]  # the property itself
    plain_get_object = S3Response.get_object

    def value(self: Any) -> Any:
        if getattr(_in_get, "on", False):
            return LazyBytes(self)
        return plain_value.fget(self)

    def get_object(self: Any) -> Any:
        _in_get.on = True
        try:
            return plain_get_object(self)
        finally:
            _in_get.on = False

    FakeKey.value = property(value, plain_value.fset)  # type: ignore[method-assign,assignment]
    S3Response.get_object = get_object  # type: ignore[method-assign]


def main() -> int:
    install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
