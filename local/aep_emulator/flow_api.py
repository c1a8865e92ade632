"""Flow Service for HTTP API streaming (/data/foundation/flowservice): the documented chain
base connection -> source connection -> target connection -> dataflow, and the specs it names.

A base connection of the HTTP API spec gets an inlet id and URL (on this emulator's address, from the
request's Host); a dataflow from its source connection to a Data Lake target connection makes that inlet
live in the streaming API: records posted to it land in the target's dataset, checked against its schema.
Only what HTTP API streaming needs is served: the XDM data type, the no-mapping flow spec, one dataflow
per base connection. Items come back as ``{"items": [...]}``; errors carry Flow Service's
``NNNN-<status>`` codes (``1101-404`` not found, ``1401-400`` count with limit, ``1410-400`` state on
create, ``1425-400`` dataset and schema disagree); the body's exact shape is not documented.
"""

from __future__ import annotations

import copy
import secrets
import time
import uuid
from typing import Any

from aep_emulator import gateway
from aep_emulator.config import Inlet
from aep_emulator.state import Space, State
from aep_emulator.web import Request, Response, Router, json_response
from aep_emulator.xdm_http import query_all

BASE = "/data/foundation/flowservice"
HTTP_API = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"
HTTP_PROVIDER = "521eee4d-8cbe-4906-bb48-fb6bd4450033"
DATA_LAKE = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
FLOW_SPEC = "d8a6f005-7eaf-4153-983e-e8574508b877"
MAPPING_FLOW_SPEC = "c1a19761-d2c7-4702-b9fa-fe91f0613e81"
CONNECTION_SPECS = {
    HTTP_API: {"id": HTTP_API, "name": "HTTP API", "providerId": HTTP_PROVIDER, "version": "1.0"},
    DATA_LAKE: {"id": DATA_LAKE, "name": "Data Lake", "providerId": DATA_LAKE, "version": "1.0"},
}
FLOW_SPECS = {
    FLOW_SPEC: {"id": FLOW_SPEC, "name": "Steam data without transformations", "version": "1.0"},
    MAPPING_FLOW_SPEC: {"id": MAPPING_FLOW_SPEC, "name": "Mapping", "version": "1.0"},
}
KINDS = ("connections", "sourceConnections", "targetConnections", "flows")


def routes(router: Router, state: State) -> None:
    def add(method: str, path: str, handler: Any) -> None:
        router.add(method, BASE + path, gateway.in_space(state, handler))

    add("GET", r"/connectionSpecs", lambda s, r: _specs(r, CONNECTION_SPECS))
    add("GET", r"/connectionSpecs/(?P<id>[^/]+)", lambda s, r: _spec(r, CONNECTION_SPECS))
    add("GET", r"/flowSpecs", lambda s, r: _specs(r, FLOW_SPECS))
    add("GET", r"/flowSpecs/(?P<id>[^/]+)", lambda s, r: _spec(r, FLOW_SPECS))
    add("POST", r"/connections", create_connection)
    add("POST", r"/sourceConnections", create_source)
    add("POST", r"/targetConnections", create_target)
    add("POST", r"/flows", lambda space, request: create_flow(state, space, request))
    for kind in KINDS:
        add("GET", rf"/{kind}", lambda s, r, k=kind: listing(s, r, k))
        add("GET", rf"/{kind}/(?P<id>[^/]+)", lambda s, r, k=kind: lookup(s, r, k))


def error(status: int, code: str, message: str) -> Response:
    return json_response(
        status,
        {
            "type": f"https://ns.adobe.com/aep/errors/FLOW-{code}",
            "title": message.split(":", maxsplit=1)[0],
            "status": status,
            "detail": message,
            "report": {"detailed-message": message},
        },
    )


def _path(item: dict[str, Any], dotted: str) -> Any:
    node: Any = item
    for part in dotted.removesuffix("[]").split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _matches(item: dict[str, Any], filters: list[str]) -> bool:
    """``property=a.b==value`` on any path (``ids[]==x``: the array holds x), ``!=``, bare = exists."""
    for expression in filters:
        key, op, value = expression.partition("!=") if "!=" in expression else expression.partition("==")
        have = _path(item, key.strip())
        values = [str(v) for v in have] if isinstance(have, list) else [] if have is None else [str(have)]
        if (
            (not op and not values)
            or (op == "==" and value not in values)
            or (op == "!=" and value in values)
        ):
            return False
    return True


