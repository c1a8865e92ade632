"""The rules an XDM record must pass before it is sent to AEP, the same for a streamed message and a row
of a file (the streaming and the batch functions both judge records here).

In order: the record must be a JSON object nested at most :data:`MAX_DEPTH` levels; null and empty values
are dropped (AEP refuses them: omitting the field is the rule); an integer ``_id`` (Adobe's own sample data
has them) becomes its decimal string, any other non-string ``_id`` is refused; an ExperienceEvent needs an
RFC 3339 ``timestamp`` with an offset, not in the future beyond the allowed clock skew; every record needs
an identity (``identityMap`` or the configured identity field) once empties are gone; identity values are
normalised by :mod:`aep.normalize` (namespaces on the allow-list, phones to E.164, e-mails lowercased); an
ExperienceEvent without ``_id`` gets a deterministic one from its normalised content and its dataset, so the
same record sent twice is the same event. :func:`check_size` holds a record to AEP's 1 MB.

A refusal carries the field and a reason a user can act on; it never quotes a value (values may be
identities). :func:`check_record` raises nothing but :class:`RecordRefused`, whatever JSON it is given.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from aep.normalize import (
    DEFAULT_NAMESPACES,
    IdentityError,
    allowed_namespaces,
    check_namespace,
    namespace_label,
    normalize_identity,
)
from aep.strict_json import compact_encoder

#: Levels of objects and arrays in a record, the record itself being the first. XDM records are a handful
#: deep; the limit keeps every later step (validation, encoding) far from Python's recursion limit.
MAX_DEPTH = 100
#: AEP's largest record (streaming: a whole request; batch: "max single record 1 MB").
MAX_RECORD_BYTES = 1_000_000
TOO_DEEP = f"the record is nested more than {MAX_DEPTH} levels deep"
NOT_AN_OBJECT = "the record must be a JSON object"
RecordClass = Literal["experienceevent", "profile"]


class RecordRefused(Exception):
    """One record's refusal: ``field`` (a dotted XDM path, or None), ``reason`` (never a value), ``status``
    (an HTTP-like code when the refusal mirrors one of AEP's, such as 413 for size)."""

    def __init__(self, field: str | None, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class RecordRules:
    """How records of one destination are judged (one per dataset, or per tenant and dataset)."""

    record_class: RecordClass = "experienceevent"
    namespaces: frozenset[str] = frozenset(allowed_namespaces(DEFAULT_NAMESPACES))
    identity_field: str | None = None
    identity_namespace: str | None = None
    default_phone_region: str = "US"
    max_clock_skew_seconds: float = 60.0

    @classmethod
    def build(
        cls,
        *,
        record_class: RecordClass = "experienceevent",
        allowed: Iterable[str] | None = None,
        identity_field: str | None = None,
        identity_namespace: str | None = None,
        default_phone_region: str = "US",
        max_clock_skew_seconds: float = 60.0,
    ) -> RecordRules:
        """Rules from configuration: ``allowed`` namespace codes (None: the defaults plus the identity
        field's namespace). Raises ValueError when the pieces do not fit together."""
        if bool(identity_field) != bool(identity_namespace):
            raise ValueError("an identity field and its namespace go together (set both or neither)")
        namespaces = namespaces_for(allowed, identity_namespace)
        if not re.fullmatch(r"[A-Z]{2}", default_phone_region):
            raise ValueError("the default phone region must be two capital letters (ISO 3166), such as US")
        return cls(
            record_class=record_class,
            namespaces=frozenset(namespaces),
            identity_field=identity_field or None,
            identity_namespace=identity_namespace or None,
            default_phone_region=default_phone_region,
            max_clock_skew_seconds=max_clock_skew_seconds,
        )


def namespaces_for(allowed: Iterable[str] | None, identity_namespace: str | None = None) -> frozenset[str]:
    """The namespaces records (and lookups) may use, lowercased: ``allowed`` codes, or when None the defaults
    (:data:`aep.normalize.DEFAULT_NAMESPACES`) plus ``identity_namespace``. Raises ValueError when ``allowed``
    leaves out ``identity_namespace`` (records carrying it could never be sent)."""
    if allowed is None:
        extra = (identity_namespace,) if identity_namespace else ()
        return frozenset(allowed_namespaces((*DEFAULT_NAMESPACES, *extra)))
    namespaces = frozenset(allowed_namespaces(tuple(allowed)))
    if identity_namespace and identity_namespace.strip().lower() not in namespaces:
        raise ValueError(f"the allowed namespaces must include {identity_namespace}")
    return namespaces


#: RFC 3339 section 5.6 date-time, as XDM's ``timestamp`` requires (pydantic alone would also take a
#: number or a string of digits as Unix time, and a date without time; AEP would refuse them later).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: Any) -> Any:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "rfc3339", "must be an RFC 3339 date-time string with a timezone, such as 2026-11-29T09:30:00Z"
        )
    return value


class _Identity(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1)
    primary: StrictBool | None = None


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    id: str | None = Field(default=None, alias="_id", min_length=1)
    identity_map: dict[str, list[_Identity]] | None = Field(default=None, alias="identityMap")


class _Event(_Record):
    timestamp: Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


_CONTAINERS = (dict, list)


def clean(value: Any, depth: int = 1) -> Any:
    """Drop null and empty values, recursively (AEP refuses them; omitting the field is the rule).

    ``depth`` is the level of ``value``; an object or array deeper than MAX_DEPTH is refused. A scalar is
    kept unless it is null or ""; an object or array unless it is empty once cleaned. (Written for speed:
    every record of every file passes here; a scalar costs no call.)
    """
    if isinstance(value, dict):
        if depth > MAX_DEPTH:
            raise RecordRefused(None, TOO_DEEP)
        out = {}
        for key, item in value.items():
            if isinstance(item, _CONTAINERS):
                inner = clean(item, depth + 1)
                if inner:
                    out[key] = inner
            elif item is not None and item != "":
                out[key] = item
        return out
    if isinstance(value, list):
        if depth > MAX_DEPTH:
            raise RecordRefused(None, TOO_DEEP)
        items = []
        for item in value:
            if isinstance(item, _CONTAINERS):
                inner = clean(item, depth + 1)
                if inner:
                    items.append(inner)
            elif item is not None and item != "":
                items.append(item)
        return items
    return value


#: The canonical form of a record: ``json.dumps(record, sort_keys=True, separators=(",", ":"),
#: ensure_ascii=False)``.
_CANONICAL = compact_encoder(sort_keys=True)


def deterministic_id(record: dict[str, Any], dataset_id: str) -> str:
    """A stable ``_id`` from the record's content and its destination: the same record, the same event."""
    return hashlib.sha256(f"{dataset_id}|{_CANONICAL(record)}".encode()).hexdigest()


def check_record(entity: Any, rules: RecordRules, *, dataset_id: str, now: datetime) -> dict[str, Any]:
    """The record cleaned, checked and normalised, ready to encode; RecordRefused when it cannot be sent.

    ``entity`` is any parsed JSON value; ``now`` an aware datetime (the future-timestamp bound).
    """
    try:
        return _check(entity, rules, dataset_id, now)
    except RecursionError:
        raise RecordRefused(None, TOO_DEEP) from None


def _check(entity: Any, rules: RecordRules, dataset_id: str, now: datetime) -> dict[str, Any]:
    if not isinstance(entity, dict):
        raise RecordRefused(None, NOT_AN_OBJECT)
    record: dict[str, Any] = clean(entity)
    record_id = record.get("_id")
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        record["_id"] = str(record_id)  # exact: a JSON integer parses to an unbounded Python int
    _validate(record, rules, now)
    _normalise_identities(record, rules)
    if rules.record_class == "experienceevent" and "_id" not in record:
        # After normalisation: the same call recorded with differently formatted numbers is one event.
        record["_id"] = deterministic_id(record, dataset_id)
    return record


def check_size(encoded: bytes, limit: int = MAX_RECORD_BYTES) -> None:
    """Refuse (413) an encoded record over AEP's record size limit."""
    if len(encoded) > limit:
        raise RecordRefused(
            None, f"the record is {len(encoded)} bytes; AEP accepts at most 1 MB per record", 413
        )


def field_of(error: ErrorDetails) -> str:
    """The dotted path of a validation error, with identityMap keys shown only when they are codes."""
    parts = [str(part) for part in error["loc"]]
    if len(parts) > 1 and parts[0] == "identityMap":
        parts[1] = namespace_label(parts[1])  # a key may be anything, an e-mail address too
    return ".".join(parts)


def _validate(entity: dict[str, Any], rules: RecordRules, now: datetime) -> None:
    event = rules.record_class == "experienceevent"
    checked = plainly_valid(entity, event=event)
    if checked is None:  # not plain to see: the models decide, and say why when they refuse
        checked = _validated(entity, event=event)
    timestamp, has_map = checked
    if timestamp is not None and timestamp > now + timedelta(seconds=rules.max_clock_skew_seconds):
        raise RecordRefused("timestamp", "timestamp: is in the future")
    has_field = bool(rules.identity_field and get_path(entity, rules.identity_field))
    if not has_map and not has_field:
        where = f"identityMap or {rules.identity_field}" if rules.identity_field else "identityMap"
        raise RecordRefused("identityMap", f"the record has no identity ({where})")


def _validated(entity: dict[str, Any], *, event: bool) -> tuple[datetime | None, bool]:
    """(timestamp, whether identityMap is non-empty) of a record the models accept; RecordRefused with the
    first error's field and message otherwise."""
    model = _Event if event else _Record
    try:
        parsed = model.model_validate(entity)
    except ValidationError as exc:
        error = exc.errors()[0]  # its loc and msg only: never its input (it may be an identity)
        raise RecordRefused(field_of(error), f"{field_of(error)}: {error['msg']}") from None
    timestamp = parsed.timestamp if isinstance(parsed, _Event) else None
    return timestamp, bool(parsed.identity_map)  # cleaned: no empty namespace list is left


#: The usual shape of an RFC 3339 timestamp, narrower than :data:`_RFC3339` (ASCII digits, in range hours,
#: minutes, seconds and offsets, at most microseconds): one that ``datetime.fromisoformat`` reads as
#: pydantic does. Any other (valid or not) is left to pydantic.
_PLAIN_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)


