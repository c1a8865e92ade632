"""Everything the emulator remembers: tokens, batches, streamed records, profiles, the request log."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aep_emulator.config import SandboxConfig
from aep_emulator.faults import Faults
from aep_emulator.filestore import FileStore
from aep_emulator.profiles import ProfileStore


@dataclass
class Token:
    value: str
    client_id: str
    expires_at: float
    revoked: bool = False


@dataclass
class BatchFile:
    path: Path  # on disk, in the state's FileStore
    size: int = 0
    parts: dict[int, int] = field(default_factory=dict)  # start -> end (inclusive), large-file protocol
    large: bool = False
    complete: bool = True


@dataclass
class Batch:
    id: str
    dataset_id: str
    input_format: dict[str, Any]
    created_ms: int
    diagnostics: bool
    partial_percent: float | None
    external_id: str
    client_id: str
    status: str = "loading"
    files: dict[str, BatchFile] = field(default_factory=dict)
    polls_left: int = 0
    metrics: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    row_errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    completed_ms: int | None = None
    updated_ms: int = 0


@dataclass
class State:
    config: SandboxConfig
    faults: Faults = field(default_factory=Faults)
    profiles: ProfileStore = field(default_factory=ProfileStore)
    files: FileStore = field(default_factory=FileStore)
    tokens: dict[str, Token] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    streamed: Counter[str] = field(default_factory=Counter)
    streamed_failed: list[dict[str, Any]] = field(default_factory=list)
    # How many times each accepted record ``_id`` arrived: more than once is a duplicate delivery.
    streamed_ids: Counter[str] = field(default_factory=Counter)
    log: list[dict[str, Any]] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    log_limit: int = 50_000

    def next_id(self) -> int:
        return next(self._seq)

    def new_batch_id(self) -> str:
        return f"01EMU{int(time.time() * 1000):013d}{self.next_id():08d}"

    def issue_token(self, client_id: str) -> Token:
        token = Token(
            f"emu-{secrets.token_hex(24)}", client_id, time.time() + self.config.token_lifetime_seconds
        )
        with self.lock:
            self.tokens[token.value] = token
        return token

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.counters[f"{entry['method']} {entry['route']} {entry['status']}"] += 1
            self.counters["requests"] += 1
            if len(self.log) < self.log_limit:
                self.log.append(entry)

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.profiles = ProfileStore()
            self.batches.clear()
            self.files.clear()
            self.streamed.clear()
            self.streamed_failed.clear()
            self.streamed_ids.clear()
            self.log.clear()
            self.counters.clear()