def _specs(request: Request, specs: dict[str, dict[str, Any]]) -> Response:
    found = [copy.deepcopy(s) for s in specs.values() if _matches(s, query_all(request, "property"))]
    return json_response(200, {"items": found})


def _spec(request: Request, specs: dict[str, dict[str, Any]]) -> Response:
    spec = specs.get(request.params["id"])
    if spec is None:
        return error(404, "1101-404", f"Entity not found: {request.params['id']}")
    return json_response(200, {"items": [copy.deepcopy(spec)]})


def _body(request: Request) -> dict[str, Any] | Response:
    if "json" not in (request.header("content-type") or "").lower():
        return error(400, "1000-400", "Bad request: a valid content-type must be specified")
    try:
        body = request.json()
    except ValueError:
        return error(400, "1000-400", "Bad request: the body is not valid JSON")
    if not isinstance(body, dict):
        return error(400, "1000-400", "Bad request: the body must be an object")
    if "state" in body:
        return error(400, "1410-400", "Invalid field: state cannot be set on create")
    return body


def _spec_ref(body: dict[str, Any], key: str, allowed: dict[str, dict[str, Any]]) -> str | None:
    ref = body.get(key)
    if not isinstance(ref, dict) or ref.get("id") not in allowed or str(ref.get("version", "1.0")) != "1.0":
        return f"Bad request: {key} must be one of {sorted(allowed)} version 1.0"
    return None


