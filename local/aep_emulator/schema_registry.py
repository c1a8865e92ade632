"""Schema Registry (/data/foundation/schemaregistry): stats, field groups, schemas and unions.

Strict where the registry is: titles unique across field groups and schemas (400 ``XDM-1521-400``, not
409), custom fields only under ``_{tenantId}``, one class per schema, the ``Accept`` variants of lookups
and listings, the ``union`` tag permanent and, once a schema is in a union, only additive changes to it
and to its field groups. Descriptors live in :mod:`aep_emulator.descriptors_api`; the resources in
:mod:`aep_emulator.xdm`.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import unquote

from aep_emulator import gateway
from aep_emulator import xdm_http as h
from aep_emulator.state import Space, State
from aep_emulator.web import Request, Response, Router, json_response
from aep_emulator.xdm import GLOBALS, IDENTITY_MAP, KLASS, UNION_SUFFIX, Registry, alt_id, rules

BASE = "/data/foundation/schemaregistry"
_KIND = {"fieldgroups": "mixins", "mixins": "mixins", "schemas": "schemas", "classes": "classes"}
_TYPES = {"string", "integer", "number", "boolean", "object", "array"}
_FIXED = ("$id", "meta:altId", "meta:resourceType", "meta:containerId", "meta:class", "meta:tenantNamespace")


def routes(router: Router, state: State) -> None:
    def add(method: str, path: str, handler: Any) -> None:
        router.add(method, BASE + path, gateway.in_space(state, handler))

    kinds = r"(?P<kind>fieldgroups|mixins|schemas|classes)"
    add("GET", r"/stats", stats)
    add("GET", r"/tenant/unions", list_unions)
    add("GET", r"/tenant/unions/(?P<id>[^/]+)", lookup_union)
    add("GET", r"/(?P<container>tenant|global)/" + kinds, list_resources)
    add("GET", r"/(?P<container>tenant|global)/" + kinds + r"/(?P<id>[^/]+)", lookup)
    add("POST", r"/tenant/(?P<kind>fieldgroups|mixins)", create_fieldgroup)
    add("POST", r"/tenant/schemas", create_schema)
    add("PATCH", r"/tenant/(?P<kind>fieldgroups|mixins|schemas)/(?P<id>[^/]+)", patch)


def _item(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: resource[k] for k in ("$id", "meta:altId", "version", "title") if k in resource}


def _pool(space: Space, container: str, kind: str) -> list[dict[str, Any]]:
    source = space.registry.resources if container == "tenant" else GLOBALS
    return [r for r in source.values() if r["meta:resourceType"] == _KIND[kind]]


def stats(space: Space, request: Request) -> Response:
    registry = space.registry
    with space.lock:
        resources = list(registry.resources.values())
        unions = _unions(registry)
    schemas = [r for r in resources if r["meta:resourceType"] == "schemas"]
    newest = sorted(resources, key=lambda r: r["meta:registryMetadata"]["repo:createdDate"], reverse=True)
    updated = sorted(
        resources, key=lambda r: r["meta:registryMetadata"]["repo:lastModifiedDate"], reverse=True
    )
    usage = [
        {
            "$id": class_id,
            "title": GLOBALS[class_id]["title"],
            "numberOfSchemas": len(members),
            "schemas": [_item(s) for s in members],
        }
        for class_id in KLASS
        if (members := [s for s in schemas if s.get("meta:class") == class_id])
    ]
    return json_response(
        200,
        {
            "imsOrg": space.config.org_id,
            "tenantId": registry.tenant,
            "counts": {
                "schemas": len(schemas),
                "mixins": len(resources) - len(schemas),
                "datatypes": 0,
                "classes": 0,
                "unions": len(unions),
            },
            "recentlyCreatedResources": [_item(r) for r in newest[:5]],
            "recentlyUpdatedResources": [_item(r) for r in updated[:5]],
            "classUsage": usage,
        },
    )


def list_resources(space: Space, request: Request) -> Response:
    fmt = h.list_format(request)
    if isinstance(fmt, Response):
        return fmt
    with space.lock:
        pool = _pool(space, request.params["container"], request.params["kind"])
        chosen = [r for r in pool if h.matches(r, h.query_all(request, "property"))]
        paged = h.page(request, copy.deepcopy(chosen), f"https://platform.adobe.io{request.path}")
    if isinstance(paged, Response):
        return paged
    items, page, links = paged
    if request.params["kind"] == "schemas":
        links["global_schemas"] = {"href": f"https://platform.adobe.io{BASE}/global/schemas"}
    results = [_item(r) for r in items] if fmt == "xed-id" else items
    return json_response(200, {"results": results, "_page": page, "_links": links})


def render(registry: Registry, resource: dict[str, Any], fmt: str) -> dict[str, Any]:
    """One resource in a lookup format: ``xed`` as stored, ``xed-full*`` resolved into ``properties``."""
    body = (
        registry.resolve(resource) if fmt.startswith("xed-full") or fmt == "xed-deprecatefield" else resource
    )
    body = copy.deepcopy(body)
    if fmt.endswith("notext"):
        return dict(h.strip_text(body, titles=True, descriptions=True))
    if fmt == "xed-full-desc":
        return dict(h.strip_text(body, titles=True, descriptions=False))
    return body


def lookup(space: Space, request: Request) -> Response:
    ref = unquote(request.params["id"])
    fmt = h.lookup_format(request, ref)
    if isinstance(fmt, Response):
        return fmt
    with space.lock:
        pool = _pool(space, request.params["container"], request.params["kind"])
        found = next((r for r in pool if ref in (r["$id"], r["meta:altId"])), None)
        if found is None:
            return h.not_found(ref)
        return json_response(200, render(space.registry, found, fmt))


# -- unions -------------------------------------------------------------------------------------------
def _unions(registry: Registry) -> dict[str, dict[str, Any]]:
    """One union per class with a ``union``-tagged schema: the class and every member's field groups."""
    out: dict[str, dict[str, Any]] = {}
    for schema in registry.resources.values():
        class_id = schema.get("meta:class")
        if "union" not in schema.get("meta:immutableTags", []) or class_id not in GLOBALS:
            continue
        union_id = class_id + UNION_SUFFIX
        union = out.setdefault(
            union_id,
            {
                "$id": union_id,
                "meta:altId": alt_id(union_id),
                "meta:resourceType": "unions",
                "version": "1.0",
                "title": GLOBALS[class_id]["title"],
                "type": "object",
                "description": GLOBALS[class_id]["description"],
                "allOf": [{"$ref": class_id}],
                "imsOrg": registry.config.org_id,
                "meta:extends": [],
                "meta:xdmType": "object",
                "meta:class": class_id,
                "meta:containerId": "tenant",
                "meta:sandboxId": registry.sandbox_id,
                "meta:sandboxType": "production" if registry.sandbox == "prod" else "development",
                "meta:registryMetadata": {"meta:globalLibVersion": "1.0"},
            },
        )
        for ref in registry.refs(schema):
            if ref != class_id and {"$ref": ref} not in union["allOf"]:
                union["allOf"].append({"$ref": ref})
        union["meta:extends"] = list(dict.fromkeys([*union["meta:extends"], *schema.get("meta:extends", [])]))
    return out


