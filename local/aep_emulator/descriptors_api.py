"""Schema Registry descriptors (/data/foundation/schemaregistry/tenant/descriptors).

Identity descriptors are what the emulator reads (a schema's primary identity); the other documented
``@type`` values are stored as sent. Checks: the source schema exists, ``xdm:sourceProperty`` is a path of
it (leading ``/``, no trailing ``/``, no ``properties`` segments), one primary identity per schema, at most
4000 descriptors per sandbox. A second descriptor of the same type on the same field is refused too
(Adobe does not document that case; refusing keeps clients looking up before they create).
"""

from __future__ import annotations

import copy
import secrets
from typing import Any
from urllib.parse import unquote

from aep_emulator import gateway
from aep_emulator import xdm_http as h
from aep_emulator.state import Space, State
from aep_emulator.web import Request, Response, Router, json_response

BASE = "/data/foundation/schemaregistry/tenant/descriptors"
TYPES = (
    "xdm:alternateDisplayInfo",
    "xdm:descriptorIdentity",
    "xdm:descriptorReferenceIdentity",
    "xdm:descriptorOneToOne",
    "xdm:descriptorRelationship",
)
MAX_DESCRIPTORS = 4000


def routes(router: Router, state: State) -> None:
    router.add("GET", BASE, gateway.in_space(state, list_descriptors))
    router.add("POST", BASE, gateway.in_space(state, create))
    router.add("GET", BASE + r"/(?P<id>[^/]+)", gateway.in_space(state, lookup))


def _has_path(properties: dict[str, Any], path: str) -> bool:
    node: dict[str, Any] = {"properties": properties}
    for part in path.strip("/").split("/"):
        props = node.get("properties")
        if not isinstance(props, dict) or part not in props:
            return False
        node = props[part]
    return True


def _problem(space: Space, body: dict[str, Any]) -> Response | None:
    registry = space.registry
    kind = body.get("@type")
    if kind not in TYPES:
        return h.bad_request(f"@type must be one of {', '.join(TYPES)}")
    schema_id = body.get("xdm:sourceSchema")
    schema = registry.resources.get(str(schema_id))
    if schema is None or schema["meta:resourceType"] != "schemas":
        return h.not_found(str(schema_id))
    if str(body.get("xdm:sourceVersion", "")) != "1":
        return h.bad_request("xdm:sourceVersion must be the schema's major version, 1")
    prop = body.get("xdm:sourceProperty")
    if kind != "xdm:descriptorRelationship" or prop is not None:
        if (
            not isinstance(prop, str)
            or not prop.startswith("/")
            or prop.endswith("/")
            or "/properties/" in prop
        ):
            return h.bad_request("xdm:sourceProperty must be a path such as /_tenant/field (no trailing /)")
        if not _has_path(registry.resolve(schema)["properties"], prop):
            return h.bad_request(f"xdm:sourceProperty {prop} is not a field of schema {schema_id}")
    if kind == "xdm:descriptorIdentity":
        if not isinstance(body.get("xdm:namespace"), (str, int)) or body.get("xdm:property") not in (
            "xdm:code",
            "xdm:id",
        ):
            return h.bad_request(
                "An identity descriptor needs xdm:namespace and xdm:property xdm:code|xdm:id"
            )
        if body.get("xdm:isPrimary") is True and registry.primary_identity(str(schema_id)) is not None:
            return h.bad_request(f"Schema {schema_id} already has a primary identity descriptor")
    same = [
        d
        for d in registry.descriptors_of(str(schema_id))
        if d["@type"] == kind and d.get("xdm:sourceProperty") == prop
    ]
    if same:
        return h.bad_request(f"Descriptor {same[0]['@id']} already describes {prop} of {schema_id}")
    if len(registry.descriptors) >= MAX_DESCRIPTORS:
        return h.bad_request(f"A sandbox holds at most {MAX_DESCRIPTORS} descriptors")
    return None


def create(space: Space, request: Request) -> Response:
    body = h.json_body(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return h.bad_request("The body must be a descriptor object")
    with space.lock:
        if refused := _problem(space, body):
            return refused
        descriptor_id = secrets.token_hex(20)
        sent = {k: v for k, v in body.items() if k not in ("@id", "imsOrg", "meta:containerId")}
        descriptor = space.registry.descriptor(descriptor_id, copy.deepcopy(sent))
        space.registry.descriptors[descriptor_id] = descriptor
        space.registry.touch()
        return json_response(201, copy.deepcopy(descriptor))


def list_descriptors(space: Space, request: Request) -> Response:
    """Non-v2 formats: an object keyed by ``@type`` (types with none left out); ``xdm-v2*``: a paged
    ``results`` array. ``-id`` gives ids, ``-link`` API paths, plain ``xdm`` the descriptors."""
    fmt = h.descriptor_format(request, one=False)
    if isinstance(fmt, Response):
        return fmt
    assert fmt is not None
    with space.lock:
        chosen = [
            copy.deepcopy(d)
            for d in space.registry.descriptors.values()
            if h.matches(d, h.query_all(request, "property"))
        ]

    def shown(d: dict[str, Any]) -> Any:
        if fmt.endswith("-id"):
            return d["@id"]
        if fmt.endswith("-link"):
            return f"/tenant/descriptors/{d['@id']}"
        return d

    if fmt.startswith("xdm-v2"):
        ordered = request.query.get("orderby") and request
        paged = h.page(ordered or _by_id(request), chosen, f"https://platform.adobe.io{BASE}")
        if isinstance(paged, Response):
            return paged
        items, page, links = paged
        return json_response(200, {"results": [shown(d) for d in items], "_page": page, "_links": links})
    grouped: dict[str, list[Any]] = {}
    for d in sorted(chosen, key=lambda d: d["@id"]):
        grouped.setdefault(d["@type"], []).append(shown(d))
    return json_response(200, grouped)


def _by_id(request: Request) -> Request:
    """The request with ``orderby=@id``: v2 listings page by descriptor id unless told otherwise."""
    return Request(
        request.method,
        request.path,
        request.raw_path,
        {**request.query, "orderby": "@id"},
        request.headers,
    )


def lookup(space: Space, request: Request) -> Response:
    refused = h.descriptor_format(request, one=True)
    if isinstance(refused, Response):
        return refused
    descriptor_id = unquote(request.params["id"])
    with space.lock:
        found = space.registry.descriptors.get(descriptor_id)
        if found is None:
            return h.not_found(descriptor_id)
        return json_response(200, copy.deepcopy(found))
