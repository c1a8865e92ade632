"""Every record checked against its dataset's XDM schema before it is sent.

:func:`compile_schema` turns an ``xed-full`` schema (:mod:`aep.xdm_schema`) into a checker: a tree of small
functions, one per field, built once per schema, so checking a record is a walk of the record with no
interpretation of the schema (the choice, measured against fastjsonschema and jsonschema, is in
docs/benchmarks.md). It checks types (``integer`` is a JSON integer, never a boolean or ``1.0``), required
fields, ``enum``, ``minLength``/``maxLength`` (code points), ``minimum``/``maximum`` (and their exclusive
forms), ``pattern`` (searched, as JSON Schema does), array items and their count, the formats ``date-time``
(RFC 3339 with an offset), ``date``, ``email``, ``uri`` and ``uri-reference`` (others are not checked), and
fields the schema does not define (closed objects; maps are open: see :mod:`aep.xdm_schema`).

A failure is :class:`~aep.record_rules.RecordRefused` with the field's dotted path (array indexes as
numbers, ``identityMap.Phone.0.id``) and a reason that never quotes the value: ``_acme.call.direction: must
be one of inbound, outbound``. Only the first problem is reported (the record is refused either way).

Records are checked after :func:`aep.record_rules.check_record`: empties dropped, identities normalised and
``_id`` set, i.e. the record as it will travel. The schema cache is :mod:`aep.schema_cache`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from aep.normalize import is_namespace_code
from aep.record_rules import RecordRefused
from aep.xdm_schema import is_map

Check = Callable[[Any], None]

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]*")
_URI_REFERENCE = re.compile(r"[^\s\x00-\x1f\x7f<>\"{}|\\^`]*")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
#: How an unknown key, or a map key, is shown when it does not look like a field name (it could be data).
HIDDEN_KEY = "(a key that is not a field name)"


class _Invalid(Exception):
    """A problem found below a field; the path is collected on the way out (innermost first)."""

    def __init__(self, reason: str, *path: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = list(path)


def _fail(reason: str) -> Check:
    def check(value: Any) -> None:
        raise _Invalid(reason)

    return check


def _valid_date_time(text: str) -> bool:
    if not _DATE_TIME.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _valid_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


#: format -> (test, reason). A format not listed here is not checked.
FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "date-time": (_valid_date_time, "must be an RFC 3339 date-time with a timezone (2026-11-29T09:30:00Z)"),
    "date": (_valid_date, "must be a date (YYYY-MM-DD)"),
    "email": (lambda text: _EMAIL.fullmatch(text) is not None, "must be an e-mail address"),
    "uri": (lambda text: _URI.fullmatch(text) is not None, "must be a URI with a scheme"),
    "uri-reference": (
        lambda text: _URI_REFERENCE.fullmatch(text) is not None,
        "must be a URI reference (no spaces or control characters)",
    ),
}


def label(key: str) -> str:
    """A record's key as it may appear in a reason: itself when it looks like a field name."""
    return key if _FIELD_NAME.fullmatch(key) else HIDDEN_KEY


#: keyword -> (violated when ``op(value, bound)``, the reason's words)
_BOUNDS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "minimum": (operator.lt, "at least"),
    "maximum": (operator.gt, "at most"),
    "exclusiveMinimum": (operator.le, "more than"),
    "exclusiveMaximum": (operator.ge, "less than"),
}


def _bounds(spec: dict[str, Any]) -> list[tuple[Callable[[Any, Any], bool], float, str]]:
    """The numeric bounds of ``spec`` as (violated?, bound, reason)."""
    tests = []
    for keyword, (violated, words) in _BOUNDS.items():
        bound = spec.get(keyword)
        if isinstance(bound, int | float) and not isinstance(bound, bool):
            tests.append((violated, bound, f"must be {words} {_number(bound)}"))
    return tests


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _enum(spec: dict[str, Any]) -> tuple[frozenset[Any], str] | None:
    values = spec.get("enum")
    if not isinstance(values, list) or not values:
        return None
    shown = ", ".join(str(v) for v in values[:20]) + (", ..." if len(values) > 20 else "")
    # bool is an int in Python: keep True out of an enum of 1s (and 1 out of an enum of True)
    keyed = frozenset((type(v) is bool, v) for v in values if isinstance(v, str | int | float | bool))
    return keyed, f"must be one of {shown}"


