"""How a CSV file's rows become XDM records: the mapping a route names (issue 9, item 7).

A mapping is a dict (from the route's YAML or JSON configuration), validated once into a
:class:`CsvMapping`. Its form, with every option::

    record_class: experienceevent      # or profile (default experienceevent)
    delimiter: ","                     # optional: "," ";" or "\\t"; by default detected from the header
    phone_region: US                   # the region of phone numbers written without + or 00 (default US)
    columns:                           # CSV header name -> XDM dotted path and type
      caller_name: _acme.caller.name   # shorthand: a string column
      duration: {path: _acme.call.durationSeconds, type: integer}
      answered: {path: _acme.call.answered, type: boolean}
      cost: {path: _acme.call.cost, type: number}
      callback: {path: _acme.call.callbackNumber, type: phone}
      contact: {path: _acme.caller.email, type: email}
      started: {path: _acme.call.startedAt, type: date-time, format: "%d/%m/%Y %H:%M", timezone: Europe/Paris}
    identities:                        # identityMap entries (the record rules normalise their values)
      - {column: caller_phone, namespace: Phone, primary: true}
      - {column: crm_id, namespace: CRMID}
    id_column: call_id                 # optional: the column holding _id (else the record rules derive one)
    timestamp:                         # ExperienceEvents: the column holding the event's time
      column: ended_at
      format: epoch-millis             # rfc3339 (default), epoch-millis, epoch-seconds, or a strptime
                                       # format: with %z, or with timezone (the zone its times are in)

Types: ``string`` (the cell unchanged), ``integer``, ``number``, ``boolean`` (true/false, yes/no, y/n, 1/0,
any case), ``date-time`` (format and timezone as for ``timestamp``; written as RFC 3339), ``phone`` (E.164
through :func:`aep.normalize.normalize_phone`), ``email`` (trimmed, one ``@`` with text on both sides).
The JSON form is the same structure. Paths ``_id``, ``timestamp`` and ``identityMap`` are set by their own
rules, never by a column. Columns of the file that the mapping does not name are ignored.

A row becomes one object: an empty cell (or only spaces) is left out, as is a row of empty cells (a blank
line). Cells are data: one beginning with ``=``, ``+``, ``-`` or ``@`` goes to AEP unchanged (a ``+1...``
phone is never "sanitised"). Identity cells go raw into ``identityMap``: the record rules normalise them.
A cell of the wrong type is that record's error (``field`` is the column), never quoting the cell.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from aep.normalize import IdentityError, normalize_phone

ColumnType = Literal["string", "integer", "number", "boolean", "date-time", "phone", "email"]
_RESERVED = ("_id", "timestamp", "identityMap")
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_BOOLEANS = {
    "true": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "no": False,
    "n": False,
    "0": False,
}
#: RFC 3339 section 5.6 date-time, as XDM's ``timestamp`` requires.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CellError(ValueError):
    """A cell that is not of its column's type; ``str(error)`` is the reason (never the cell)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeFormat(_Strict):
    """How a date-time cell is written: ``rfc3339``, ``epoch-millis``, ``epoch-seconds`` or a ``strptime``
    format (with ``%z``, or with ``timezone``: an IANA zone such as ``Europe/Paris``, or ``UTC``)."""

    format: str = "rfc3339"
    timezone: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TimeFormat:
        named = self.format in ("rfc3339", "epoch-millis", "epoch-seconds")
        if not named and "%" not in self.format:
            raise ValueError("format must be rfc3339, epoch-millis, epoch-seconds or a strptime format")
        if not named and "%z" not in self.format and self.timezone is None:
            raise ValueError("a strptime format without %z needs a timezone (the zone its times are in)")
        if self.timezone is not None:
            if named or "%z" in self.format:
                raise ValueError("timezone applies only to a strptime format without %z")
            _zone(self.timezone)
        return self

    def convert(self, cell: str) -> str:
        """The cell as an RFC 3339 date-time with an offset. Raises CellError."""
        text = cell.strip()
        if self.format == "rfc3339":
            if not _RFC3339.fullmatch(text):
                raise CellError("not an RFC 3339 date-time with a timezone (such as 2026-11-29T09:30:00Z)")
            return text
        if self.format in ("epoch-millis", "epoch-seconds"):
            if not _INTEGER.fullmatch(text):
                raise CellError(f"not a time in {self.format} (an integer)")
            unit = "milliseconds" if self.format == "epoch-millis" else "seconds"
            try:
                moment = _EPOCH + timedelta(**{unit: int(text)})
            except OverflowError as exc:
                raise CellError(f"a time in {self.format} out of range") from exc
            return _rfc3339(moment, "milliseconds" if unit == "milliseconds" else "seconds")
        try:
            moment = datetime.strptime(text, self.format)
        except ValueError as exc:
            raise CellError("not a date-time in the mapping's format") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_zone(self.timezone or "UTC"))
        return _rfc3339(moment, "auto")


def _rfc3339(moment: datetime, timespec: str) -> str:
    text = moment.isoformat(timespec=timespec)
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r} (an IANA name such as Europe/Paris, or UTC)") from exc


