"""One run of the follow-up: failed streaming batches written out, pending batches followed to their end.

Bounded: nothing new starts once the deadline (the Lambda's remaining time less a margin) has passed, and
what was not reached is picked up by the next run (the ledger and the watermarks are the state). One
batch's or one dataset's failure is logged and counted, never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aep import AepClient, AepNotFoundError, Deadline
from aep.models import Batch, BatchState, RowError
from batch_follow.ledger import BatchEntry, FileEntry, Ledger
from batch_follow.reports import (
    ReportStore,
    jsonl,
    report_key,
    rfc3339,
    row_errors_key,
    stream_rejects_key,
)
from batch_follow.settings import FollowSettings

logger = logging.getLogger(__name__)

#: Where the follow-up finds the AEP client of a tenant (its registry entry, its cached client).
ClientFor = Callable[[str], AepClient]
#: Skipped: their report exists already (batchfn's refusal, or ours from an earlier, interrupted run).
_DONE_STATES = frozenset({"refused", "reported"})
_STREAM_FAILED_STATUSES = ("failed", "failure")  # Catalog uses both words (aep-api.md 3.1)
_MAX_STREAM_BATCHES = 50  # per dataset per run; the rest next run


@dataclass
class Summary:
    """What one run did: the metrics the handler publishes."""

    followed: int = 0
    succeeded: int = 0
    partial: int = 0
    failed: int = 0
    stuck: int = 0
    errors: int = 0
    records_failed_in_aep: int = 0
    stream_batches: int = 0
    stream_records_failed: int = 0
    reports: int = 0
    left_for_next_run: int = 0
    completed_again: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StreamTarget:
    tenant: str
    dataset_id: str


class Follower:
    def __init__(
        self,
        settings: FollowSettings,
        ledger: Ledger,
        store: ReportStore,
        client_for: ClientFor,
        now: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.store = store
        self.client_for = client_for
        self.now = now

    def run(self, deadline: Deadline, targets: list[StreamTarget]) -> Summary:
        summary = Summary()
        for target in targets:
            if deadline.expired():
                summary.left_for_next_run += 1
                continue
            try:
                self.follow_stream(target, deadline, summary)
            except Exception as exc:  # one dataset's trouble never stops the others
                self._problem(summary, f"stream {target.tenant}/{target.dataset_id}", exc)
        for entry in self.ledger.pending():
            if deadline.expired():
                summary.left_for_next_run += 1
                continue
            try:
                self.follow_batch(entry, deadline, summary)
            except Exception as exc:  # one batch's trouble never stops the others
                self._problem(summary, f"batch {entry.batch_id}", exc)
        return summary

    @staticmethod
    def _problem(summary: Summary, what: str, exc: Exception) -> None:
        summary.errors += 1
        summary.problems.append(what)
        # The error's type and message only: AEP errors never quote a token or a record.
        logger.warning("follow-up step failed", extra={"step": what, "error": type(exc).__name__})

    def _client(self, tenant: str, deadline: Deadline) -> AepClient:
        client = self.client_for(tenant)
        client.transport.deadline = deadline
        return client

    # -- acknowledged is not ingested ------------------------------------------------------------------
    def follow_stream(self, target: StreamTarget, deadline: Deadline, summary: Summary) -> None:
        """The dataset's failed batches created after the watermark, oldest first: their records and
        reasons to ``{prefix}_streaming/{tenant}/{dataset}/{batch}.jsonl``, the watermark after each."""
        client = self._client(target.tenant, deadline)
        after = self.ledger.watermark(target.tenant, target.dataset_id)
        if after is None:
            after = int((self.now() - self.settings.stream_lookback_hours * 3600) * 1000)
        found: dict[str, Batch] = {}
        for status in _STREAM_FAILED_STATUSES:
            for batch in client.catalog.batches_of(
                target.dataset_id, status=status, created_after=after, max_batches=_MAX_STREAM_BATCHES
            ):
                found.setdefault(batch.id, batch)
        ordered = sorted(found.values(), key=lambda b: (b.created or 0, b.id))[:_MAX_STREAM_BATCHES]
        bucket = self.settings.reports_bucket_for()
        for batch in ordered:
            if deadline.expired():
                summary.left_for_next_run += 1
                return
            if not self.ledger.has_batch(batch.id):  # a file batch of ours: the batch follow-up reports it
                records = client.catalog.failed_records(batch.id, limit=self.settings.max_row_errors)
                key = stream_rejects_key(
                    self.settings.reports_prefix, target.tenant, target.dataset_id, batch.id
                )
                lines = [{"batchId": batch.id, "record": r.entity, "reasons": r.reasons} for r in records]
                self.store.put_lines(bucket, key, jsonl(lines))
                summary.stream_batches += 1
                summary.stream_records_failed += len(lines)
                logger.info(
                    "streamed records refused by AEP after acknowledgement",
                    extra={
                        "tenant": target.tenant,
                        "dataset": target.dataset_id,
                        "batch": batch.id,
                        "records": len(lines),
                        "report": key,
                    },
                )
            self.ledger.advance_watermark(
                target.tenant, target.dataset_id, batch.created or after, self.now()
            )

    # -- file batches ----------------------------------------------------------------------------------
    def follow_batch(self, entry: BatchEntry, deadline: Deadline, summary: Summary) -> None:
        summary.followed += 1
        if entry.state == "open":
            self._follow_open(entry, summary)
            return
        client = self._client(entry.tenant, deadline)
        if entry.state == "completing":
            # its files are all uploaded, the ingest function's COMPLETE failed (AEP down): signal it
            # again (AEP answers a repeated COMPLETE with success), then follow it as any other
            client.batches.complete(entry.batch_id)
            self.ledger.mark_completed(entry.batch_id, self.now())
            summary.completed_again += 1
            logger.info("batch completed by the follow-up", extra={"batch": entry.batch_id})
        try:
            batch: Batch | None = client.catalog.batch(entry.batch_id)
        except AepNotFoundError:
            batch = None  # not (yet) in Catalog: pending, and stuck in time
        now = self.now()
        if batch is None or not batch.state.final:
            pending_minutes = (now - entry.completed_at) / 60
            if pending_minutes > self.settings.stuck_after_minutes and not entry.stuck_reported:
                self._report_stuck(entry, batch, pending_minutes, now, summary)
            return
        files = [f for f in self.ledger.files(entry.files) if f.state not in _DONE_STATES]
        rows: list[RowError] = []
        metrics = batch.metrics
        if batch.state is not BatchState.SUCCESS or (metrics and metrics.failed_record_count):
            rows = client.catalog.row_errors(entry.batch_id, limit=self.settings.max_row_errors)
        rows_key = None
        if rows:
            rows_key = row_errors_key(self.settings.reports_prefix, entry.batch_id)
            bucket = self.settings.reports_bucket_for(files[0].bucket if files else None)
            self.store.put_lines(bucket, rows_key, jsonl(r.model_dump(by_alias=True) for r in rows))
        statuses = [
            self._report_final(
                f, entry=entry, batch=batch, rows=rows, rows_key=rows_key, file_count=len(files), now=now
            )
            for f in files
        ]
        summary.reports += len(statuses)
        for file in files:
            self.ledger.mark_file_reported(file.pk, report_key(self.settings.reports_prefix, file.key), now)
        if not self.ledger.mark_final(entry.batch_id, batch.status or "", now):
            return  # another run finished it first
        failed_in_aep = (metrics.failed_record_count if metrics else None) or len(rows)
        summary.records_failed_in_aep += failed_in_aep
        if batch.state is not BatchState.SUCCESS:
            summary.failed += 1
        elif failed_in_aep or "partial" in statuses:
            summary.partial += 1
        else:
            summary.succeeded += 1
        logger.info(
            "batch final",
            extra={
                "batch": entry.batch_id,
                "tenant": entry.tenant,
                "aep_status": batch.status,
                "files": len(files),
                "failed_in_aep": failed_in_aep,
            },
        )

    def _report_final(
        self,
        file: FileEntry,
        *,
        entry: BatchEntry,
        batch: Batch,
        rows: list[RowError],
        rows_key: str | None,
        file_count: int,
        now: float,
    ) -> str:
        """Write the file's final report, tag or move it when AEP ingested it; its status."""
        mine = [r for r in rows if r.filename in file.aep_files]
        failed_in_aep = len(mine)
        if file_count == 1:  # the batch's counts are this file's
            counted = batch.metrics.failed_record_count if batch.metrics else None
            failed_in_aep = max(failed_in_aep, counted or len(rows))
        if batch.state is not BatchState.SUCCESS:
            status = "failed"
        elif failed_in_aep or file.records_refused:
            status = "partial"
        else:
            status = "success"
        reason = None
        if status == "failed":
            reason = next((e.description for e in batch.errors if e.description), None) or (
                f"AEP batch {batch.status}"
            )
        self._put_report(
            file,
            entry=entry,
            batch=batch,
            status=status,
            reason=reason,
            failed_in_aep=failed_in_aep,
            rows_key=rows_key,
            now=now,
        )
        if status in ("success", "partial"):
            if self.settings.on_success == "move":
                self.store.move(file, self.settings.success_prefix, status)
            else:
                self.store.tag(file, status)
        return status

    def _follow_open(self, entry: BatchEntry, summary: Summary) -> None:
        """A batch not yet COMPLETEd because files bound to it have not finished their upload: the batch
        function completes it when they do (a retry of their messages). Reported stuck once when that takes
        longer than ``stuck_after_minutes``: their messages may be in the batch DLQ, waiting for a redrive,
        and the other files' records wait with them."""
        now = self.now()
        minutes = (now - entry.completed_at) / 60
        if minutes <= self.settings.stuck_after_minutes or entry.stuck_reported:
            return
        reason = (
            f"not completed for {minutes:.0f} minutes: {len(entry.waiting)} file(s) bound to the batch have "
            "not finished their upload (their messages wait for a retry, or sit in the batch DLQ: redrive "
            "them); the batch is completed when they finish"
        )
        self._report_stuck(entry, None, minutes, now, summary, reason=reason, pks=entry.files + entry.waiting)

    def _report_stuck(
        self,
        entry: BatchEntry,
        batch: Batch | None,
        minutes: float,
        now: float,
        summary: Summary,
        *,
        reason: str | None = None,
        pks: tuple[str, ...] | None = None,
    ) -> None:
        if reason is None:
            status = batch.status if batch is not None else "not in Catalog"
            reason = f"pending in AEP for {minutes:.0f} minutes (status {status}); still followed"
        files = [
            f for f in self.ledger.files(entry.files if pks is None else pks) if f.state not in _DONE_STATES
        ]
        for file in files:
            self._put_report(
                file,
                entry=entry,
                batch=batch,
                status="stuck",
                reason=reason,
                failed_in_aep=0,
                rows_key=None,
                now=now,
            )
        summary.reports += len(files)
        if self.ledger.mark_stuck_reported(entry.batch_id, now):
            summary.stuck += 1
            logger.warning("batch stuck", extra={"batch": entry.batch_id, "minutes": round(minutes)})

    def _put_report(
        self,
        file: FileEntry,
        *,
        entry: BatchEntry,
        batch: Batch | None,
        status: str,
        reason: str | None,
        failed_in_aep: int,
        rows_key: str | None,
        now: float,
    ) -> None:
        aep: dict[str, Any] = {"status": None, "metrics": {}, "errors": []}
        if batch is not None:
            aep = {
                "status": batch.status,
                "metrics": batch.metrics.model_dump(by_alias=True, exclude_none=True)
                if batch.metrics
                else {},
                "errors": [e.model_dump(by_alias=True, exclude_none=True) for e in batch.errors],
            }
        report = {
            "file": {"bucket": file.bucket, "key": file.key, "version": file.version},
            "tenant": file.tenant or entry.tenant,
            "datasetId": file.dataset_id or entry.dataset_id,
            "batchId": entry.batch_id,
            "status": status,
            "reason": reason,
            "records": {
                "read": file.records_read,
                "sent": file.records_sent,
                "refusedHere": file.records_refused,
                "failedInAep": failed_in_aep,
            },
            "aep": aep,
            "refusals": file.refusals_key,
            "aepRowErrors": rows_key,
            "reportedAt": rfc3339(now),
        }
        bucket = self.settings.reports_bucket_for(file.bucket)
        self.store.put_json(bucket, report_key(self.settings.reports_prefix, file.key), report)
