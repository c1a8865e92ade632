"""From an SQS message body to an XDM streaming message, or to the reason it cannot be one.

Accepted bodies: a complete streaming message (``header`` + ``body.xdmEntity``), a bare XDM record
(wrapped here from configuration), or either of those inside an SNS notification. The record itself is
judged by :mod:`aep.record_rules`, as the batch function judges a file's rows (nulls and empties dropped,
``_id``, ``timestamp``, identities normalised); here the envelope is checked, and a message over AEP's
1 MB request limit is refused.

A record's fate is its own: whatever one body holds (NaN, a lone surrogate, nesting a thousand deep, a
header field of the wrong type), :func:`prepare` returns its rejection with a reason and never raises.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import PurePath
from typing import Any

from aep import strict_json
from aep.record_rules import RecordRefused, check_record
from aep.schema_cache import SchemaUnavailableError
from aep.streaming import MAX_REQUEST_BYTES, encode
from stream_ingest.envelope import CONTENT_TYPE, check_types, schema_ref
from stream_ingest.settings import StreamSettings

logger = logging.getLogger(__name__)

_ENVELOPE_OVERHEAD = len(b'{"messages":[]}')
TOO_DEEP = "message is nested too deeply"
SURROGATE = "message has a lone surrogate escape (\\ud800-\\udfff), which is not valid Unicode"
UNEXPECTED = "the message could not be prepared (an unexpected error; see the function's logs)"
OTHER_ORG = "header.imsOrgId is not the org of this message's tenant"
#: ``prepare``'s ``data`` when the body has not been parsed yet.
UNPARSED: Any = object()


@dataclass(frozen=True)
class Target:
    """Where bare records go: resolved once per container (the schema may come from the dataset).
    ``check``: the dataset schema's validator (:mod:`aep.validation`), None when records go unchecked."""

    inlet_id: str
    dataset_id: str
    schema_ref: str
    flow_id: str
    org_id: str
    check: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False, repr=False)

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
    """A message not sent: dead-lettered, or back to its queue when ``retryable`` (nothing was wrong with it
    that a later delivery cannot settle: its schema could not be fetched)."""

    message_id: str
    reason: str
    field: str | None = None
    status: int | None = None
    retryable: bool = False


def unwrap(body: str) -> Any:
    """The body's JSON, the message inside an SNS notification unwrapped. Raises StrictJsonError or
    ValueError when it is not (strict) JSON."""
    data = strict_json.loads(body)
    if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        # an SNS notification delivered to SQS without raw delivery
        return strict_json.loads(data["Message"])
    return data


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
    except RecordRefused as exc:
        return Rejected(message_id, exc.reason, exc.field, exc.status)
    except SchemaUnavailableError as exc:  # a field the cached schema lacks, and no newer copy to be had
        return Rejected(message_id, f"schema lookup failed: {exc.message}", None, exc.status, retryable=True)
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
    entity = check_record(entity, settings.rules, dataset_id=target.dataset_id, now=now)
    if target.check is not None:  # the schema, on the record as it will travel (RecordRefused)
        target.check(entity)
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
