"""From an SQS message body to an XDM streaming message, or to the reason it cannot be one.

Accepted bodies: a complete streaming message (``header`` + ``body.xdmEntity``), a bare XDM record
(wrapped here from configuration), or either of those inside an SNS notification. Before sending:
null and empty values are removed (AEP refuses them), an ExperienceEvent needs a string ``_id`` (a
deterministic one is derived from the content when missing, so a redelivered record is the same event) and
an RFC 3339 ``timestamp`` not in the future, every record needs an identity, identity values are
normalised (namespaces on the allow-list), and a message over AEP's 1 MB request limit is refused.

A record's fate is its own: whatever one body holds (NaN, a lone surrogate, nesting a thousand deep, a
header field of the wrong type), :func:`prepare` returns its rejection with a reason and never raises.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import PurePath
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from aep.normalize import IdentityError, check_namespace, namespace_label, normalize_identity
from aep.streaming import MAX_REQUEST_BYTES, encode
from stream_ingest import strict_json
from stream_ingest.envelope import CONTENT_TYPE, check_types, schema_ref
from stream_ingest.settings import StreamSettings

logger = logging.getLogger(__name__)

_ENVELOPE_OVERHEAD = len(b'{"messages":[]}')
#: Levels of objects and arrays in an xdmEntity, the entity itself being the first. XDM records are a
#: handful deep; the limit keeps every later step (validation, encoding) far from Python's recursion limit.
MAX_DEPTH = 100
TOO_DEEP = "message is nested too deeply"
SURROGATE = "message has a lone surrogate escape (\\ud800-\\udfff), which is not valid Unicode"
UNEXPECTED = "the message could not be prepared (an unexpected error; see the function's logs)"
OTHER_ORG = "header.imsOrgId is not the org of this message's tenant"
#: ``prepare``'s ``data`` when the body has not been parsed yet.
UNPARSED: Any = object()


@dataclass(frozen=True)
class Target:
    """Where bare records go: resolved once per container (the schema may come from the dataset)."""

    inlet_id: str
    dataset_id: str
    schema_ref: str
    flow_id: str
    org_id: str

    def envelope(self, entity: dict[str, Any]) -> dict[str, Any]:
        """The streaming message around a bare record."""
        schema = {"id": self.schema_ref, "contentType": CONTENT_TYPE}
        header: dict[str, Any] = {
            "schemaRef": schema,
            "imsOrgId": self.org_id,
            "datasetId": self.dataset_id,
            "flowId": self.flow_id,
        }
        return {"header": header, "body": {"xdmMeta": {"schemaRef": schema}, "xdmEntity": entity}}

    @cached_property
    def _encoded_envelope(self) -> tuple[bytes, bytes]:
        return self._envelope_around_entity()

    def _envelope_around_entity(self) -> tuple[bytes, bytes]:
        """The encoded envelope before and after its (empty) entity."""
        whole = encode(self.envelope({}))
        cut = whole.rindex(b"{}")
        return whole[:cut], whole[cut + 2 :]

    def encode_bare(self, entity: dict[str, Any]) -> bytes:
        """``encode(self.envelope(entity))`` without encoding the constant envelope again for every record."""
        prefix, suffix = self._encoded_envelope
        return prefix + encode(entity) + suffix


@dataclass
class Prepared:
    message_id: str
    message: dict[str, Any]
    group: str | None
    encoded: bytes  # the message as it travels: encoded once, for the size check and the request


@dataclass
class Rejected:
    message_id: str
    reason: str
    field: str | None = None
    status: int | None = None


class _Refusal(Exception):
    """This record's rejection, raised from deep inside its preparation."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


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
    identity_map: dict[str, list[_Identity]] | None = Field(default=None, alias="identityMap")


class _Event(_Record):
    id: str | None = Field(default=None, alias="_id", min_length=1)
    timestamp: Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def _empty(value: Any) -> bool:
    return value is None or (not value and isinstance(value, (str, list, dict)))


def _too_deep() -> _Refusal:
    return _Refusal("body.xdmEntity", f"xdmEntity is nested more than {MAX_DEPTH} levels deep")


