"""One file of a group, from its S3 body to AEP files of the group's batch, with the ledger and reports."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from aep import AepClient
from aep.errors import AepError
from aep.schema_cache import SchemaValidators
from aep.sources import FileSource
from batch_ingest.checkpoint import Checkpoint, continuation_body
from batch_ingest.jobs import BatchHandle, FileJob, Group
from batch_ingest.ledger import Ledger
from batch_ingest.pipeline import Counts, read_into
from batch_ingest.readers import FileRefused
from batch_ingest.reports import Reports, file_report, refusals_key, report_key
from batch_ingest.settings import MAX_FILES_PER_BATCH, BatchSettings
from batch_ingest.spool import Refusals, Spool
from batch_ingest.upload import checked_parquet, upload_file

logger = logging.getLogger(__name__)


#: The reason of a file whose object (this version) was deleted before it was read: final, not retried.
GONE = "the object is gone: it was deleted before it could be read"
_GONE_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404"})


def object_gone(error: ClientError) -> bool:
    """Whether S3 says the object version does not exist (deleted, or never readable by this key)."""
    return str(error.response.get("Error", {}).get("Code", "")) in _GONE_CODES


class OutOfTime(Exception):
    """A file of a shared batch could not finish in this invocation: its message goes back to the queue."""


@dataclass
class Tally:
    files_uploaded: int = 0
    files_refused: int = 0
    files_failed: int = 0
    duplicates: int = 0
    records_read: int = 0
    records_sent: int = 0
    records_refused: int = 0
    continuations: int = 0
    resumes: int = 0
    batches_completed: int = 0
    batches_aborted: int = 0
    keys_refused: int = 0
    tenant_errors: int = 0


@dataclass
class Context:
    """What every file of an invocation shares."""

    settings: BatchSettings
    ledger: Ledger
    reports: Reports
    s3: Callable[[], Any]
    sqs: Callable[[], Any]
    clock: Callable[[], float]
    remaining_ms: Callable[[], int]
    run_id: str = ""
    tally: Tally = field(default_factory=Tally)
    validators: SchemaValidators | None = None  # the container's schema cache (None: no schema check)

    def out_of_time(self) -> bool:
        return self.remaining_ms() < self.settings.time_margin_seconds * 1000


class FileRun:
    """Reads one file (from a checkpoint, or from the start) into the group's batch."""

    def __init__(
        self, ctx: Context, client: AepClient, group: Group, batch: BatchHandle, job: FileJob
    ) -> None:
        self.ctx = ctx
        self.client = client
        self.group = group
        self.batch = batch
        self.job = job
        self.bound = False  # the file is bound to the batch (its bytes may be in AEP)
        self.counts = Counts()  # what the run has read so far

    # -- the batch ------------------------------------------------------------------------------------

    def batch_id(self) -> str:
        """The group's batch, created on first need (raises AepError when AEP refuses or fails)."""
        if self.batch.batch_id is None:
            route = self.job.route
            created = self.client.batches.create(
                route.dataset_id,
                self.job.input_format,
                multi_line_json=False,
                partial_ingestion_percent=self.ctx.settings.partial_ingestion_percent,
            )
            self.batch.batch_id = created.id
            self.ctx.ledger.open_batch(created.id, route.tenant, route.dataset_id, shared=not self.group.own)
            logger.info("batch opened", extra={"batch": created.id, "dataset": route.dataset_id})
        return self.batch.batch_id

    def abort_own_batch(self, reason: str) -> None:
        if self.group.own and self.batch.batch_id is not None:
            _abort(self.ctx, self.client, self.batch.batch_id, reason)
            self.batch.batch_id = None

    # -- one file -------------------------------------------------------------------------------------

    def run(self, start: Checkpoint | None = None) -> str:
        """Ingest the file; returns its state (``uploaded``, ``refused``, ``reported`` or ``continuing``).

        Raises OutOfTime (a shared batch's file out of time), AepError and boto errors (retry later).
        """
        if self.job.fmt.kind == "parquet":
            return self._parquet()
        spool = Spool(self.ctx.settings.spool_dir, self.ctx.settings.output_file_bytes)
        refusals = Refusals(self.ctx.settings.spool_dir)
        try:
            return self._records(spool, refusals, start or Checkpoint())
        finally:
            spool.discard()
            refusals.discard()

    def _records(self, spool: Spool, refusals: Refusals, start: Checkpoint) -> str:
        ctx, job = self.ctx, self.job
        counts = Counts(start.read, start.sent, start.refused)
        self.counts = counts
        refusals.count = start.refused
        if start.refused:
            ctx.reports.fetch_refusals(
                job.ref.bucket, refusals_key(ctx.reports.prefix, job.key), refusals.path
            )
        # The dataset's schema before anything is read: when it cannot be had the file is retried
        # (SchemaUnavailableError is retryable), never ingested unchecked.
        check = ctx.validators.validator(self.client, job.route.dataset_id) if ctx.validators else None
        request: dict[str, Any] = {"Bucket": job.ref.bucket, "Key": job.key}
        if job.ref.version_id:
            request["VersionId"] = job.ref.version_id
        try:
            body = ctx.s3().get_object(**request)["Body"]
        except ClientError as error:
            if not object_gone(error):
                raise
            return self._refused(GONE, counts)
        try:
            result = read_into(
                body,
                job.fmt,
                job.route,
                spool=spool,
                refusals=refusals,
                counts=counts,
                skip=start.next_index,
                max_inflated_bytes=ctx.settings.max_inflated_bytes,
                should_stop=ctx.out_of_time,
                check=check,
            )
            if not result.finished and not self.group.own:
                raise OutOfTime(job.key)
            parts = spool.take()
            if start.aep_files_count + len(parts) > MAX_FILES_PER_BATCH:
                raise FileRefused(
                    f"the file needs more than {MAX_FILES_PER_BATCH} AEP files of "
                    f"{ctx.settings.output_file_bytes} bytes (BATCH_OUTPUT_FILE_BYTES)"
                )
        except FileRefused as refused:
            return self._refused(refused.reason, counts)
        finally:
            body.close()
        refusals.flush()
        ctx.tally.records_read += counts.read - start.read
        ctx.tally.records_refused += counts.refused - start.refused
        # The refusal lines go first: once an AEP file is uploaded, nothing but the ledger is left to do.
        refused_at = self._put_refusals(refusals, counts)
        names = list(start.aep_files)
        if parts:
            batch_id = self.batch_id()
            planned = names + [job.aep_name(len(names) + n) for n in range(len(parts))]
            self._bind(batch_id, planned)
            for part, name in zip(parts, planned[len(names) :], strict=True):
                ctx.tally.resumes += self._upload(batch_id, name, FileSource(part))
                names.append(name)
        if not result.finished:
            return self._checkpoint(start, result.next_index, counts, names, refused_at)
        return self._finished(counts, names, refused_at)

    def _upload(self, batch_id: str, name: str, source: Any) -> int:
        settings = self.ctx.settings
        return upload_file(
            self.client.batches,
            batch_id,
            self.job.route.dataset_id,
            name,
            source,
            single_put_max=settings.single_put_max_bytes,
            chunk_bytes=settings.chunk_bytes,
        )

    def _bind(self, batch_id: str, names: list[str]) -> None:
        """Before the first byte of the file reaches the batch: its ledger item names the batch and the AEP
        files, and the batch waits for it. A retry after a failure from here on uploads into this batch
        again (re-PUT of the same names replaces, never adds), never into another one."""
        self.ctx.ledger.update(self.job.pk, batch_id=batch_id, aep_files=names)
        self.ctx.ledger.bind_file(batch_id, self.job.pk)
        self.bound = True

    def _put_refusals(self, refusals: Refusals, counts: Counts) -> str | None:
        if not counts.refused:
            return None
        key = refusals_key(self.ctx.reports.prefix, self.job.key)
        self.ctx.reports.put_refusals(self.job.ref.bucket, key, Path(refusals.path))
        return key

    def _finished(self, counts: Counts, names: list[str], refusals_at: str | None) -> str:
        ctx, job = self.ctx, self.job
        ctx.tally.records_sent += counts.sent
        common = {
            "records_read": counts.read,
            "records_sent": counts.sent,
            "records_refused": counts.refused,
            "aep_files": names,
        }
        if refusals_at:
            common["refusals_key"] = refusals_at
        if not names:  # every record refused: nothing for AEP, reported now
            reason = "no record passed the record rules"
            self.abort_own_batch(reason)
            ctx.ledger.update(job.pk, remove=("checkpoint",), state="reported", file_reason=reason, **common)
            self._report("failed", reason, counts, refusals_at, batch_id=None)
            ctx.tally.files_refused += 1
            return "reported"
        batch_id = self.batch_id()
        ctx.ledger.update(job.pk, remove=("checkpoint",), state="uploaded", batch_id=batch_id, **common)
        ctx.ledger.add_file(batch_id, job.pk)
        self.batch.files.append(job.pk)
        ctx.tally.files_uploaded += 1
        return "uploaded"

    def _checkpoint(
        self, start: Checkpoint, next_index: int, counts: Counts, names: list[str], refusals_at: str | None
    ) -> str:
        ctx, job = self.ctx, self.job
        checkpoint = Checkpoint(
            step=start.step + 1,
            next_index=next_index,
            read=counts.read,
            sent=counts.sent,
            refused=counts.refused,
            aep_files=tuple(names),
        )
        extra: dict[str, Any] = {"refusals_key": refusals_at} if refusals_at else {}
        ctx.ledger.update(
            job.pk,
            checkpoint=checkpoint.to_item(),
            batch_id=self.batch_id(),
            records_read=counts.read,
            records_sent=counts.sent,
            records_refused=counts.refused,
            aep_files=names,
            **extra,
        )
        ctx.sqs().send_message(
            QueueUrl=ctx.settings.queue_url, MessageBody=continuation_body(job.pk, checkpoint.step)
        )
        ctx.tally.continuations += 1
        self.batch.continuing = True
        logger.info("continuing in a new invocation", extra={"file": job.pk, "next_index": next_index})
        return "continuing"

    def _refused(self, reason: str, counts: Counts) -> str:
        """A file-level rule: nothing of the file is uploaded; its own batch (if opened) is aborted.

        The file is judged as a whole: its report counts the records read before the rule was found,
        none sent and none refused on its own (no refusal lines: the counts and the list agree)."""
        ctx, job = self.ctx, self.job
        self.abort_own_batch(reason)
        ctx.ledger.update(
            job.pk,
            remove=("checkpoint", "refusals_key"),
            state="refused",
            file_reason=reason,
            records_read=counts.read,
            records_sent=0,
            records_refused=0,
            aep_files=[],
        )
        self._report("refused", reason, Counts(counts.read, 0, 0), None, batch_id=None)
        ctx.tally.files_refused += 1
        logger.info("file refused", extra={"file": job.pk, "reason": reason})
        return "refused"

    def _parquet(self) -> str:
        ctx, job = self.ctx, self.job
        try:
            source = checked_parquet(ctx.s3(), job.ref.bucket, job.key, job.ref.size, job.ref.version_id)
        except FileRefused as refused:
            return self._refused(refused.reason, Counts())
        except ClientError as error:
            if not object_gone(error):
                raise
            return self._refused(GONE, Counts())
        batch_id = self.batch_id()
        name = job.aep_name(0)
        self._bind(batch_id, [name])
        ctx.tally.resumes += self._upload(batch_id, name, source)
        return self._finished(Counts(), [name], None)

    def _report(
        self, status: str, reason: str | None, counts: Counts, refusals_at: str | None, batch_id: str | None
    ) -> None:
        ctx, job = self.ctx, self.job
        report = file_report(
            bucket=job.ref.bucket,
            key=job.key,
            version=job.ref.version,
            tenant=job.route.tenant,
            dataset_id=job.route.dataset_id,
            batch_id=batch_id,
            status=status,
            reason=reason,
            read=counts.read,
            sent=counts.sent,
            refused=counts.refused,
            refusals=refusals_at,
            now=ctx.clock(),
        )
        ctx.reports.put_report(job.ref.bucket, report_key(ctx.reports.prefix, job.key), report)

    def failed(self, error: AepError) -> str:
        """AEP refused the batch or the file for good (not retryable): the file is reported as failed and
        its own batch aborted (a file of a shared batch has one AEP file, which AEP did not take)."""
        ctx, job = self.ctx, self.job
        reason = f"AEP refused the file: {error}"
        if self.batch.batch_id is not None and self.bound:
            ctx.ledger.unbind_file(self.batch.batch_id, job.pk)
        self.abort_own_batch(reason)
        read = self.counts.read
        ctx.ledger.update(
            job.pk,
            remove=("checkpoint", "refusals_key"),
            state="reported",
            file_reason=reason,
            records_read=read,
            records_sent=0,
            records_refused=0,
            aep_files=[],
        )
        self._report("failed", reason, Counts(read, 0, 0), None, batch_id=None)
        ctx.tally.files_failed += 1
        return "reported"


