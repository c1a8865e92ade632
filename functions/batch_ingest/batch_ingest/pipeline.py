"""One file's records: S3 body -> readers -> record rules -> compact NDJSON -> spool; refusals aside.

Memory stays bounded: the readers yield one record at a time from a block-read stream; each record is
judged, encoded and written to the spool before the next is read. The caller decides what to upload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from aep.record_rules import MAX_RECORD_BYTES, RecordRefused, check_record, check_size
from aep.streaming import encode
from batch_ingest.readers import FileFormat, read_records
from batch_ingest.routes import Route
from batch_ingest.spool import Refusals, Spool


@dataclass
class Counts:
    read: int = 0
    sent: int = 0
    refused: int = 0


@dataclass(frozen=True)
class ReadResult:
    finished: bool  # False: stopped early (time), ``next_index`` is where to continue
    next_index: int


def read_into(
    stream: BinaryIO,
    fmt: FileFormat,
    route: Route,
    *,
    spool: Spool,
    refusals: Refusals,
    counts: Counts,
    skip: int = 0,
    max_inflated_bytes: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    check: Callable[[dict[str, Any]], None] | None = None,
) -> ReadResult:
    """Read ``stream`` from record ``skip`` on (earlier ones are re-read, not judged again).

    ``check``: the dataset schema's validator (:mod:`aep.validation`), run on each record that passed the
    record rules; None: records are not checked against the schema.

    Raises ``FileRefused`` (a file-level rule) as the readers do; what was spooled is then the caller's
    to discard. Stops after a record when ``should_stop()`` says so.
    """
    rules = route.rules
    mapping = route.csv_mapping
    next_index = skip
    for raw in read_records(
        stream, fmt, mapping=mapping, max_record_bytes=MAX_RECORD_BYTES, max_inflated_bytes=max_inflated_bytes
    ):
        if raw.index < skip:
            continue
        counts.read += 1
        next_index = raw.index + 1
        if raw.error is not None:
            refusals.add(raw.index, raw.line, raw.field, raw.error)
            counts.refused += 1
        else:
            problem = _judge(raw.value, route, rules, spool, now(), check=check)
            if problem is not None:
                refusals.add(raw.index, raw.line, problem[0], problem[1])
                counts.refused += 1
            else:
                counts.sent += 1
        if should_stop():
            return ReadResult(False, next_index)
    return ReadResult(True, next_index)


def _judge(
    value: Any,
    route: Route,
    rules: Any,
    spool: Spool,
    now: datetime,
    *,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[str | None, str] | None:
    """Spool the record, or say why not (field, reason)."""
    try:
        entity = check_record(value, rules, dataset_id=route.dataset_id, now=now)
        if check is not None:
            check(entity)
        line = encode(entity)
        check_size(line)
    except RecordRefused as refused:
        return refused.field, refused.reason
    except (ValueError, UnicodeError) as error:  # not encodable as UTF-8 JSON (a lone surrogate)
        return None, f"the record cannot be encoded as JSON ({type(error).__name__})"
    spool.add(line + b"\n")
    return None
