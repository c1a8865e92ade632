"""Real-Time Customer Profile access: /data/core/ups/access/entities (GET and POST)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aep_emulator import gateway
from aep_emulator.profiles import XID, filter_fields
from aep_emulator.state import Space, State
from aep_emulator.web import Request, Response, Router, json_response

PROFILE = "_xdm.context.profile"
EVENT = "_xdm.context.experienceevent"
MAX_LINKED = 50


def routes(router: Router, state: State) -> None:
    router.add("GET", r"/data/core/ups/access/entities", gateway.in_space(state, get_entities))
    router.add("POST", r"/data/core/ups/access/entities", gateway.in_space(state, post_entities))


def _error(status: int, message: str, cause: str = "") -> Response:
    body: dict[str, Any] = {"message": message, "statusCode": str(status)}
    if cause:
        body["cause"] = cause
    return json_response(status, body)


def _profile_entry(
    space: Space, namespace: str, value: str, fields: list[str] | None
) -> dict[str, Any] | None:
    found = space.profiles.profile(namespace, value)
    if found is None:
        return None
    entity = found["entity"]
    if fields:
        if "identities" in fields:
            entity = {
                **entity,
                "identities": [{"id": v, "namespace": {"code": ns}} for ns, v in found["identities"]],
            }
        entity = filter_fields(entity, fields)
    return {
        "entityId": found["xid"],
        "mergePolicy": {"id": space.config.merge_policy_id},
        "sources": found["sources"],
        "tags": [],
        "identityGraph": [found["xid"]],
        "entity": entity,
        "lastModifiedAt": found["modified"],
    }


def _by_xid(
    space: Space, entity_id: str, refusal: str = "entityIdNS is required unless entityId is an XID"
) -> tuple[str, str] | Response:
    """An entityId given without entityIdNS must be an XID (profile.yaml: "if not an XID, entityIdNS is
    required"): the identity it stands for, or the 400/404 answer."""
    if not XID.fullmatch(entity_id):
        return _error(400, refusal)
    found = space.profiles.resolve_xid(entity_id)
    if found is None:
        return _error(404, "XDM objects not found")
    return found


def get_entities(space: Space, request: Request) -> Response:
    q = request.query
    schema = q.get("schema.name")
    if schema not in (PROFILE, EVENT):
        return _error(400, "schema.name must be _xdm.context.profile or _xdm.context.experienceevent")
    if schema == EVENT:
        return _events(space, request)
    entity_id, namespace = q.get("entityId"), q.get("entityIdNS")
    if not entity_id:
        return _error(400, "entityId is required")
    if not namespace:
        resolved = _by_xid(space, entity_id)
        if isinstance(resolved, Response):
            return resolved
        namespace, entity_id = resolved
    if space.profiles.linked(namespace, entity_id) > MAX_LINKED:
        return _error(
            422,
            f"UPS-MRG-1000001:Identities cannot be retrieved for {namespace}",
            "Too many related identities",
        )
    fields = [f for f in q.get("fields", "").split(",") if f] or None
    entry = _profile_entry(space, namespace, entity_id, fields)
    if entry is None:
        return _error(404, "XDM objects not found")
    return json_response(200, {entry["entityId"]: entry})


def _events(space: Space, request: Request) -> Response:
    q = request.query
    entity_id, namespace = q.get("relatedEntityId"), q.get("relatedEntityIdNS")
    if not entity_id:
        return _error(400, "relatedEntityId is required")
    if not namespace:
        resolved = _by_xid(space, entity_id, "relatedEntityIdNS is required unless relatedEntityId is an XID")
        if isinstance(resolved, Response):
            return resolved
        namespace, entity_id = resolved
    events = space.profiles.events(namespace, entity_id)
    start_ms, end_ms = q.get("startTime"), q.get("endTime")
    if start_ms:
        events = [e for e in events if e.timestamp_ms >= int(start_ms)]
    if end_ms:
        events = [e for e in events if e.timestamp_ms < int(end_ms)]
    descending = q.get("orderby", "+timestamp").startswith("-")
    events.sort(key=lambda e: (e.timestamp_ms, e.event_id), reverse=descending)
    limit = max(1, min(int(q.get("limit", "1000")), 1000))
    offset = int(q.get("start", "0") or 0)
    page = events[offset : offset + limit]
    xid = space.profiles.profile_id(namespace, entity_id) or ""
    has_next = offset + limit < len(events)
    next_query = {k: v for k, v in q.items() if k != "start"}
    next_query["start"] = str(offset + limit)
    href = "/entities?" + urlencode(next_query) if has_next else ""
    return json_response(
        200,
        {
            "_page": {
                "orderby": "-timestamp" if descending else "+timestamp",
                "start": str(offset),
                "count": len(page),
                "next": str(offset + limit) if has_next else "",
            },
            "children": [
                {
                    "relatedEntityId": xid,
                    "entityId": e.event_id,
                    "timestamp": e.timestamp_ms,
                    "entity": e.entity,
                    "lastModifiedAt": e.modified,
                }
                for e in page
            ],
            "_links": {"next": {"href": href}},
        },
    )


def post_entities(space: Space, request: Request) -> Response:
    try:
        body = request.json()
    except ValueError:
        return _error(400, "The request body is not valid JSON")
    if not isinstance(body, dict) or not isinstance(body.get("identities"), list):
        return _error(400, "schema and identities are required")
    if (body.get("schema") or {}).get("name") != PROFILE:
        return _error(400, "schema.name must be _xdm.context.profile")
    fields = body.get("fields") if isinstance(body.get("fields"), list) else None
    answer: dict[str, Any] = {}
    for identity in body["identities"]:
        value = identity.get("entityId") if isinstance(identity, dict) else None
        ns = ((identity.get("entityIdNS") or {}).get("code")) if isinstance(identity, dict) else None
        if not isinstance(value, str) or not value:
            return _error(400, "every identity needs entityId")
        if not ns:
            if not XID.fullmatch(value):
                return _error(400, "entityIdNS.code is required unless entityId is an XID")
            ns, key = space.profiles.resolve_xid(value) or ("", value)
            entry = _profile_entry(space, ns, key, fields) if ns else None
        else:
            if space.profiles.linked(ns, value) > MAX_LINKED:
                return _error(
                    422,
                    f"UPS-MRG-1000001:Identities cannot be retrieved for {ns}",
                    "Too many related identities",
                )
            entry = _profile_entry(space, ns, value, fields)
        if entry is None:
            answer[value] = {
                "entityId": value,
                "sources": [""],
                "entity": {},
                "lastModifiedAt": "1970-01-01T00:00:00Z",
            }
        else:
            answer[entry["entityId"]] = entry
    return json_response(200, answer)