def _string(spec: dict[str, Any]) -> Check:
    low, high = spec.get("minLength"), spec.get("maxLength")
    low = low if isinstance(low, int) and not isinstance(low, bool) and low > 0 else None
    high = high if isinstance(high, int) and not isinstance(high, bool) else None
    fmt = FORMATS.get(str(spec.get("format", "")))
    raw_pattern = spec.get("pattern")
    pattern = re.compile(raw_pattern) if isinstance(raw_pattern, str) else None
    enum = _enum(spec)
    if low is None and high is None and fmt is None and pattern is None and enum is None:

        def plain(value: Any) -> None:
            if type(value) is not str:
                raise _Invalid("must be a string")

        return plain

    def check(value: Any) -> None:
        if type(value) is not str:
            raise _Invalid("must be a string")
        if enum is not None and (False, value) not in enum[0]:
            raise _Invalid(enum[1])
        if low is not None and len(value) < low:
            raise _Invalid(f"must be at least {low} characters long")
        if high is not None and len(value) > high:
            raise _Invalid(f"must be at most {high} characters long")
        if fmt is not None and not fmt[0](value):
            raise _Invalid(fmt[1])
        if pattern is not None and pattern.search(value) is None:
            raise _Invalid(f"must match the pattern {raw_pattern}")

    return check


def _number_check(spec: dict[str, Any], integer: bool) -> Check:
    bounds = _bounds(spec)
    enum = _enum(spec)
    kind = "an integer" if integer else "a number"
    types = (int,) if integer else (int, float)

    def check(value: Any) -> None:
        if type(value) not in types:
            raise _Invalid(f"must be {kind}")
        if enum is not None and (False, value) not in enum[0]:
            raise _Invalid(enum[1])
        for violated, bound, reason in bounds:
            if violated(value, bound):
                raise _Invalid(reason)

    return check


def _boolean(value: Any) -> None:
    if type(value) is not bool:
        raise _Invalid("must be true or false")


def _array(spec: dict[str, Any]) -> Check:
    items = spec.get("items")
    item = compile_field(items) if isinstance(items, dict) else None
    low, high = spec.get("minItems"), spec.get("maxItems")
    low = low if isinstance(low, int) and low > 0 else None
    high = high if isinstance(high, int) else None

    def check(value: Any) -> None:
        if type(value) is not list:
            raise _Invalid("must be an array")
        if low is not None and len(value) < low:
            raise _Invalid(f"must hold at least {low} items")
        if high is not None and len(value) > high:
            raise _Invalid(f"must hold at most {high} items")
        if item is not None:
            for index, element in enumerate(value):
                try:
                    item(element)
                except _Invalid as problem:
                    problem.path.append(str(index))
                    raise

    return check


def _object(spec: dict[str, Any]) -> Check:
    raw = spec.get("properties")
    fields = {name: compile_field(f) for name, f in raw.items() if isinstance(f, dict)} if raw else {}
    values = compile_field(spec["additionalProperties"]) if is_map(spec) else None
    closed = bool(raw) and values is None
    required = tuple(name for name in spec.get("required", ()) if isinstance(name, str))

    def check(value: Any) -> None:
        if type(value) is not dict:
            raise _Invalid("must be an object")
        for name in required:
            if name not in value:
                raise _Invalid("is required", name)
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                if values is None:
                    if closed:
                        raise _Invalid("is not a field of the schema", label(key))
                    continue
                field = values
            try:
                field(item)
            except _Invalid as problem:
                problem.path.append(key)
                raise

    return check


def compile_field(spec: dict[str, Any]) -> Check:
    """The checker of one field (or of the whole schema: an object)."""
    kind = spec.get("type")
    if kind == "string":
        return _string(spec)
    if kind == "integer":
        return _number_check(spec, integer=True)
    if kind == "number":
        return _number_check(spec, integer=False)
    if kind == "boolean":
        return _boolean
    if kind == "array":
        return _array(spec)
    if kind == "object" or "properties" in spec or is_map(spec):
        return _object(spec)
    if kind is None:
        return lambda value: None  # no type: nothing is said of the value
    return _fail(f"has a type the connector cannot check ({kind})")


class RecordValidator:
    """A compiled schema: call it with a record; raises RecordRefused naming the field and the reason."""

    def __init__(self, schema: dict[str, Any], schema_ref: str = "") -> None:
        self.schema_ref = schema_ref or str(schema.get("$id", ""))
        self._check = compile_field({**schema, "type": "object"})

    def __call__(self, record: dict[str, Any]) -> None:
        try:
            self._check(record)
        except _Invalid as problem:
            parts = problem.path[::-1]
            if len(parts) > 1 and parts[0] == "identityMap" and not is_namespace_code(parts[1]):
                parts[1] = HIDDEN_KEY
            field = ".".join(label(p) if not p.isdigit() else p for p in parts) or None
            raise RecordRefused(field, f"{field}: {problem.reason}" if field else problem.reason) from None


def compile_schema(schema: dict[str, Any], schema_ref: str = "") -> RecordValidator:
    """The validator of an ``xed-full`` schema (see the module)."""
    return RecordValidator(schema, schema_ref)