def list_unions(space: Space, request: Request) -> Response:
    fmt = h.list_format(request)
    if isinstance(fmt, Response):
        return fmt
    with space.lock:
        unions = [
            u for u in _unions(space.registry).values() if h.matches(u, h.query_all(request, "property"))
        ]
    return json_response(200, {"results": [_item(u) if fmt == "xed-id" else u for u in unions]})


def lookup_union(space: Space, request: Request) -> Response:
    ref = unquote(request.params["id"])
    fmt = h.lookup_format(request, ref)
    if isinstance(fmt, Response):
        return fmt
    with space.lock:
        union = next(
            (u for u in _unions(space.registry).values() if ref in (u["$id"], u["meta:altId"])), None
        )
        if union is None:
            return h.not_found(ref)
        return json_response(200, render(space.registry, union, fmt))


# -- writes -------------------------------------------------------------------------------------------
def _field_problem(props: Any, where: str) -> str | None:
    """A field without a usable type (or a ``$ref``), anywhere below ``props``."""
    if not isinstance(props, dict):
        return f"{where} must be an object of fields"
    for name, spec in props.items():
        if not isinstance(spec, dict) or not (spec.get("type") in _TYPES or "$ref" in spec):
            return f"Field {where}/{name} needs a type among {sorted(_TYPES)}"
        if "properties" in spec and (problem := _field_problem(spec["properties"], f"{where}/{name}")):
            return problem
    return None