def clean(value: Any, depth: int = 1) -> Any:
    """Drop null and empty values, recursively (AEP refuses them; omitting the field is the rule).

    ``depth`` is the level of ``value``; an object or array deeper than MAX_DEPTH is refused.
    """
    if isinstance(value, dict):
        if depth > MAX_DEPTH:
            raise _too_deep()
        out = {}
        for key, item in value.items():
            kept = clean(item, depth + 1)
            if not _empty(kept):
                out[key] = kept
        return out
    if isinstance(value, list):
        if depth > MAX_DEPTH:
            raise _too_deep()
        items = [clean(item, depth + 1) for item in value]
        return [item for item in items if not _empty(item)]
    return value


def deterministic_id(record: dict[str, Any], dataset_id: str) -> str:
    """A stable ``_id`` from the record's content and its destination: the same record, the same event."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{dataset_id}|{canonical}".encode()).hexdigest()


def unwrap(body: str) -> Any:
    """The body's JSON, the message inside an SNS notification unwrapped. Raises StrictJsonError or
    ValueError when it is not (strict) JSON."""
    data = strict_json.loads(body)
    if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        # an SNS notification delivered to SQS without raw delivery
        return strict_json.loads(data["Message"])
    return data


def _field_of(error: ErrorDetails) -> str:
    parts = [str(part) for part in error["loc"]]
    if len(parts) > 1 and parts[0] == "identityMap":
        parts[1] = namespace_label(parts[1])  # a key may be anything, an e-mail address too
    return ".".join(parts)


def prepare(
    message_id: str,
    body: str,
    *,
    group: str | None,
    settings: StreamSettings,
    target: Target,
    now: datetime | None = None,
    data: Any = UNPARSED,
) -> Prepared | Rejected:
    """Parse, validate and normalise one SQS message body into a streaming message, or its rejection.

    ``data``: the body already parsed by :func:`unwrap` (the routing step reads it once), else parsed here.
    Never raises: whatever goes wrong with one body is that body's rejection (an unexpected error too,
    logged by type and place, never with the record's content).
    """
    try:
        return _prepare(
            message_id,
            body,
            group,
            settings=settings,
            target=target,
            now=now or datetime.now(UTC),
            data=data,
        )
    except _Refusal as exc:
        return Rejected(message_id, exc.reason, exc.field)
    except RecursionError:
        return Rejected(message_id, TOO_DEEP)
    except UnicodeEncodeError:
        return Rejected(message_id, SURROGATE)
    except Exception as exc:  # the per-record guard: one body must never fail the batch
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        # Type and place only, no traceback: an exception's text may quote the record (an identity value).
        logger.error(
            "unexpected error while preparing a message",
            extra={
                "message_id": message_id,
                "error_type": type(exc).__name__,
                "where": f"{PurePath(frame.filename).name}:{frame.lineno}",
            },
        )
        return Rejected(message_id, UNEXPECTED)


def _prepare(
    message_id: str,
    body: str,
    group: str | None,
    *,
    settings: StreamSettings,
    target: Target,
    now: datetime,
    data: Any,
) -> Prepared | Rejected:
    if data is UNPARSED:
        try:
            data = unwrap(body)
        except strict_json.StrictJsonError as exc:
            return Rejected(message_id, str(exc))
        except ValueError:
            return Rejected(message_id, "message body is not JSON")
    if not isinstance(data, dict):
        return Rejected(message_id, "message body must be a JSON object")
    if "header" in data or "body" in data:
        header, payload = data.get("header"), data.get("body")
        if (
            not isinstance(header, dict)
            or not isinstance(payload, dict)
            or not isinstance(payload.get("xdmEntity"), dict)
        ):
            return Rejected(message_id, "a streaming message needs header and body.xdmEntity objects", "body")
        problem = check_types(header, payload)
        if problem is not None:
            return Rejected(message_id, problem[1], problem[0])
        if header.get("datasetId", target.dataset_id) != target.dataset_id:
            return Rejected(
                message_id, "header.datasetId is not the dataset of this inlet", "header.datasetId"
            )
        if header.get("imsOrgId") and header["imsOrgId"] != target.org_id:
            # Never passed through: a message must not reach (or name) another brand's org.
            return Rejected(message_id, OTHER_ORG, "header.imsOrgId")
        entity = payload["xdmEntity"]
    else:
        header, payload, entity = {}, {}, data
    entity = clean(entity)
    problem = _validate(entity, settings, now)
    if problem is None:
        problem = _normalise_identities(entity, settings)
    if problem is not None:
        return Rejected(message_id, problem[1], problem[0])
    if settings.record_class == "experienceevent" and "_id" not in entity:
        # After normalisation: the same call recorded with differently formatted numbers is one event.
        entity["_id"] = deterministic_id(entity, target.dataset_id)
    if not header and not payload:
        return _sized(message_id, target.envelope(entity), group, target.encode_bare(entity))
    schema = schema_ref(header, payload, target.schema_ref, target.dataset_id)
    if isinstance(schema, tuple):
        return Rejected(message_id, schema[1], schema[0])
    message_header = {
        **header,
        "schemaRef": schema,
        "imsOrgId": target.org_id,
        "datasetId": target.dataset_id,
        "flowId": header.get("flowId") or target.flow_id,
    }
    message = {
        "header": message_header,
        "body": {**payload, "xdmMeta": {"schemaRef": schema}, "xdmEntity": entity},
    }
    return _sized(message_id, message, group, encode(message))


def _sized(
    message_id: str, message: dict[str, Any], group: str | None, encoded: bytes
) -> Prepared | Rejected:
    if len(encoded) + _ENVELOPE_OVERHEAD > MAX_REQUEST_BYTES:
        size = len(encoded)
        return Rejected(
            message_id, f"message is {size} bytes; AEP accepts at most 1 MB per request", None, 413
        )
    return Prepared(message_id, message, group, encoded)


def _validate(entity: dict[str, Any], settings: StreamSettings, now: datetime) -> tuple[str, str] | None:
    model = _Event if settings.record_class == "experienceevent" else _Record
    try:
        parsed = model.model_validate(entity)
    except ValidationError as exc:
        error = exc.errors()[0]  # its loc and msg only: never its input (it may be an identity)
        return _field_of(error), f"{_field_of(error)}: {error['msg']}"
    if isinstance(parsed, _Event) and parsed.timestamp > now + timedelta(
        seconds=settings.max_clock_skew_seconds
    ):
        return "timestamp", "timestamp: is in the future"
    has_map = bool(parsed.identity_map)  # cleaned: no empty namespace list is left
    has_field = bool(settings.identity_field and _get(entity, settings.identity_field))
    if not has_map and not has_field:
        where = f"identityMap or {settings.identity_field}" if settings.identity_field else "identityMap"
        return "identityMap", f"the record has no identity ({where})"
    return None


def _get(record: dict[str, Any], path: str) -> Any:
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _normalise_identities(entity: dict[str, Any], settings: StreamSettings) -> tuple[str, str] | None:
    region = settings.default_phone_region
    allowed = settings.namespaces
    for namespace, entries in (entity.get("identityMap") or {}).items():
        try:
            check_namespace(namespace, allowed)
        except IdentityError as exc:
            label = namespace_label(namespace)
            field = f"identityMap.{label}" if label == namespace else "identityMap"
            return field, f"{field}: {exc}"
        for index, entry in enumerate(entries):
            try:
                entry["id"] = normalize_identity(namespace, entry["id"], region)
            except IdentityError as exc:
                field = f"identityMap.{namespace}.{index}.id"
                return field, f"{field}: {exc}"
    if settings.identity_field and settings.identity_namespace:
        value = _get(entity, settings.identity_field)
        if isinstance(value, str):
            try:
                normalised = normalize_identity(settings.identity_namespace, value, region)
            except IdentityError as exc:
                return settings.identity_field, f"{settings.identity_field}: {exc}"
            parts = settings.identity_field.split(".")
            node = entity
            for part in parts[:-1]:
                node = node[part]
            node[parts[-1]] = normalised
    return None
