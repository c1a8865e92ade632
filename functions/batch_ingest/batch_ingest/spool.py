"""Validated records spooled to local files (Lambda's /tmp), cut into AEP files of bounded size."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO


class Spool:
    """NDJSON lines appended to part files of at most ``max_bytes`` each (a line is never split)."""

    def __init__(self, directory: str, max_bytes: int) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="batch-", dir=directory))
        self._max = max_bytes
        self._parts: list[Path] = []
        self._current: BinaryIO | None = None
        self._size = 0
        self.records = 0

    def add(self, line: bytes) -> None:
        if self._current is None or (self._size and self._size + len(line) > self._max):
            self._roll()
        assert self._current is not None
        self._current.write(line)
        self._size += len(line)
        self.records += 1

    def _roll(self) -> None:
        self._close_current()
        path = self._dir / f"part-{len(self._parts):05d}.json"
        self._current = path.open("wb")
        self._parts.append(path)
        self._size = 0

    def _close_current(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def take(self) -> list[Path]:
        """The non-empty parts written so far (closed); the spool starts over with the next line."""
        self._close_current()
        parts = [part for part in self._parts if part.stat().st_size > 0]
        self._parts = []
        self._size = 0
        return parts

    def discard(self) -> None:
        self._close_current()
        for path in self._dir.glob("*"):
            path.unlink()
        os.rmdir(self._dir)


class Refusals:
    """One JSON line per refused record: ``{"index", "line", "field", "reason"}`` (never the value)."""

    def __init__(self, directory: str) -> None:
        handle, name = tempfile.mkstemp(prefix="refusals-", suffix=".jsonl", dir=directory)
        os.close(handle)
        self.path = Path(name)
        self._file: BinaryIO | None = None
        self.count = 0

    def add(self, index: int, line: int, field: str | None, reason: str) -> None:
        if self._file is None:
            self._file = self.path.open("ab")
        entry: dict[str, Any] = {"index": index, "line": line, "field": field, "reason": reason}
        self._file.write(json.dumps(entry, ensure_ascii=False).encode() + b"\n")
        self.count += 1

    def flush(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.flush()
        self.path.unlink(missing_ok=True)