def _store(space: Space, request: Request, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """A new item of ``kind`` with Flow Service's bookkeeping."""
    item_id = str(uuid.uuid4())
    now = int(time.time() * 1000)
    client = request.header("x-api-key") or ""
    item = {
        "id": item_id,
        "createdAt": now,
        "updatedAt": now,
        "createdBy": f"{client}@AdobeID",
        "updatedBy": f"{client}@AdobeID",
        "createdClient": client,
        "updatedClient": client,
        "sandboxId": space.registry.sandbox_id,
        "sandboxName": space.sandbox,
        "imsOrgId": space.config.org_id,
        **copy.deepcopy(body),
        "state": "enabled",
        "version": '"1"',
        "etag": f'"{uuid.uuid4()}"',
    }
    space.flow.setdefault(kind, {})[item_id] = item
    return item


def _created(kind: str, item: dict[str, Any]) -> Response:
    """201 ``{id, etag}`` and the item's Location."""
    location = f"https://platform.adobe.io{BASE}/{kind}/{item['id']}"
    return json_response(201, {"id": item["id"], "etag": item["etag"]}, {"Location": location})


def create_connection(space: Space, request: Request) -> Response:
    body = _body(request)
    if isinstance(body, Response):
        return body
    if problem := _spec_ref(body, "connectionSpec", {HTTP_API: CONNECTION_SPECS[HTTP_API]}):
        return error(400, "1000-400", problem)
    auth = body.get("auth")
    params = auth.get("params") if isinstance(auth, dict) else None
    if not isinstance(params, dict) or not isinstance(body.get("name"), str):
        return error(400, "1000-400", "Bad request: name and auth.params are required")
    if params.get("dataType", "xdm") != "xdm":
        return error(400, "1000-400", "Bad request: the emulator's HTTP API connections take dataType xdm")
    if not isinstance(params.get("authenticationRequired", False), bool):
        return error(400, "1000-400", "Bad request: authenticationRequired must be a boolean")
    inlet_id = secrets.token_hex(32)
    host = request.header("host") or "127.0.0.1"
    body["auth"] = {
        **auth,  # type: ignore[dict-item]
        "params": {
            **params,
            "sourceId": params.get("sourceId") or params.get("name") or body["name"],
            "dataType": "xdm",
            "authenticationRequired": params.get("authenticationRequired", False),
            "inletId": inlet_id,
            "inletUrl": f"http://{host}/collection/{inlet_id}",
        },
    }
    with space.lock:
        return _created("connections", _store(space, request, "connections", body))


def create_source(space: Space, request: Request) -> Response:
    body = _body(request)
    if isinstance(body, Response):
        return body
    if problem := _spec_ref(body, "connectionSpec", {HTTP_API: CONNECTION_SPECS[HTTP_API]}):
        return error(400, "1000-400", problem)
    if not isinstance(body.get("name"), str):
        return error(400, "1000-400", "Bad request: name is required")
    with space.lock:
        if body.get("baseConnectionId") not in space.flow.get("connections", {}):
            return error(
                400, "1000-400", f"Bad request: base connection {body.get('baseConnectionId')} not found"
            )
        body.setdefault("data", {"format": "json"})  # the tutorial omits data; the spec requires it
        return _created("sourceConnections", _store(space, request, "sourceConnections", body))


def create_target(space: Space, request: Request) -> Response:
    body = _body(request)
    if isinstance(body, Response):
        return body
    if problem := _spec_ref(body, "connectionSpec", {DATA_LAKE: CONNECTION_SPECS[DATA_LAKE]}):
        return error(400, "1000-400", problem)
    data, params = body.get("data"), body.get("params")
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(schema, dict) or not isinstance(params, dict) or not params.get("dataSetId"):
        return error(400, "1000-400", "Bad request: data.schema and params.dataSetId are required")
    with space.lock:
        if schema.get("id") not in space.registry.resources:
            return error(400, "1000-400", f"Bad request: schema {schema.get('id')} not found")
        dataset = space.dataset(str(params["dataSetId"]))
        if dataset is None:
            return error(400, "1000-400", f"Bad request: dataset {params['dataSetId']} not found")
        if dataset.schema_ref != schema["id"]:
            return error(
                400, "1425-400", f"Schema mismatch: dataset {dataset.id} is not of schema {schema['id']}"
            )
        return _created("targetConnections", _store(space, request, "targetConnections", body))


def create_flow(state: State, space: Space, request: Request) -> Response:
    body = _body(request)
    if isinstance(body, Response):
        return body
    if problem := _spec_ref(body, "flowSpec", {FLOW_SPEC: FLOW_SPECS[FLOW_SPEC]}):
        return error(400, "1000-400", problem + " (the emulator streams without mapping)")
    sources, targets = body.get("sourceConnectionIds"), body.get("targetConnectionIds")
    if (
        not isinstance(sources, list)
        or not isinstance(targets, list)
        or len(sources) != 1
        or len(targets) != 1
    ):
        return error(
            400, "1000-400", "Bad request: one sourceConnectionIds and one targetConnectionIds entry"
        )
    with space.lock:
        source = space.flow.get("sourceConnections", {}).get(str(sources[0]))
        target = space.flow.get("targetConnections", {}).get(str(targets[0]))
        if source is None or target is None:
            return error(400, "1000-400", "Bad request: source or target connection not found")
        base = space.flow["connections"][source["baseConnectionId"]]
        params = base["auth"]["params"]
        existing = state.inlets.get(params["inletId"])
        if existing is not None:
            return error(400, "1000-400", "Bad request: the emulator serves one dataflow per base connection")
        flow = _store(space, request, "flows", body)
        flow["inheritedAttributes"] = {
            "sourceConnections": [{"id": source["id"], "connectionSpec": source["connectionSpec"]}],
            "targetConnections": [{"id": target["id"], "connectionSpec": target["connectionSpec"]}],
            "properties": {"isSourceFlow": True},
        }
        inlet = Inlet(
            id=params["inletId"],
            dataset_id=str(target["params"]["dataSetId"]),
            flow_id=flow["id"],
            authenticated=bool(params["authenticationRequired"]),
            sandbox=space.sandbox,
        )
        state.inlets[inlet.id] = (state.orgs[space.config.org_id], inlet)
        return _created("flows", flow)


def listing(space: Space, request: Request, kind: str) -> Response:
    """Filtered by ``property`` (repeated: AND); ``limit`` with ``continuationToken``; ``count=true``."""
    count = request.query.get("count", "").lower() == "true"
    if count and "limit" in request.query:
        return error(400, "1401-400", "Invalid request: count cannot be used with limit")
    try:
        limit = int(request.query.get("limit", "1000"))
        offset = int(request.query.get("continuationToken", "0"))
    except ValueError:
        return error(400, "1000-400", "Bad request: limit and continuationToken must be numbers")
    with space.lock:
        items = [
            copy.deepcopy(i)
            for i in space.flow.get(kind, {}).values()
            if _matches(i, query_all(request, "property"))
        ]
    if count:
        return json_response(200, {"count": len(items)})
    chosen = items[offset : offset + max(limit, 0)]
    following = offset + len(chosen)
    links: dict[str, Any] = {}
    if following < len(items):
        links["next"] = {"href": f"{BASE}/{kind}?limit={limit}&continuationToken={following}"}
    return json_response(200, {"items": chosen, "_links": links})


def lookup(space: Space, request: Request, kind: str) -> Response:
    with space.lock:
        item = space.flow.get(kind, {}).get(request.params["id"])
        if item is None:
            return error(404, "1101-404", f"Entity not found: {kind} {request.params['id']}")
        return json_response(200, {"items": [copy.deepcopy(item)]})
