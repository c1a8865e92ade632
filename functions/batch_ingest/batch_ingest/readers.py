"""From a dropped file's byte stream to its records, in constant memory.

:func:`format_of` tells a file's format from its key; :func:`read_records` reads a JSON, NDJSON or CSV
stream (gzipped or not) block by block and yields one :class:`RawRecord` per record, its value parsed by
:func:`aep.strict_json.loads` or its error. Memory is bounded by ``max_record_bytes`` plus a block,
whatever the file's size, its longest line or its compression ratio. Parquet is not read: it passes through
as bytes after :func:`check_parquet`.

Two kinds of failure:

- a **record** that cannot be read (not JSON, duplicate keys, ``NaN``/``Infinity``, nested more than 100
  levels, over ``max_record_bytes``, a CSV row with the wrong number of cells or a cell of the wrong type)
  is a RawRecord with ``error`` set; the others go on. Whether a value is an acceptable XDM record (an
  object, its identity, its timestamp) is for :mod:`aep.record_rules` to judge, not here;
- a **file** that cannot be read raises :class:`FileRefused` where it is found, possibly after records were
  yielded (a truncated gzip is known at its end): the caller then discards what it built from the file.
  The file-level rules: an empty file, no records (whitespace only, an empty array, a CSV header only),
  not UTF-8 (UTF-16, latin-1: never the ASCII-looking subset), a JSON array or multi-line object cut short,
  a corrupt or truncated gzip, a gzip inflating past ``max_inflated_bytes``, an unknown format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from aep import strict_json
from batch_ingest.byte_blocks import ByteStream, FileRefused, inflate, raw_blocks, utf8_blocks
from batch_ingest.csv_mapping import CsvMapping
from batch_ingest.csv_rows import read_csv
from batch_ingest.json_split import Piece, nested_deeper_than, split_json, split_ndjson, too_deep

__all__ = [
    "ByteStream",
    "CsvMapping",
    "FileFormat",
    "FileRefused",
    "RawRecord",
    "check_parquet",
    "format_of",
    "read_records",
]

PARQUET_MAGIC = b"PAR1"
NOT_PARQUET = "not a Parquet file: it does not start and end with the PAR1 magic bytes"
_KINDS: dict[str, Literal["json", "ndjson", "csv", "parquet"]] = {
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".csv": "csv",
    ".parquet": "parquet",
}


@dataclass(frozen=True)
class FileFormat:
    """A file's format from its extension. ``json``: NDJSON, one array or concatenated objects, decided
    from the bytes."""

    kind: Literal["json", "ndjson", "csv", "parquet"]
    gzip: bool


@dataclass
class RawRecord:
    """One record of a file: its ``value``, or the ``error`` that kept it from being read."""

    index: int  # 0-based position among the file's records
    line: int  # 1-based line where the record starts in the (decompressed) file
    value: Any = None  # the parsed JSON value (CSV: the XDM object built by the mapping)
    error: str | None = None  # set when this record could not be read (not JSON, too large, ...)
    field: str | None = None  # what the error is about, when it is one field (a CSV column)


def format_of(key: str) -> FileFormat:
    """The format of the object ``key`` from its extension (case-insensitive): ``.json``, ``.ndjson``,
    ``.jsonl``, ``.csv`` or ``.parquet``, each optionally followed by ``.gz``. Raises FileRefused for any
    other name."""
    name = key.rsplit("/", 1)[-1].lower()
    gzipped = name.endswith(".gz")
    if gzipped:
        name = name[: -len(".gz")]
    dot = name.rfind(".")
    kind = _KINDS.get(name[dot:]) if dot > 0 else None
    if kind is None:
        raise FileRefused(
            "unknown format: the key must end in .json, .ndjson, .jsonl, .csv or .parquet, optionally .gz"
        )
    return FileFormat(kind=kind, gzip=gzipped)


def check_parquet(head: bytes, tail: bytes) -> None:
    """Raises FileRefused unless ``head`` (the file's first bytes) and ``tail`` (its last) are both the
    Parquet magic ``PAR1``. Give at least 4 bytes of each; a file under 8 bytes cannot be Parquet."""
    if not (head.startswith(PARQUET_MAGIC) and tail.endswith(PARQUET_MAGIC)):
        raise FileRefused(NOT_PARQUET)


def read_records(
    stream: ByteStream,
    fmt: FileFormat,
    *,
    mapping: CsvMapping | None = None,
    max_record_bytes: int = 1_000_000,
    max_inflated_bytes: int | None = None,
) -> Iterator[RawRecord]:
    """The records of a JSON, NDJSON or CSV file, read from ``stream`` (a file opened ``rb``, an S3
    StreamingBody: any :class:`ByteStream`, BinaryIO included; gzipped when ``fmt.gzip``) in blocks.

    ``mapping`` turns CSV rows into XDM objects (a CSV file without one is refused). Raises FileRefused for
    the file-level rules (see the module), ValueError for a Parquet format (not read here).
    """
    if fmt.kind == "parquet":
        raise ValueError("Parquet files are not read record by record: check_parquet, then pass them through")
    blocks: Iterator[bytes] = raw_blocks(stream)
    if fmt.gzip:
        blocks = inflate(blocks, max_inflated_bytes=max_inflated_bytes)
    blocks = utf8_blocks(blocks, gzipped=fmt.gzip)
    if fmt.kind == "csv":
        if mapping is None:
            raise FileRefused("a CSV file needs a mapping, and its route has none")
        count = 0
        for count, row in enumerate(read_csv(blocks, mapping, max_record_bytes=max_record_bytes), 1):
            yield RawRecord(index=count - 1, line=row.line, value=row.value, error=row.error, field=row.field)
        if not count:
            raise FileRefused("no records: the CSV file has a header only")
        return
    if fmt.kind == "ndjson":
        pieces = split_ndjson(blocks, max_record_bytes)
    else:
        pieces = split_json(blocks, max_record_bytes)
    index = -1
    for index, piece in enumerate(pieces):
        yield _parsed(index, piece)
    if index < 0:
        raise FileRefused("no records: the file holds only whitespace, or an empty JSON array")


def _parsed(index: int, piece: Piece) -> RawRecord:
    if piece.error is not None:
        return RawRecord(index=index, line=piece.line, error=piece.error)
    if nested_deeper_than(piece.data):
        return RawRecord(index=index, line=piece.line, error=too_deep())
    try:
        value = strict_json.loads(piece.data)
    except json.JSONDecodeError as exc:
        where = f"line {piece.line + exc.lineno - 1}, column {exc.colno}"
        return RawRecord(index=index, line=piece.line, error=f"not JSON: {exc.msg} ({where})")
    except RecursionError:
        return RawRecord(index=index, line=piece.line, error=too_deep())
    except ValueError as exc:  # StrictJsonError (NaN, infinity, duplicate keys), an integer too long
        return RawRecord(index=index, line=piece.line, error=str(exc))
    return RawRecord(index=index, line=piece.line, value=value)
