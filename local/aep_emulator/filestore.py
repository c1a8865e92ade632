"""Uploaded batch files, kept on disk in a private temporary directory, never whole in memory.

A small-file PUT is copied from the request's spool into a new file; each large-file PATCH writes its
bytes at their offset (a gap reads as zeros until filled, as the large-file protocol allows). The
directory is removed when the emulator stops, or at interpreter exit.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
from pathlib import Path
from typing import IO

COPY_BYTES = 1024 * 1024


class FileStore:
    def __init__(self) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._names = itertools.count(1)
        self._lock = threading.Lock()

    def _root(self) -> Path:
        with self._lock:
            if self._dir is None:
                self._dir = tempfile.TemporaryDirectory(prefix="aep-emulator-")
            return Path(self._dir.name)

    def new_file(self) -> Path:
        """A new, empty file of the store."""
        path = self._root() / f"{next(self._names):08d}.bin"
        path.touch()
        return path

    def write(self, path: Path, source: IO[bytes], offset: int = 0) -> int:
        """Copy ``source`` from its position to its end into ``path`` at ``offset``; the bytes copied."""
        copied = 0
        with path.open("r+b") as target:
            target.seek(offset)
            while data := source.read(COPY_BYTES):
                target.write(data)
                copied += len(data)
        return copied

    @staticmethod
    def remove(path: Path) -> None:
        path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove every file (the emulator's reset)."""
        with self._lock:
            if self._dir is not None:
                for child in Path(self._dir.name).iterdir():
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._dir is not None:
                self._dir.cleanup()
                self._dir = None