def _plain_text(value: Any) -> bool:
    """A non-empty string the models read as one (a lone surrogate is not Unicode to them)."""
    if not isinstance(value, str) or not value:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def plainly_valid(record: dict[str, Any], *, event: bool) -> tuple[datetime | None, bool] | None:
    """What the models would answer for a ``record`` they accept, (timestamp, whether identityMap is
    non-empty), found without them when the record plainly fits: an ``_id`` that is a non-empty string if
    any, an ``identityMap`` whose keys are strings and whose values are lists of objects with a non-empty
    string ``id`` and a boolean ``primary`` if any, and for an event a timestamp of the usual shape. None
    when that is not plain to see: the models then decide, and give the reason of a refusal.
    tests/unit/test_record_rules_fast.py holds this to the models' answer.
    """
    if "id" in record or "identity_map" in record:
        return None  # the models also read these names (populate_by_name)
    if "_id" in record and not _plain_text(record["_id"]):
        return None
    identity_map = record.get("identityMap")
    if identity_map is not None:
        if not isinstance(identity_map, dict):
            return None
        for namespace, entries in identity_map.items():
            if not _plain_text(namespace) or not isinstance(entries, list):
                return None
            for entry in entries:
                if (
                    not isinstance(entry, dict)
                    or not _plain_text(entry.get("id"))
                    or not isinstance(entry.get("primary", False), bool)
                ):
                    return None
    timestamp = None
    if event:
        text = record.get("timestamp")
        if not isinstance(text, str) or not _PLAIN_TIMESTAMP.fullmatch(text):
            return None
        try:
            timestamp = datetime.fromisoformat(text)
        except ValueError:  # a day out of range: the models give the reason
            return None
    return timestamp, bool(identity_map)


def get_path(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, or None."""
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _normalise_identities(entity: dict[str, Any], rules: RecordRules) -> None:
    region = rules.default_phone_region
    for namespace, entries in (entity.get("identityMap") or {}).items():
        try:
            check_namespace(namespace, rules.namespaces)
        except IdentityError as exc:
            label = namespace_label(namespace)
            field = f"identityMap.{label}" if label == namespace else "identityMap"
            raise RecordRefused(field, f"{field}: {exc}") from None
        for index, entry in enumerate(entries):
            try:
                entry["id"] = normalize_identity(namespace, entry["id"], region)
            except IdentityError as exc:
                field = f"identityMap.{namespace}.{index}.id"
                raise RecordRefused(field, f"{field}: {exc}") from None
    if rules.identity_field and rules.identity_namespace:
        value = get_path(entity, rules.identity_field)
        if isinstance(value, str):
            try:
                normalised = normalize_identity(rules.identity_namespace, value, region)
            except IdentityError as exc:
                raise RecordRefused(rules.identity_field, f"{rules.identity_field}: {exc}") from None
            parts = rules.identity_field.split(".")
            node = entity
            for part in parts[:-1]:
                node = node[part]
            node[parts[-1]] = normalised
