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
from batch_ingest.ingest import Context, FileRun, OutOfTime, _abort, complete_batch, finish_batch
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
                try:
                    job = self._job(note.message_id, ref, ctx)
                except Exception as error:  # one message's trouble never fails its neighbours
                    _unexpected("notification", note.message_id, error)
                    failures.add(note.message_id)
                    continue
                if job is not None:
                    jobs.append(job)
        for group in group_jobs(jobs, self.settings.group_threshold_bytes):
            try:
                failures |= self._group(group, ctx)
            except Exception as error:
                _unexpected("group", group.key[1], error)
                failures |= {job.message_id for job in group.jobs}
        for note in notifications:
            if note.kind == "continuation" and note.continuation is not None:
                try:
                    failures |= self._continue(note.message_id, note.continuation, ctx)
                except Exception as error:
                    _unexpected("continuation", note.message_id, error)
                    failures.add(note.message_id)
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
                logger.warning("file failed, retried later", extra=failure_fields(job, error))
                ctx.tally.files_failed += 1
                failed.add(job.message_id)
                continue
            if result.get("run") != ctx.run_id:
                # idempotency's saved answer (or the ledger's): this version was handled before; what
                # that run may have left unfinished (a batch not completed) is finished now
                ctx.tally.duplicates += 1
                if not self._heal(self.ledger.get(job.pk) or {}, client, ctx):
                    failed.add(job.message_id)
            elif result.get("state") == "uploaded":
                in_batch.add(job.message_id)
        try:
            complete_batch(ctx, client, batch)
        except Exception as error:
            # the batch is ``completing`` in the ledger: a redelivery or the follow-up signals it again
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
            return {"run": "", "state": "duplicate"}  # counted and healed by the caller
        if existing and existing.get("batch_id"):  # an earlier attempt failed after opening a batch
            bound = self._bound_batch(existing, client, ctx)
            if bound is not None:
                return self._finish_bound(job, group, bound, client, ctx)
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

    def _bound_batch(self, existing: dict[str, Any], client: AepClient, ctx: Context) -> str | None:
        """The shared batch an earlier attempt bound this file to and that still waits for it (its AEP
        file may be there already: the retry must upload into that batch again, not into another); None
        otherwise. An own batch left open by an attempt that died is aborted: the file is read again."""
        batch_id = str(existing["batch_id"])
        item = self.ledger.get(f"batch#{batch_id}") or {}
        if item.get("state") != "open":
            return None
        if item.get("shared", False) and existing["pk"] in (item.get("waiting") or ()):
            return batch_id
        if not item.get("shared", False):
            _abort(ctx, client, batch_id, "an attempt died while reading; its files are read again")
        return None

    def _finish_bound(
        self, job: FileJob, group: Group, batch_id: str, client: AepClient, ctx: Context
    ) -> dict[str, Any]:
        """Read the file again into the batch it is bound to (the same AEP file names: a re-PUT replaces),
        then COMPLETE that batch when no other file waits for it."""
        logger.info("a bound file finishes in its batch", extra={"file": job.pk, "batch": batch_id})
        own = Group(group.key, [job], own=False)
        handle = BatchHandle(batch_id=batch_id)
        state = FileRun(ctx, client, own, handle, job).run()
        if state == "uploaded":
            finish_batch(ctx, client, batch_id)
        return {"run": ctx.run_id, "state": "bound-" + state}

    def _heal(self, existing: dict[str, Any], client: AepClient, ctx: Context) -> bool:
        """A duplicate of a version whose earlier run stopped half-way: finish what it left (resend a
        lost continuation; COMPLETE a batch whose files are all uploaded). False when that failed: the
        message is delivered again."""
        stale = self.ledger.now() - CLAIM_LEASE_SECONDS
        checkpoint = existing.get("checkpoint")
        lost = checkpoint and int(checkpoint.get("claimed_at", 0)) < stale  # its continuation may be lost
        if existing.get("state") == "reading" and lost and int(existing.get("updated_at", 0)) < stale:
            body = continuation_body(existing["pk"], int(existing["checkpoint"]["step"]))
            ctx.sqs().send_message(QueueUrl=self.settings.queue_url, MessageBody=body)
        if existing.get("state") != "uploaded" or not existing.get("batch_id"):
            return True
        batch_id = str(existing["batch_id"])
        batch = self.ledger.get(f"batch#{batch_id}") or {}
        if existing["pk"] in (batch.get("waiting") or ()):  # uploaded; its batch was not told yet
            self.ledger.add_file(batch_id, existing["pk"])
        if batch.get("state") == "open" and "closed_at" not in batch:
            if int(batch.get("updated_at", 0)) >= stale:
                return True  # its group may still be filling it
            self.ledger.close_batch(batch_id)  # the invocation that filled it died before closing it
        if batch.get("state") in ("open", "completing"):
            try:
                finish_batch(ctx, client, batch_id)
            except Exception as error:
                logger.warning(
                    "batch not completed", extra={"batch": batch_id, "error": type(error).__name__}
                )
                return False
        return True

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
            existing = self.ledger.get(pk) or {}
            if existing.get("state") != "uploaded":
                return set()
            client = self.client_for(str(existing.get("tenant") or ""))
            return set() if self._heal(existing, client, ctx) else {message_id}
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
        except Exception as error:
            logger.warning("continuation failed, retried", extra={"file": pk, "error": type(error).__name__})
            self.ledger.release_checkpoint(pk)
            return {message_id}
        if state == "uploaded":  # the file is final: only COMPLETE is left (a redelivery or the follow-up
            try:  # signals it again when it fails)
                complete_batch(ctx, client, batch)
            except Exception as error:
                logger.warning(
                    "batch not completed", extra={"batch": batch.batch_id, "error": type(error).__name__}
                )
                return {message_id}
        return set()


def _unexpected(what: str, name: str, error: Exception) -> None:
    logger.warning(
        "unexpected failure, retried", extra={"unit": what, "item": name, "error": type(error).__name__}
    )


def failure_fields(job: FileJob, error: Exception) -> dict[str, Any]:
    """Which file failed and why, for its log line: the object, the error's type and, from AEP, its status,
    code and request id. Never the error's text: it may quote a record (an identity value)."""
    fields: dict[str, Any] = {
        "file": job.pk,
        "bucket": job.ref.bucket,
        "key": job.key,
        "version": job.ref.version,
        "error": type(error).__name__,
    }
    if isinstance(error, AepError):
        fields.update(status=error.status, code=error.code, request_id=error.request_id)
    return fields
