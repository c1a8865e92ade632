"""A file to ingest, the groups files are gathered in, and the AEP batch a group shares."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aep.models import InputFormat
from batch_ingest.notifications import ObjectRef, file_pk
from batch_ingest.readers import FileFormat
from batch_ingest.routes import Route


@dataclass(frozen=True)
class FileJob:
    message_id: str
    ref: ObjectRef
    key: str  # decoded once: the exact key to read
    route: Route
    fmt: FileFormat

    @property
    def pk(self) -> str:
        return file_pk(self.ref.bucket, self.key, self.ref.version)

    @property
    def identity(self) -> dict[str, str]:
        """What idempotency is keyed on: the object version."""
        return {"bucket": self.ref.bucket, "key": self.key, "version": self.ref.version}

    @property
    def input_format(self) -> InputFormat:
        """AEP's ``inputFormat``: Parquet passes through, everything else becomes NDJSON."""
        return "parquet" if self.fmt.kind == "parquet" else "json"

    def ledger_item(self) -> dict[str, Any]:
        return {
            "pk": self.pk,
            "bucket": self.ref.bucket,
            "key": self.key,
            "version": self.ref.version,
            "size": self.ref.size,
            "tenant": self.route.tenant,
            "dataset_id": self.route.dataset_id,
            "route": self.route.prefix,
            "format": self.fmt.kind + (".gz" if self.fmt.gzip else ""),
            "records_read": 0,
            "records_sent": 0,
            "records_refused": 0,
            "aep_files": [],
        }

    def aep_name(self, index: int) -> str:
        """The AEP file name of this file's ``index``-th output: unique in any batch, the same on a retry
        (a re-sent part overwrites itself, never duplicates)."""
        stem = self.pk.removeprefix("file#")[:24]
        suffix = "parquet" if self.fmt.kind == "parquet" else "json"
        return f"{stem}/part-{index:05d}.{suffix}"


GroupKey = tuple[str, str, str, bool]  # tenant, dataset, AEP input format, isMultiLineJson


@dataclass
class Group:
    key: GroupKey
    jobs: list[FileJob]
    own: bool  # one large file with a batch of its own


def group_jobs(jobs: Iterable[FileJob], threshold: int) -> list[Group]:
    """Small files (below ``threshold`` bytes) share one group per tenant, dataset and format; a large
    file is a group of its own. Our NDJSON output is never multi-line JSON."""
    shared: dict[GroupKey, Group] = {}
    groups: list[Group] = []
    for job in jobs:
        key: GroupKey = (job.route.tenant, job.route.dataset_id, job.input_format, False)
        if job.ref.size >= threshold:
            groups.append(Group(key, [job], own=True))
            continue
        if key not in shared:
            shared[key] = Group(key, [], own=False)
            groups.append(shared[key])
        shared[key].jobs.append(job)
    return groups


@dataclass
class BatchHandle:
    """The AEP batch of a group, opened on first need."""

    batch_id: str | None = None
    files: list[str] = field(default_factory=list)
    continuing: bool = False  # its one file goes on in another invocation: neither complete nor abort