def _fieldgroup_problem(registry: Registry, group: dict[str, Any]) -> Response | None:
    if group.get("type") != "object" or not isinstance(group.get("title"), str) or not group["title"]:
        return h.bad_request("A field group needs type object and a title")
    extends = group.get("meta:intendedToExtend")
    if not isinstance(extends, list) or not extends or not all(isinstance(c, str) for c in extends):
        return h.bad_request("meta:intendedToExtend must list the classes the field group extends")
    definitions = group.get("definitions", {})
    if not isinstance(definitions, dict):
        return h.bad_request("definitions must be an object")
    tenant = f"_{registry.tenant}"
    for name, part in {**definitions, "": {"properties": group.get("properties", {})}}.items():
        props = part.get("properties", {}) if isinstance(part, dict) else None
        if problem := _field_problem(props, f"/definitions/{name}" if name else ""):
            return h.bad_request(problem)
        outside = sorted(set(props or {}) - {tenant})
        if outside:
            return h.xdm_error(
                400,
                "XDM-1020-400",
                "Custom field outside the tenant namespace",
                f"All custom fields must be defined under a top-level field named {tenant} "
                f"(found {', '.join(outside)})",
            )
    return None


def _schema_problem(registry: Registry, schema: dict[str, Any]) -> Response | None:
    for key in ("type", "title", "description", "allOf"):
        if key not in schema:
            return h.bad_request(f"A schema needs {key}")
    if schema["type"] != "object" or not isinstance(schema["title"], str) or not schema["title"]:
        return h.bad_request("A schema needs type object and a title")
    refs = registry.refs(schema)
    if not isinstance(schema["allOf"], list) or len(refs) != len(schema["allOf"]) or not refs:
        return h.bad_request("allOf must be a non-empty list of {$ref} objects")
    targets = []
    for ref in refs:
        target = registry.find(ref)
        if target is None or target["meta:resourceType"] not in ("classes", "mixins"):
            return h.bad_request(f"Requested resource {ref} with version 1 is not found")
        targets.append(target)
    classes = [t["$id"] for t in targets if t["meta:resourceType"] == "classes"]
    if len(classes) != 1:
        return h.bad_request("A schema's allOf must reference exactly one class")
    for target in targets:
        if target["meta:resourceType"] == "mixins" and classes[0] not in target.get(
            "meta:intendedToExtend", []
        ):
            return h.bad_request(f"Field group {target['$id']} is not intended to extend {classes[0]}")
    tags = schema.get("meta:immutableTags", [])
    if tags not in ([], ["union"]):
        return h.bad_request("meta:immutableTags may only hold union")
    if (
        tags
        and IDENTITY_MAP not in registry.extends(schema)
        and registry.primary_identity(schema["$id"]) is None
    ):
        return h.xdm_error(
            400,
            "XDM-1528-400",
            "Union validation failed",
            f"Schema {schema['$id']} needs an identityMap field group or a primary identity descriptor "
            "to be enabled for Profile",
        )
    return None


def _title_clash(registry: Registry, title: str, own_id: str | None = None) -> Response | None:
    existing = registry.titled(title)
    return h.title_taken(existing["$id"]) if existing and existing["$id"] != own_id else None


