"""From an invocation's notifications to files ingested: key rules, groups, idempotency, continuations."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from aep import AepClient
from aep.errors import AepError
from batch_ingest.checkpoint import Checkpoint, continuation_body, continuation_of
from batch_ingest.ingest import Context, FileRun, OutOfTime, complete_batch
from batch_ingest.jobs import BatchHandle, FileJob, Group, group_jobs
from batch_ingest.keys import judge_key
from batch_ingest.ledger import CLAIM_LEASE_SECONDS, Ledger
from batch_ingest.notifications import Notification, ObjectRef, file_pk
from batch_ingest.readers import FileRefused, format_of
from batch_ingest.reports import Reports, file_report, refused_key_report, report_key
from batch_ingest.routes import Route, route_for
from batch_ingest.settings import BatchSettings

logger = logging.getLogger(__name__)


@dataclass
class Files:
    settings: BatchSettings
    ledger: Ledger
    reports: Reports
    client_for: Callable[[str], AepClient]
    s3: Callable[[], Any]
    sqs: Callable[[], Any]

    def process(self, notifications: list[Notification], ctx: Context) -> set[str]:
        """Every notification handled; returns the message ids to deliver again."""
        failures: set[str] = set()
        jobs: list[FileJob] = []
        for note in notifications:
            if note.kind == "test":
                continue
            if note.kind == "unreadable":
                logger.warning(
                    "unreadable message", extra={"message_id": note.message_id, "reason": note.reason}
                )
                failures.add(note.message_id)  # the redrive policy moves it to the DLQ
            elif note.kind == "continuation":
                continue
            for ref in note.objects:
                job = self._job(note.message_id, ref, ctx)
                if job is not None:
                    jobs.append(job)
        for group in group_jobs(jobs, self.settings.group_threshold_bytes):
            failures |= self._group(group, ctx)
        for note in notifications:
            if note.kind == "continuation" and note.continuation is not None:
                failures |= self._continue(note.message_id, note.continuation, ctx)
        return failures

    # -- before reading -------------------------------------------------------------------------------

    def _job(self, message_id: str, ref: ObjectRef, ctx: Context) -> FileJob | None:
        decision = judge_key(ref.raw_key, self.settings.routes, self.settings.ignored_prefixes)
        if decision.verdict == "ignored":
            return None
        if decision.verdict == "refused" or decision.key is None or decision.route is None:
            self._refuse_key(ref, decision.key, decision.reason or "refused", ctx)
            return None
        try:
            fmt = format_of(decision.key)
        except FileRefused as refused:
            self._refuse_unread(ref, decision.key, decision.route, refused.reason, ctx)
            return None
        return FileJob(message_id, ref, decision.key, decision.route, fmt)

    def _refuse_key(self, ref: ObjectRef, key: str | None, reason: str, ctx: Context) -> None:
        report = file_report(
            bucket=ref.bucket, key=key, version=ref.version, tenant=None, dataset_id=None, batch_id=None,
            status="refused", reason=reason, now=ctx.clock(),
        )  # fmt: skip
        self.reports.put_report(ref.bucket, refused_key_report(self.reports.prefix, ref), report)
        ctx.tally.keys_refused += 1
        ctx.tally.files_refused += 1
        logger.info("key refused", extra={"reason": reason})

    def _refuse_unread(self, ref: ObjectRef, key: str, route: Route, reason: str, ctx: Context) -> None:
        """A routed key refused before reading (its format): ledger item and report, once per version."""
        tenant, dataset_id = route.tenant, route.dataset_id
        pk = file_pk(ref.bucket, key, ref.version)
        item = {"pk": pk, "bucket": ref.bucket, "key": key, "version": ref.version, "size": ref.size,
                "tenant": tenant, "dataset_id": dataset_id}  # fmt: skip
        claimed, _ = self.ledger.claim_file(item)
        if not claimed:
            ctx.tally.duplicates += 1
            return
        self.ledger.update(pk, state="refused", file_reason=reason)
        report = file_report(
            bucket=ref.bucket, key=key, version=ref.version, tenant=tenant, dataset_id=dataset_id,
            batch_id=None, status="refused", reason=reason, now=ctx.clock(),
        )  # fmt: skip
        self.reports.put_report(ref.bucket, report_key(self.reports.prefix, key), report)
        ctx.tally.files_refused += 1

    # -- a group of files sharing a batch -------------------------------------------------------------

    def _group(self, group: Group, ctx: Context) -> set[str]:
        ids = {job.message_id for job in group.jobs}
        try:
            client = self.client_for(group.key[0])
        except AepError as error:
            logger.error("tenant configuration unusable", extra={"tenant": group.key[0], "error": str(error)})
            ctx.tally.tenant_errors += len(group.jobs)
            return ids
        batch = BatchHandle()
        failed: set[str] = set()
        in_batch: set[str] = set()
        for job in group.jobs:
            if ctx.out_of_time():
                failed.add(job.message_id)
                continue
            try:
                result = self.ingest(
                    identity=job.identity, job=job, group=group, batch=batch, client=client, ctx=ctx
                )
            except (IdempotencyAlreadyInProgressError, OutOfTime):
                failed.add(job.message_id)
                continue
            except Exception as error:
                logger.warning(
                    "file failed, retried later", extra={"file": job.pk, "error": type(error).__name__}
                )
                ctx.tally.files_failed += 1
                failed.add(job.message_id)
                continue
            if result.get("run") != ctx.run_id:
                ctx.tally.duplicates += 1  # idempotency's saved answer: this version was handled before
            elif result.get("state") == "uploaded":
                in_batch.add(job.message_id)
        try:
            complete_batch(ctx, client, batch)
        except Exception as error:
            logger.warning(
                "batch not completed", extra={"batch": batch.batch_id, "error": type(error).__name__}
            )
            failed |= in_batch
        return failed

    def ingest(
        self,
        *,
        identity: dict[str, str],
        job: FileJob,
        group: Group,
        batch: BatchHandle,
        client: AepClient,
        ctx: Context,
    ) -> dict[str, Any]:
        """One object version, at most once (Powertools idempotency on ``identity`` wraps this, and the
        ledger's conditional write backs it when the idempotency record has expired)."""
        claimed, existing = self.ledger.claim_file(job.ledger_item())
        if not claimed:
            self._heal(existing or {}, client, ctx)
            return {"run": "", "state": "duplicate"}  # counted by the caller, as a saved answer is
        if existing and existing.get("batch_id"):  # an earlier attempt died reading: its batch goes
            self._abort_stale(existing["batch_id"], client, ctx)
        run = FileRun(ctx, client, group, batch, job)
        try:
            state = run.run()
        except AepError as error:
            if error.retryable:
                run.abort_own_batch("retried in a new batch")
                raise
            state = run.failed(error)
        except OutOfTime:
            raise
        except Exception:
            run.abort_own_batch("retried in a new batch")
            raise
        return {"run": ctx.run_id, "state": state}

    def _abort_stale(self, batch_id: str, client: AepClient, ctx: Context) -> None:
        item = self.ledger.get(f"batch#{batch_id}") or {}
        if item.get("state") == "open":
            from batch_ingest.ingest import _abort  # noqa: PLC0415

            _abort(ctx, client, batch_id, "an attempt died while reading; its files are read again")

    def _heal(self, existing: dict[str, Any], client: AepClient, ctx: Context) -> None:
        """A duplicate notification of a version whose earlier run stopped half-way: finish what it left."""
        stale = self.ledger.now() - CLAIM_LEASE_SECONDS
        checkpoint = existing.get("checkpoint")
        lost = checkpoint and int(checkpoint.get("claimed_at", 0)) < stale  # its continuation may be lost
        if existing.get("state") == "reading" and lost and int(existing.get("updated_at", 0)) < stale:
            body = continuation_body(existing["pk"], int(existing["checkpoint"]["step"]))
            ctx.sqs().send_message(QueueUrl=self.settings.queue_url, MessageBody=body)
        if existing.get("state") == "uploaded" and existing.get("batch_id"):
            batch = self.ledger.get(f"batch#{existing['batch_id']}") or {}
            if batch.get("state") == "open" and int(batch.get("updated_at", 0)) < stale:
                handle = BatchHandle(batch_id=existing["batch_id"], files=list(batch.get("files", [])))
                complete_batch(ctx, client, handle)

    # -- continuation ---------------------------------------------------------------------------------

    def _continue(self, message_id: str, message: dict[str, Any], ctx: Context) -> set[str]:
        parsed = continuation_of(message)
        if parsed is None:
            logger.warning("malformed continuation message", extra={"message_id": message_id})
            return set()
        pk, step = parsed
        item = self.ledger.claim_checkpoint(pk, step, ctx.run_id)
        if item is None:
            ctx.tally.duplicates += 1
            return set()
        key = str(item["key"])
        routes = [r for r in self.settings.routes if r.prefix == item.get("route")]
        route = routes[0] if routes else route_for(self.settings.routes, key)
        version = str(item["version"])
        ref = ObjectRef(
            bucket=str(item["bucket"]),
            raw_key=key,
            size=int(item["size"]),
            version_id=None if version.startswith("etag:") else version,
            etag=version.removeprefix("etag:") if version.startswith("etag:") else None,
        )
        if route is None:
            self.ledger.release_checkpoint(pk)
            logger.error("no route for a continuing file any more", extra={"file": pk})
            return {message_id}
        job = FileJob(message_id, ref, key, route, format_of(key))
        group = Group((route.tenant, route.dataset_id, job.input_format, False), [job], own=True)
        batch = BatchHandle(batch_id=item.get("batch_id"))
        try:
            client = self.client_for(route.tenant)
            run = FileRun(ctx, client, group, batch, job)
            try:
                state = run.run(Checkpoint.from_item(item["checkpoint"]))
            except AepError as error:
                if error.retryable:
                    raise
                state = run.failed(error)
            if state == "uploaded":
                complete_batch(ctx, client, batch)
        except Exception as error:
            logger.warning("continuation failed, retried", extra={"file": pk, "error": type(error).__name__})
            self.ledger.release_checkpoint(pk)
            return {message_id}
        return set()
