"""XDM record checks against a dataset definition, and file parsing for batch ingestion."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aep_emulator import strictjson
from aep_emulator.config import Dataset
from aep_emulator.conformance import SchemaCheck, Violation

IDENTITY_MAP = "identityMap"


@dataclass
class RowProblem:
    """One reason AEP refuses a record: a code (Adobe's INGEST/XDM conventions), the sentence, and for a
    schema rule its JSON Schema keyword and where (schema location and record pointer, as ``#/...``)."""

    code: str
    message: str
    keyword: str = "validation"
    schema_location: str = "#"
    pointer: str = "#"


_CODES = {"required": "1555", "additionalProperties": "XDM-1007-400"}


def _row_problem(violation: Violation) -> RowProblem:
    if violation.keyword == "required":
        message = f"A required field is missing: {violation.path}."
    elif violation.keyword == "additionalProperties":
        message = f"Field {violation.path} is not defined by the schema."
    else:
        message = f"Field {violation.path} {violation.reason}."
    return RowProblem(
        _CODES.get(violation.keyword, "1558"),
        message,
        violation.keyword,
        violation.schema_location,
        violation.pointer,
    )


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def leaves(record: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in record.items():
        path = f"{prefix}{key}"
        if key == IDENTITY_MAP and not prefix:
            yield path, value
        elif isinstance(value, dict) and value:
            yield from leaves(value, path + ".")
        else:
            yield path, value


def get_path(record: dict[str, Any], path: str) -> Any:
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def identities(record: dict[str, Any], dataset: Dataset) -> list[tuple[str, str, bool]]:
    """(namespace, id, primary) for every identity the record carries."""
    found: list[tuple[str, str, bool]] = []
    imap = record.get(IDENTITY_MAP)
    if isinstance(imap, dict):
        for namespace, entries in imap.items():
            if isinstance(entries, list):
                for entry in entries:
                    if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
                        found.append((namespace, entry["id"], bool(entry.get("primary"))))
    descriptor = dataset.primary_identity
    if descriptor.source == "descriptor" and descriptor.path and descriptor.namespace:
        value = get_path(record, descriptor.path)
        if isinstance(value, str) and value:
            found.append((descriptor.namespace, value, True))
    return found


def validate(
    record: Any, dataset: Dataset, check: SchemaCheck, now: datetime | None = None
) -> list[RowProblem]:
    """Every problem AEP would report for this record: null or empty values, the rules of its schema
    (``check``, compiled for the channel), an event's timestamp in the future, and the identities a
    Profile-enabled dataset needs (codes follow Adobe's INGEST/XDM conventions)."""
    if not isinstance(record, dict):
        return [RowProblem("1401", "Row is corrupted and cannot be read, please fix and resend.")]
    problems: list[RowProblem] = []
    now = now or datetime.now(UTC)
    empty: list[str] = []
    for path, value in leaves(record):
        if value is None or value in ("", [], {}):
            problems.append(
                RowProblem("1555", f"Field {path} is null or empty; omit the field instead.", "required")
            )
            empty.append(path)
    for violation in check.violations(record):
        if violation.path in empty:
            continue  # already reported as null or empty
        problems.append(_row_problem(violation))
    if dataset.klass == "experienceevent":
        stamp = parse_time(record.get("timestamp"))
        if stamp is not None and stamp > now:
            problems.append(RowProblem("1558", "Field timestamp is in the future.", "validation"))
    if dataset.profile_enabled:
        ids = identities(record, dataset)
        if not ids:
            problems.append(RowProblem("1560", "The record has no identity; a primary identity is required."))
        elif sum(1 for _, _, primary in ids if primary) > 1:
            problems.append(RowProblem("1561", "The record has more than one primary identity."))
    return problems


def parse_file(path: Path, fmt: str, multi_line: bool, dataset: Dataset) -> tuple[list[Any], list[str]]:
    """Rows of a stored file, and the text of rows that could not be parsed (for parsing_errors).

    JSON is strict (no NaN, Infinity or duplicate keys). Single-line JSON is read a line at a time: lines
    end at LF only, so a U+2028 inside a string does not split a record.
    """
    fmt = fmt.lower()
    if fmt == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415 - only batch ingestion of Parquet needs it

        table = pq.read_table(path)
        return [_drop_nulls(row) for row in table.to_pylist()], []
    if fmt == "csv":
        with path.open(encoding="utf-8", errors="replace", newline="") as table_text:
            return [_csv_row(row, dataset) for row in csv.DictReader(table_text)], []
    if multi_line:
        text = path.read_bytes().decode("utf-8", errors="replace")
        try:
            payload = strictjson.loads(text)
        except ValueError:
            return [], [text[:1000]]
        return (payload if isinstance(payload, list) else [payload]), []
    rows: list[Any] = []
    corrupt: list[str] = []
    with path.open("rb") as lines:
        for raw in lines:
            line = raw.decode("utf-8", errors="replace")
            if not line.strip():
                continue
            try:
                rows.append(strictjson.loads(line))
            except ValueError:
                corrupt.append(line.rstrip("\r\n")[:1000])
    return rows, corrupt


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _csv_row(row: dict[str, str], dataset: Dataset) -> dict[str, Any]:
    """A flat CSV row with dotted headers becomes a nested record; values typed from the dataset."""
    record: dict[str, Any] = {}
    for header, raw in row.items():
        if header is None or raw in (None, ""):
            continue
        value: Any = raw
        kind = dataset.fields.get(header)
        try:
            if kind == "integer":
                value = int(raw)
            elif kind == "number":
                value = float(raw)
            elif kind == "boolean":
                value = raw.strip().lower() in ("true", "1", "yes")
        except ValueError:
            value = raw
        node = record
        parts = header.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return record