def create_fieldgroup(space: Space, request: Request) -> Response:
    body = h.json_body(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return h.bad_request("The body must be a field group object")
    registry = space.registry
    with space.lock:
        if refused := _fieldgroup_problem(registry, body) or _title_clash(registry, body["title"]):
            return refused
        rid = registry.new_id("mixins", body["title"])
        group = registry.new_resource(rid, "mixins", body["title"], str(body.get("description", "")))
        for key in ("definitions", "allOf", "meta:intendedToExtend", "properties", "meta:tags"):
            if key in body:
                group[key] = copy.deepcopy(body[key])
        group.setdefault("allOf", [{"$ref": f"#/definitions/{n}"} for n in group.get("definitions", {})])
        registry.stamp(group, created=True)
        registry.resources[rid] = group
        registry.touch()
        return json_response(201, copy.deepcopy(group))


def create_schema(space: Space, request: Request) -> Response:
    body = h.json_body(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return h.bad_request("The body must be a schema object")
    registry = space.registry
    with space.lock:
        rid = registry.new_id("schemas", str(body.get("title")))
        candidate = {**body, "$id": rid}
        if refused := _schema_problem(registry, candidate) or _title_clash(registry, body["title"]):
            return refused
        schema = registry.new_resource(rid, "schemas", body["title"], str(body["description"]))
        schema["allOf"] = [{"$ref": ref} for ref in registry.refs(body)]
        targets = [registry.find(r) or {} for r in registry.refs(body)]
        schema["meta:class"] = next(t["$id"] for t in targets if t.get("meta:resourceType") == "classes")
        schema["meta:extends"] = registry.extends(schema)
        if body.get("meta:immutableTags"):
            schema["meta:immutableTags"] = ["union"]
        registry.stamp(schema, created=True)
        registry.resources[rid] = schema
        registry.touch()
        return json_response(201, copy.deepcopy(schema))


def _unions_using(registry: Registry, resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The union-tagged schemas a change to ``resource`` reaches (itself, or those using the group)."""
    return [
        s
        for s in registry.resources.values()
        if "union" in s.get("meta:immutableTags", [])
        and (s["$id"] == resource["$id"] or resource["$id"] in registry.refs(s))
    ]


def _fields(registry: Registry, schema: dict[str, Any]) -> dict[str, str]:
    return rules(registry.resolve(schema)["properties"], [])[0]


def _not_additive(registry: Registry, before: dict[str, dict[str, str]]) -> str | None:
    """Why the change is not additive for a Profile-enabled schema (a field gone or retyped), or None."""
    for schema_id, old in before.items():
        new = _fields(registry, registry.resources[schema_id])
        for path, kind in old.items():
            if new.get(path) != kind:
                return (
                    f"Field {path} of Profile-enabled schema {schema_id} cannot be removed or retyped "
                    "(only additive changes are allowed)"
                )
    return None


def patch(space: Space, request: Request) -> Response:
    body = h.json_body(request)
    if isinstance(body, Response):
        return body
    ref = unquote(request.params["id"])
    registry = space.registry
    with space.lock:
        kind = _KIND[request.params["kind"]]
        current = next(
            (
                r
                for r in registry.resources.values()
                if ref in (r["$id"], r["meta:altId"]) and r["meta:resourceType"] == kind
            ),
            None,
        )
        if current is None:
            return h.not_found(ref)
        try:
            changed = h.apply_patch(current, body)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return h.bad_request(f"Invalid JSON Patch: {exc}")
        if any(changed.get(k) != current.get(k) for k in _FIXED):
            return h.bad_request(f"{', '.join(_FIXED)} cannot be changed")
        if "union" in current.get("meta:immutableTags", []) and "union" not in changed.get(
            "meta:immutableTags", []
        ):
            return h.bad_request("The union tag cannot be removed: a Profile-enabled schema stays enabled")
        if kind == "schemas":
            changed["meta:extends"] = registry.extends(changed)
            refused = _schema_problem(registry, changed)
        else:
            refused = _fieldgroup_problem(registry, changed)
        if refused := refused or _title_clash(registry, changed["title"], current["$id"]):
            return refused
        before = {s["$id"]: _fields(registry, s) for s in _unions_using(registry, current)}
        changed["version"] = h.bump(str(current.get("version", "1.0")))
        registry.stamp(changed, created=False)
        registry.resources[current["$id"]] = changed
        if problem := _not_additive(registry, before):
            registry.resources[current["$id"]] = current
            return h.bad_request(problem)
        registry.touch()
        for schema in registry.resources.values():  # a group's change reaches its schemas' extends
            if schema["meta:resourceType"] == "schemas":
                schema["meta:extends"] = registry.extends(schema)
        return json_response(200, copy.deepcopy(changed))
