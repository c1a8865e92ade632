"""Every record checked against its dataset's XDM schema before it is sent.

:func:`compile_schema` turns an ``xed-full`` schema (:mod:`aep.xdm_schema`) into a checker: a tree of small
functions, one per field, built once per schema, so checking a record is a walk of the record with no
interpretation of the schema (the choice, measured against fastjsonschema and jsonschema, is in
docs/benchmarks.md). It checks types (``integer`` is a JSON integer, never a boolean or ``1.0``), required
fields, ``enum``, ``minLength``/``maxLength`` (code points), ``minimum``/``maximum`` (and their exclusive
forms; integers also within their XDM type's range), ``pattern`` (ECMA-262, searched, as JSON Schema
reads it: :mod:`aep.ecma_regex`; one Python cannot match faithfully is skipped for its field only), array
items and their count, the formats ``date-time`` (RFC 3339 with an offset), ``date``, ``email``, ``uri`` and
``uri-reference`` (the last three as :mod:`aep.formats` reads them; others are not checked), and fields the
schema does not define (closed objects; maps are open: see :mod:`aep.xdm_schema`). A refusal for such a
field is :class:`UnknownFieldRefused`.

A failure is :class:`~aep.record_rules.RecordRefused` with the field's dotted path (array indexes as
numbers, ``identityMap.Phone.0.id``) and a reason that never quotes the value: ``_acme.call.direction: must
be one of inbound, outbound``. Only the first problem is reported (the record is refused either way).

Records are checked after :func:`aep.record_rules.check_record`: empties dropped, identities normalised and
``_id`` set, i.e. the record as it will travel. The schema cache is :mod:`aep.schema_cache`.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from aep.ecma_regex import MAX_PATTERN_INPUT, PatternError, compile_pattern
from aep.formats import is_email, is_uri, is_uri_reference
from aep.normalize import is_namespace_code
from aep.record_rules import RecordRefused
from aep.xdm_schema import is_map

logger = logging.getLogger(__name__)

Check = Callable[[Any], None]

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
#: The reason of a key the schema does not define (see :class:`UnknownFieldRefused`).
UNKNOWN_FIELD = "is not a field of the schema"
#: How an unknown key, or a map key, is shown when it does not look like a field name (it could be data).
HIDDEN_KEY = "(a key that is not a field name)"


class UnknownFieldRefused(RecordRefused):
    """A refusal for a key the schema does not define: the one a newer copy of the schema may lift (a field
    added in AEP since the schema was fetched; :mod:`aep.schema_cache` fetches it again before refusing)."""


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
        datetime.fromisoformat(text.upper())  # Python 3.11+ reads "Z" as UTC
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
    "email": (is_email, "must be an e-mail address"),
    "uri": (is_uri, "must be a URI with a scheme"),
    "uri-reference": (is_uri_reference, "must be a URI reference (RFC 3986)"),
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


def _pattern(spec: dict[str, Any], where: str) -> re.Pattern[str] | None:
    """The field's ``pattern`` compiled as ECMA-262 reads it (:mod:`aep.ecma_regex`); None when it has none,
    or none Python can match faithfully: that field's pattern is then not checked (logged at compile time,
    once per schema fetch; a pattern is schema, never record data), the rest of the schema still is."""
    raw = spec.get("pattern")
    if not isinstance(raw, str):
        return None
    try:
        return compile_pattern(raw)
    except PatternError as exc:
        logger.warning(
            "a schema pattern is not checked by the connector (AEP still checks it)",
            extra={"field": where or "(root)", "pattern": raw, "why": str(exc)},
        )
        return None


def _string(spec: dict[str, Any], where: str) -> Check:
    low, high = spec.get("minLength"), spec.get("maxLength")
    low = low if isinstance(low, int) and not isinstance(low, bool) and low > 0 else None
    high = high if isinstance(high, int) and not isinstance(high, bool) else None
    fmt = FORMATS.get(str(spec.get("format", "")))
    raw_pattern = spec.get("pattern")
    pattern = _pattern(spec, where)
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
        # A string over MAX_PATTERN_INPUT is not matched (backtracking grows with the length: ecma_regex).
        if pattern is not None and len(value) <= MAX_PATTERN_INPUT and pattern.search(value) is None:
            raise _Invalid(f"must match the pattern {raw_pattern}")

    return check


#: XDM's integer types, ``meta:xdmType`` -> (minimum, maximum), as Adobe's "XDM field type constraints"
#: (experienceleague.adobe.com/en/docs/experience-platform/xdm/schema/field-constraints, "Base structure
#: and examples") writes them: Long +-9007199254740991 (2^53 - 1), Integer -2147483648..2147483648, Short
#: -32768..32767, Byte -128..128 (the page's figures, kept as they are). The Schema Registry writes a type's
#: range as ``minimum``/``maximum`` (checked as any bound); these apply on top: the field's own type when
#: ``meta:xdmType`` names it, else Long, the widest XDM integer: no XDM integer field holds a larger value.
XDM_INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "long": (-9_007_199_254_740_991, 9_007_199_254_740_991),
    "int": (-2_147_483_648, 2_147_483_648),
    "short": (-32_768, 32_767),
    "byte": (-128, 128),
}


def _integer_range(spec: dict[str, Any]) -> tuple[int, int, str]:
    """The XDM range of an integer field: (lowest, highest, reason)."""
    xdm_type = spec.get("meta:xdmType")
    kind = xdm_type if isinstance(xdm_type, str) and xdm_type in XDM_INTEGER_RANGES else "long"
    low, high = XDM_INTEGER_RANGES[kind]
    return low, high, f"must be between {low} and {high} (XDM {kind})"


def _number_check(spec: dict[str, Any], integer: bool) -> Check:
    bounds = _bounds(spec)
    low, high, outside = _integer_range(spec) if integer else (0, 0, "")
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
        if integer and not low <= value <= high:
            raise _Invalid(outside)

    return check


def _boolean(value: Any) -> None:
    if type(value) is not bool:
        raise _Invalid("must be true or false")


def _array(spec: dict[str, Any], where: str) -> Check:
    items = spec.get("items")
    item = compile_field(items, f"{where}[]") if isinstance(items, dict) else None
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


def _object(spec: dict[str, Any], where: str) -> Check:
    raw = spec.get("properties")
    fields = (
        {name: compile_field(f, _join(where, name)) for name, f in raw.items() if isinstance(f, dict)}
        if raw
        else {}
    )
    values = compile_field(spec["additionalProperties"], _join(where, "*")) if is_map(spec) else None
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
                        raise _Invalid(UNKNOWN_FIELD, label(key))
                    continue
                field = values
            try:
                field(item)
            except _Invalid as problem:
                problem.path.append(key)
                raise

    return check


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def compile_field(spec: dict[str, Any], where: str = "") -> Check:
    """The checker of one field (or of the whole schema: an object); ``where``: its dotted path, for logs."""
    kind = spec.get("type")
    if kind == "string":
        return _string(spec, where)
    if kind == "integer":
        return _number_check(spec, integer=True)
    if kind == "number":
        return _number_check(spec, integer=False)
    if kind == "boolean":
        return _boolean
    if kind == "array":
        return _array(spec, where)
    if kind == "object" or "properties" in spec or is_map(spec):
        return _object(spec, where)
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
            refused = UnknownFieldRefused if problem.reason == UNKNOWN_FIELD else RecordRefused
            raise refused(field, f"{field}: {problem.reason}" if field else problem.reason) from None


def compile_schema(schema: dict[str, Any], schema_ref: str = "") -> RecordValidator:
    """The validator of an ``xed-full`` schema (see the module)."""
    return RecordValidator(schema, schema_ref)
