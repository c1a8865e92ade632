"""Catalog datasets (/data/foundation/catalog/dataSets): create, list with filters, look up, patch tags.

A dataset names its schema (``schemaRef``), which must be in the sandbox's Schema Registry; a dataset
enabled for Profile (tag ``unifiedProfile: ["enabled:true"]``) needs a schema already in the union. The
emulator's record checks for the dataset come from that schema (:meth:`Space.dataset`). The sandbox
file's datasets are listed and can be patched too. Names need not be unique (Adobe documents no rule).
"""

from __future__ import annotations

import copy
import re
import secrets
import time
from typing import Any

from aep_emulator import gateway
from aep_emulator import xdm_http as h
from aep_emulator.config import Dataset
from aep_emulator.state import Space, State
from aep_emulator.web import Request, Response, Router, json_response
from aep_emulator.xdm import KLASS

BASE = "/data/foundation/catalog/dataSets"
CONTENT_TYPES = {
    "application/vnd.adobe.xed+json;version=1",
    "application/vnd.adobe.xed-full+json;version=1",
    "application/vnd.adobe.xed-full-notext+json;version=1",
}
_EDITABLE = {"name", "description", "tags"}


def routes(router: Router, state: State) -> None:
    router.add("POST", BASE, gateway.in_space(state, create))
    router.add("GET", BASE, gateway.in_space(state, listing))
    router.add("GET", BASE + r"/(?P<dataset>[^/]+)", gateway.in_space(state, lookup))
    router.add("PATCH", BASE + r"/(?P<dataset>[^/]+)", gateway.in_space(state, patch))


def not_found() -> Response:
    return json_response(
        404,
        {
            "type": "http://ns.adobe.com/aep/errors/CAT-404",
            "title": "Not found",
            "status": 404,
            "detail": "The dataset was not found",
        },
    )


def profile_enabled(tags: Any) -> bool:
    """``unifiedProfile`` holds ``enabled:true`` (spaces ignored: the spec's example writes one)."""
    values = tags.get("unifiedProfile", []) if isinstance(tags, dict) else []
    return any(isinstance(v, str) and re.sub(r"\s", "", v).lower() == "enabled:true" for v in values)


def _catalog_object(space: Space, dataset_id: str) -> dict[str, Any] | None:
    """The Catalog object of a dataset (created, patched, or from the sandbox file)."""
    if dataset_id in space.catalog:
        return space.catalog[dataset_id]
    dataset = space.config.dataset(dataset_id)
    if dataset is None:
        return None
    tags = {"unifiedProfile": ["enabled:true"], "unifiedIdentity": ["enabled:true"]}
    return {
        "name": dataset.name,
        "description": "",
        "imsOrg": space.config.org_id,
        "version": "1.0.0",
        "created": 0,
        "updated": 0,
        "tags": tags if dataset.profile_enabled else {},
        "schemaRef": {
            "id": dataset.schema_ref,
            "contentType": "application/vnd.adobe.xed-full+json;version=1",
        },
        "enableErrorDiagnostics": True,
        "files": f"@/dataSetFiles?dataSetId={dataset.id}",
    }


def _problem(space: Space, body: dict[str, Any]) -> str | None:
    """Why a dataset body cannot be stored: its schema, its tags, its name."""
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        return "name is required"
    ref = body.get("schemaRef")
    if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
        return "schemaRef with id and contentType is required"
    if re.sub(r"\s", "", str(ref.get("contentType", ""))) not in CONTENT_TYPES:
        return f"schemaRef.contentType must be one of {sorted(CONTENT_TYPES)}"
    schema = space.registry.resources.get(ref["id"])
    if schema is None or schema["meta:resourceType"] != "schemas":
        return f"Schema {ref['id']} was not found in the Schema Registry"
    if schema.get("meta:class") not in KLASS:
        return f"Schema {ref['id']} is of a class the emulator does not ingest"
    tags = body.get("tags", {})
    if not isinstance(tags, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in tags.values()
    ):
        return "tags must map each tag to a list of strings"
    if profile_enabled(tags) and "union" not in schema.get("meta:immutableTags", []):
        return "You cannot enable a dataset for Profile if its schema is not already enabled for Profile"
    return None


