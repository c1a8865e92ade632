"""Everything the emulator remembers: tokens, and per org and sandbox batches, streamed records, profiles."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aep_emulator.config import Dataset, EmulatorConfig, Inlet, Namespace, SandboxConfig
from aep_emulator.conformance import Channel, SchemaCheck
from aep_emulator.faults import Faults
from aep_emulator.filestore import FileStore
from aep_emulator.profiles import ProfileStore
from aep_emulator.xdm import Registry


@dataclass
class Token:
    value: str
    client_id: str
    expires_at: float
    org_id: str = ""  # the org of the client that got it: the only org it may act for
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
    # "streaming": the failed batch of streamed records that failed schema validation after the 207.
    origin: str = "batch"
    visible_ms: int = 0  # Catalog shows the batch from then on (a streaming batch: when its window closes)
    failed_records: list[dict[str, Any]] = field(default_factory=list)  # Data Access ``/failed`` lines


@dataclass
class Space:
    """One sandbox of one org and its data: nothing here is visible from another org or sandbox.

    The lock, the file store and the id sequence are the emulator's, shared by every space.
    """

    config: SandboxConfig
    sandbox: str
    lock: threading.RLock
    files: FileStore
    ids: itertools.count[int]
    profiles: ProfileStore = field(default_factory=ProfileStore)
    batches: dict[str, Batch] = field(default_factory=dict)
    streamed: Counter[str] = field(default_factory=Counter)
    streamed_failed: list[dict[str, Any]] = field(default_factory=list)
    # How many times each accepted record ``_id`` arrived: more than once is a duplicate delivery.
    streamed_ids: Counter[str] = field(default_factory=Counter)
    # The streaming failed batch of each dataset whose window is still open.
    open_stream_batches: dict[str, str] = field(default_factory=dict)
    # Custom identity namespaces created through the API (with their creation time and description):
    # one list shared by every sandbox of the org.
    created_namespaces: list[tuple[Namespace, int, str]] = field(default_factory=list)
    # Setup made through the APIs (the sandbox file's resources are seeded into the registry):
    registry: Registry = field(init=False)
    datasets: dict[str, Dataset] = field(default_factory=dict)  # Catalog datasets created by POST
    catalog: dict[str, dict[str, Any]] = field(default_factory=dict)  # their Catalog objects
    flow: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # Flow Service, by kind

    def __post_init__(self) -> None:
        self.registry = Registry(self.config, self.sandbox)

    def next_id(self) -> int:
        return next(self.ids)

    def dataset(self, dataset_id: str) -> Dataset | None:
        """A dataset created (or patched) through Catalog, else the sandbox file's, with its schema's
        current rules from the registry."""
        base = self.datasets.get(dataset_id) or self.config.dataset(dataset_id)
        if base is None:
            return None
        with self.lock:
            return self.registry.view(base)

    def check(self, dataset: Dataset, channel: Channel) -> SchemaCheck:
        """The dataset's schema as the registry resolves it now, compiled for ``channel``."""
        with self.lock:
            return self.registry.check(dataset, channel)

    def new_batch_id(self) -> str:
        return f"01EMU{int(time.time() * 1000):013d}{self.next_id():08d}"

    def clear(self) -> None:
        with self.lock:
            for batch in self.batches.values():
                for entry in batch.files.values():
                    self.files.remove(entry.path)
            self.profiles = ProfileStore()
            self.batches.clear()
            self.streamed.clear()
            self.streamed_failed.clear()
            self.streamed_ids.clear()
            self.open_stream_batches.clear()
            self.registry.seed()
            self.datasets.clear()
            self.catalog.clear()
            self.flow.clear()

    def file_stream_failures(
        self, dataset_id: str, lines: list[dict[str, Any]], now_ms: int, window_ms: int
    ) -> Batch:
        """Add streamed records that failed validation to the dataset's open streaming failed batch, or to
        a new one whose window starts now (window 0: a batch of their own, closed at once)."""
        with self.lock:
            batch = self.batches.get(self.open_stream_batches.get(dataset_id, ""))
            if batch is None or window_ms <= 0 or now_ms >= batch.visible_ms:
                batch = Batch(
                    id=self.new_batch_id(),
                    dataset_id=dataset_id,
                    input_format={"format": "json"},
                    created_ms=now_ms,
                    diagnostics=True,
                    partial_percent=None,
                    external_id="",
                    client_id="acp_streaming",
                    status="failed",
                    origin="streaming",
                    visible_ms=now_ms + window_ms,
                )
                batch.external_id = batch.id
                self.batches[batch.id] = batch
                self.open_stream_batches[dataset_id] = batch.id
            batch.failed_records.extend(lines)
            count = len(batch.failed_records)
            batch.metrics = {"inputRecordCount": count, "outputRecordCount": 0, "failedRecordCount": count}
            codes: Counter[str] = Counter()
            for line in batch.failed_records:
                for problem in line["_errors"]["_streamingValidation"][:1]:
                    codes[problem["keyword"]] += 1
            batch.errors = [
                {
                    "code": "INGEST-1212-400",
                    "description": f"Encountered {count} errors in the data. Successfully ingested 0 rows. "
                    "Please review the associated diagnostic files for more details.",
                },
                *(
                    {
                        "code": keyword,
                        "description": f"Streamed records failed schema validation ({keyword}).",
                        "recordCount": n,
                    }
                    for keyword, n in sorted(codes.items())
                ),
            ]
            batch.completed_ms = batch.updated_ms = max(now_ms, batch.visible_ms)
            return batch