def _abort(ctx: Context, client: AepClient, batch_id: str, reason: str) -> None:
    try:
        client.batches.abort(batch_id)
    except AepError as error:
        logger.warning("could not abort a batch", extra={"batch": batch_id, "error": type(error).__name__})
    ctx.ledger.abort_batch(batch_id, reason)
    ctx.tally.batches_aborted += 1


def complete_batch(ctx: Context, client: AepClient, batch: BatchHandle) -> None:
    """The group is done with its batch: COMPLETE it when files went into it, abort it when none did
    (opened, then nothing usable); a batch a file is still bound to waits for that file's retry."""
    if batch.batch_id is None or batch.continuing:
        return
    waiting = not batch.files and (ctx.ledger.get(f"batch#{batch.batch_id}") or {}).get("waiting")
    if not batch.files and not waiting:
        _abort(ctx, client, batch.batch_id, "no file of the group was uploaded")
        return
    ctx.ledger.close_batch(batch.batch_id)
    finish_batch(ctx, client, batch.batch_id)


def finish_batch(ctx: Context, client: AepClient, batch_id: str) -> bool:
    """COMPLETE a closed batch whose files are all uploaded. The ledger says ``completing`` first, so a
    COMPLETE that fails (AEP down) is signalled again by a redelivery or by the follow-up (AEP answers a
    repeated COMPLETE with success). False when the batch is not ready (a file still waits for a retry)."""
    if not ctx.ledger.mark_completing(batch_id):
        return False
    client.batches.complete(batch_id)
    ctx.ledger.complete_batch(batch_id)
    ctx.tally.batches_completed += 1
    logger.info("batch completed", extra={"batch": batch_id})
    return True
