"""Our own response and request shapes (documented in the OpenAPI document), not AEP's raw map."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aep.models import ExperienceEvent, ProfileEntity
from profile_lookup.settings import MAX_IDENTITIES

if TYPE_CHECKING:
    from profile_lookup.errors import ApiError

IDENTITY_MAP = "identityMap"
#: An AEP merge policy id, in a query (GET) or a body (POST).
MERGE_POLICY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"


class _Shape(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")


class IdentityView(_Shape):
    namespace: str = Field(description="The namespace code as AEP holds it.")
    id: str


class Profile(_Shape):
    """One unified profile."""

    profile_id: str = Field(alias="profileId", description="AEP's merged profile id (XID).")
    identities: list[IdentityView] = Field(description="Every identity AEP links to this profile.")
    attributes: dict[str, Any] = Field(
        description="The requested XDM attributes (the deployment's default set when none were asked)."
    )
    last_modified: str | None = Field(alias="lastModified", description="When AEP last changed it.")
    cached: bool = Field(description="Whether this answer came from the function's cache.")


class LookupItem(_Shape):
    """The answer for one identity of a multi-identity lookup, in request order. An identity that cannot be
    looked up answers ``error`` (status 400, the reason naming its position) with ``namespace`` and ``id``
    null: the caller's value is never echoed."""

    namespace: str | None = Field(description="The namespace code as asked (null for an invalid identity).")
    id: str | None = Field(description="The identity as looked up, normalised (null for an invalid one).")
    status: Literal["found", "not_found", "error"]
    profile: Profile | None = None
    error: ErrorDetail | None = None


class LookupResults(_Shape):
    results: list[LookupItem]


class IdentityIn(_Shape):
    namespace: str = Field(max_length=64)
    id: str = Field(max_length=256)


class LookupRequest(_Shape):
    """Several identities at once; ``fields`` and ``mergePolicyId`` as for one profile."""

    identities: list[IdentityIn] = Field(min_length=1, max_length=MAX_IDENTITIES)
    fields: list[str] | None = Field(
        default=None, max_length=50, description="XDM paths (none, or an empty list: the default set)."
    )
    merge_policy_id: str | None = Field(default=None, alias="mergePolicyId", pattern=MERGE_POLICY_PATTERN)


class Event(_Shape):
    id: str = Field(description="The event's _id.")
    timestamp: str | None = Field(description="When it happened (ISO 8601, UTC).")
    attributes: dict[str, Any] = Field(description="The event's XDM fields, identityMap left out.")


class Events(_Shape):
    """Recent experience events of a profile, newest first. Adobe has deprecated this upstream call and
    reserves it for some licences (Real-Time CDP Ultimate)."""

    events: list[Event]


class ErrorDetail(_Shape):
    status: int
    code: str = Field(description="A stable code: invalid-request, invalid-identity, forbidden, ...")
    message: str
    request_id: str | None = Field(default=None, alias="requestId")


class ErrorBody(_Shape):
    """Every error answer of the API, the gateway's own (401, 403, 429) included."""

    error: ErrorDetail


LookupItem.model_rebuild()


def invalid_item(error: ApiError) -> LookupItem:
    """The answer for an identity that cannot be looked up (``error`` says why)."""
    detail = ErrorDetail(status=error.status, code=error.code, message=error.message)
    return LookupItem(namespace=None, id=None, status="error", error=detail)


def profile_view(entity: ProfileEntity, *, cached: bool = False) -> Profile:
    """Our shape of AEP's merged profile; ``identityMap`` becomes ``identities``."""
    attributes = {k: v for k, v in entity.entity.items() if k != IDENTITY_MAP}
    return Profile(
        profile_id=entity.entity_id,
        identities=identities_of(entity.entity),
        attributes=attributes,
        last_modified=entity.last_modified_at,
        cached=cached,
    )


def identities_of(entity: dict[str, Any]) -> list[IdentityView]:
    found: list[IdentityView] = []
    identity_map = entity.get(IDENTITY_MAP)
    if not isinstance(identity_map, dict):
        return found
    for namespace, entries in identity_map.items():
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                found.append(IdentityView(namespace=namespace, id=entry["id"]))
    return found


def event_view(event: ExperienceEvent) -> Event:
    stamp = None
    if event.timestamp is not None:
        stamp = datetime.fromtimestamp(event.timestamp / 1000, UTC).isoformat().replace("+00:00", "Z")
    attributes = {k: v for k, v in event.entity.items() if k != IDENTITY_MAP}
    return Event(id=event.entity_id, timestamp=stamp, attributes=attributes)