@dataclass
class Org:
    """One IMS org: its configuration, its sandboxes' spaces, its own faults and request counters."""

    config: SandboxConfig
    spaces: dict[str, Space]
    faults: Faults = field(default_factory=Faults)
    counters: Counter[str] = field(default_factory=Counter)

    @property
    def id(self) -> str:
        return self.config.org_id


class State:
    """Every org's data plus what the emulator shares: tokens, files, the request log and counters.

    ``config``, ``profiles``, ``batches``, ``streamed``, ``streamed_failed`` and ``streamed_ids`` are the
    default org's (the first) default sandbox's (its first): all there is in a single-org emulator.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.emulator_config = config
        self.lock = threading.RLock()
        self.files = FileStore()
        self.faults = Faults()  # on every request; each org has its own too
        self.tokens: dict[str, Token] = {}
        self.log: list[dict[str, Any]] = []
        self.counters: Counter[str] = Counter()
        self.log_limit = 50_000
        self._seq: itertools.count[int] = itertools.count(1)
        self.orgs: dict[str, Org] = {}
        self.clients: dict[str, Org] = {}
        self.inlets: dict[str, tuple[Org, Inlet]] = {}
        for org_config in config.orgs:
            spaces = {
                name: Space(org_config, name, self.lock, self.files, self._seq)
                for name in org_config.sandboxes
            }
            created: list[tuple[Namespace, int, str]] = []
            for each in spaces.values():
                each.created_namespaces = created
            org = Org(org_config, spaces)
            self.orgs[org.id] = org
            self.clients.update((c.client_id, org) for c in org_config.clients)
            self.inlets.update((i.id, (org, i)) for i in org_config.inlets)
        self.default = self.orgs[config.orgs[0].org_id]
        #: The org of every request when there is only one (faults, counters and the log then need no
        #: guess); None with several orgs, where each request's org is found from what it carries.
        self.only = self.default if len(self.orgs) == 1 else None

    # -- the default org and sandbox (the single-org view) ------------------------------------------------
    @property
    def config(self) -> SandboxConfig:
        return self.default.config

    def space(self, org_id: str | None = None, sandbox: str | None = None) -> Space:
        """A sandbox's space (default: the default org, its first sandbox). KeyError when unknown."""
        org = self.orgs[org_id] if org_id is not None else self.default
        if sandbox is None:
            return next(iter(org.spaces.values()))
        return org.spaces[sandbox]

    def spaces(self, org: Org | None = None) -> list[Space]:
        """Every space of one org, or of every org."""
        orgs = [org] if org is not None else list(self.orgs.values())
        return [space for o in orgs for space in o.spaces.values()]

    @property
    def profiles(self) -> ProfileStore:
        return self.space().profiles

    @property
    def batches(self) -> dict[str, Batch]:
        return self.space().batches

    @property
    def streamed(self) -> Counter[str]:
        return self.space().streamed

    @property
    def streamed_failed(self) -> list[dict[str, Any]]:
        return self.space().streamed_failed

    @property
    def streamed_ids(self) -> Counter[str]:
        return self.space().streamed_ids

    # -- shared -------------------------------------------------------------------------------------------
    def next_id(self) -> int:
        return next(self._seq)

    def issue_token(self, org: Org, client_id: str) -> Token:
        token = Token(
            f"emu-{secrets.token_hex(24)}",
            client_id,
            time.time() + org.config.token_lifetime_seconds,
            org_id=org.id,
        )
        with self.lock:
            self.tokens[token.value] = token
        return token

    def record(self, entry: dict[str, Any], org: Org | None = None) -> None:
        key = f"{entry['method']} {entry['route']} {entry['status']}"
        with self.lock:
            self.counters[key] += 1
            self.counters["requests"] += 1
            if org is not None:
                org.counters[key] += 1
                org.counters["requests"] += 1
            if len(self.log) < self.log_limit:
                self.log.append(entry)

    def reset(self, org: Org | None = None) -> None:
        """Forget data, faults, log and counters: of every org, or of one (its log entries too)."""
        with self.lock:
            for each in [org] if org is not None else list(self.orgs.values()):
                each.faults.clear()
                if org is not None:  # what the org counted leaves the emulator's counters too
                    self.counters.subtract(each.counters)
                    self.counters = +self.counters
                each.counters.clear()
                for space in each.spaces.values():
                    space.clear()
                next(iter(each.spaces.values())).created_namespaces.clear()
                made = [k for k, (o, inlet) in self.inlets.items() if o is each and inlet.sandbox]
                for inlet_id in made:
                    del self.inlets[inlet_id]
            if org is not None:
                self.log[:] = [e for e in self.log if e.get("org") != org.id]
                return
            self.faults.clear()
            self.files.clear()
            self.log.clear()
            self.counters.clear()