class Column(_Strict):
    """Where one CSV column goes: an XDM dotted ``path`` and a ``type``; date-times with a ``format``."""

    path: str
    type: ColumnType = "string"
    format: str | None = None
    timezone: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        segments = path.split(".")
        if not all(_SEGMENT.fullmatch(segment) for segment in segments):
            raise ValueError("path must be dotted XDM field names, such as _acme.caller.name")
        if segments[0] in _RESERVED:
            raise ValueError(f"{segments[0]} is set by its own rule (id_column, timestamp, identities)")
        return path

    @model_validator(mode="after")
    def _time(self) -> Column:
        if self.type != "date-time" and (self.format is not None or self.timezone is not None):
            raise ValueError("format and timezone apply only to a date-time column")
        if self.type == "date-time":
            TimeFormat(format=self.format or "rfc3339", timezone=self.timezone)
        return self

    def time_format(self) -> TimeFormat:
        return _time_format(self.format or "rfc3339", self.timezone)


@lru_cache(maxsize=64)
def _time_format(format_: str, timezone: str | None) -> TimeFormat:
    return TimeFormat(format=format_, timezone=timezone)


def _shorthand(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class IdentityColumn(_Strict):
    """A column whose cells are identities of ``namespace`` (an identityMap entry)."""

    column: str = Field(min_length=1)
    namespace: str = Field(min_length=1)
    primary: bool = False


class TimestampRule(TimeFormat):
    """The column holding an ExperienceEvent's ``timestamp``, and how it is written."""

    column: str = Field(min_length=1)


class CsvMapping(_Strict):
    """A route's CSV mapping (see the module for its YAML/JSON form). Build it with
    ``CsvMapping.model_validate(route_mapping_dict)``: pydantic's ValidationError says what is wrong."""

    record_class: Literal["experienceevent", "profile"] = "experienceevent"
    delimiter: Literal[",", ";", "\t"] | None = None
    phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    columns: dict[str, Annotated[Column, BeforeValidator(_shorthand)]] = Field(default_factory=dict)
    identities: list[IdentityColumn] = Field(default_factory=list)
    id_column: str | None = None
    timestamp: TimestampRule | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CsvMapping:
        if self.record_class == "experienceevent" and self.timestamp is None:
            raise ValueError(
                "an experienceevent mapping needs a timestamp rule (the column of the event's time)"
            )
        if self.record_class == "profile" and self.timestamp is not None:
            raise ValueError("timestamp applies to experienceevent mappings only")
        if not (self.columns or self.identities):
            raise ValueError("a mapping needs columns or identities")
        paths = sorted(column.path for column in self.columns.values())
        for shorter, longer in pairwise(paths):
            if longer == shorter or longer.startswith(shorter + "."):
                raise ValueError(f"two columns write to {shorter} (or inside it)")
        return self

    def needed_columns(self) -> list[str]:
        """Every column the mapping reads, in a stable order (the header must have them all)."""
        names = list(self.columns)
        names += [identity.column for identity in self.identities]
        names += [name for name in (self.id_column, self.timestamp and self.timestamp.column) if name]
        return list(dict.fromkeys(names))

    def build(self, cells: dict[str, str]) -> dict[str, Any]:
        """The XDM object of one row (``cells``: column name -> cell). Raises CellError with ``field``."""
        record: dict[str, Any] = {}
        for name, column in self.columns.items():
            cell = cells.get(name, "")
            if cell.strip():
                _put(record, column.path, _convert(name, column, cell, self.phone_region))
        for identity in self.identities:
            cell = cells.get(identity.column, "")
            if cell.strip():
                entry: dict[str, Any] = {"id": cell}
                if identity.primary:
                    entry["primary"] = True
                record.setdefault("identityMap", {}).setdefault(identity.namespace, []).append(entry)
        if self.id_column and cells.get(self.id_column, "").strip():
            record["_id"] = cells[self.id_column]
        if self.timestamp and cells.get(self.timestamp.column, "").strip():
            try:
                record["timestamp"] = self.timestamp.convert(cells[self.timestamp.column])
            except CellError as exc:
                raise FieldError(self.timestamp.column, str(exc)) from exc
        return record


class FieldError(CellError):
    """A CellError naming its column (``field``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _convert(name: str, column: Column, cell: str, phone_region: str) -> Any:
    try:
        return _typed(column, cell, phone_region)
    except CellError as exc:
        raise FieldError(name, str(exc)) from exc


def _typed(column: Column, cell: str, phone_region: str) -> Any:
    text = cell.strip()
    if column.type == "string":
        return cell
    if column.type == "integer":
        if not _INTEGER.fullmatch(text):
            raise CellError("not an integer")
        return int(text)
    if column.type == "number":
        if not _NUMBER.fullmatch(text):
            raise CellError("not a number")
        if _INTEGER.fullmatch(text):
            return int(text)
        number = float(text)
        if math.isinf(number):
            raise CellError("a number too large for a double")
        return number
    if column.type == "boolean":
        if text.lower() not in _BOOLEANS:
            raise CellError("not a boolean (true/false, yes/no, y/n, 1/0)")
        return _BOOLEANS[text.lower()]
    if column.type == "date-time":
        return column.time_format().convert(text)
    if column.type == "phone":
        try:
            return normalize_phone(text, phone_region)
        except IdentityError as exc:
            raise CellError(str(exc)) from exc
    if not _EMAIL.fullmatch(text):
        raise CellError("not an e-mail address")
    return text


def _put(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = record
    for segment in parents:
        node = node.setdefault(segment, {})
    node[leaf] = value