def _store(space: Space, dataset_id: str, entry: dict[str, Any]) -> None:
    """Keep the Catalog object and the dataset the emulator ingests into (rules from its schema)."""
    schema = space.registry.resources[entry["schemaRef"]["id"]]
    space.catalog[dataset_id] = entry
    space.datasets[dataset_id] = Dataset.model_validate(
        {
            "id": dataset_id,
            "name": entry["name"],
            "schema_ref": schema["$id"],
            "class": KLASS[schema["meta:class"]],
            "profile_enabled": profile_enabled(entry.get("tags")),
        }
    )


def create(space: Space, request: Request) -> Response:
    body = h.json_body(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return h.bad_request("The body must be a dataset object")
    with space.lock:
        if problem := _problem(space, body):
            return h.bad_request(problem)
        dataset_id = secrets.token_hex(12)
        now = int(time.time() * 1000)
        entry = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("imsOrg", "created", "updated")}
        entry.setdefault("tags", {})
        entry.update(
            {
                "imsOrg": space.config.org_id,
                "version": "1.0.0",
                "created": now,
                "updated": now,
                "createdClient": request.header("x-api-key") or "",
                "files": f"@/dataSetFiles?dataSetId={dataset_id}",
            }
        )
        _store(space, dataset_id, entry)
    return json_response(
        201, [f"@/dataSets/{dataset_id}"], {"Location": f"https://platform.adobe.io{BASE}/{dataset_id}"}
    )


def _name_matches(name: str, wanted: str) -> bool:
    """Catalog's ``name`` filter: ``*`` is a wildcard, ``**`` a literal star."""
    pattern = "".join(
        ".*" if part == "*" else re.escape("*") if part == "**" else re.escape(part)
        for part in re.split(r"(\*\*|\*)", wanted)
        if part
    )
    return re.fullmatch(pattern, name, re.DOTALL) is not None


def listing(space: Space, request: Request) -> Response:
    """Filters: ``name`` (wildcards), ``property`` (repeated: AND), ``properties`` (fields returned);
    ``limit`` (default 20, at most 100) from offset ``start``. No match: an empty object."""
    try:
        limit = int(request.query.get("limit", "20"))
        start = int(request.query.get("start", "0"))
    except ValueError:
        return h.bad_request("limit and start must be numbers")
    if not 1 <= limit <= 100 or start < 0:
        return h.bad_request("limit must be between 1 and 100, start not negative")
    fields = [f for f in request.query.get("properties", "").split(",") if f]
    with space.lock:
        ids = [d.id for d in space.config.datasets] + [
            i for i in space.catalog if space.config.dataset(i) is None
        ]
        found = {i: copy.deepcopy(e) for i in ids if (e := _catalog_object(space, i)) is not None}
    wanted = request.query.get("name")
    chosen = [
        (i, e)
        for i, e in found.items()
        if (wanted is None or _name_matches(e["name"], wanted))
        and h.matches(e, h.query_all(request, "property"))
    ][start : start + limit]
    return json_response(200, {i: ({k: e[k] for k in fields if k in e} if fields else e) for i, e in chosen})


def lookup(space: Space, request: Request) -> Response:
    dataset_id = request.params["dataset"]
    with space.lock:
        entry = _catalog_object(space, dataset_id)
        if entry is None:
            return not_found()
        return json_response(200, {dataset_id: copy.deepcopy(entry)})


def patch(space: Space, request: Request) -> Response:
    """``application/json-patch+json``: JSON Patch ops (e.g. add ``/tags/unifiedProfile``);
    ``application/json``: a partial object. Only name, description and tags change."""
    body = h.json_body(request)
    if isinstance(body, Response):
        return body
    dataset_id = request.params["dataset"]
    patching = "json-patch" in (request.header("content-type") or "").lower()
    with space.lock:
        current = _catalog_object(space, dataset_id)
        if current is None:
            return not_found()
        try:
            changed = h.apply_patch(current, body) if patching else _merged(current, body)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return h.bad_request(f"Invalid patch: {exc}")
        touched = {k for k in set(changed) | set(current) if changed.get(k) != current.get(k)}
        if touched - _EDITABLE:
            return h.bad_request(f"Only {', '.join(sorted(_EDITABLE))} can be patched here")
        if problem := _problem(space, changed):
            return h.bad_request(problem)
        changed["updated"] = int(time.time() * 1000)
        _store(space, dataset_id, changed)
    return json_response(200, [f"@/dataSets/{dataset_id}"])


def _merged(current: dict[str, Any], body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("an application/json PATCH takes an object of fields")
    return {**copy.deepcopy(current), **copy.deepcopy(body)}
