"""The setup calls: Schema Registry, identity namespaces, Catalog datasets and Flow Service (HTTP API
streaming), over the layer's :class:`~aep.http.Transport`. Shapes follow aep-api.md section 10 and the
OpenAPI specs; every method raises the :class:`~aep.errors.AepError` of a failed call.

Catalog and Flow Service answer a repeated POST with a second resource, not a conflict. So a create
whose answer was lost (the connection cut, a timeout, a 5xx: the server may have made it) is not simply
sent again: before the retry, the ``find`` given with the create looks the resource up by its keys, and
when it is there its id is adopted instead (``adopted`` lists them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from aep.errors import AepError
from aep.http import Transport, json_of

REGISTRY = "/data/foundation/schemaregistry"
NAMESPACES = "/data/core/idnamespace/identities"
CATALOG = "/data/foundation/catalog"
FLOW = "/data/foundation/flowservice"
HTTP_API_SPEC = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"
DATA_LAKE_SPEC = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
FLOW_SPEC = "d8a6f005-7eaf-4153-983e-e8574508b877"
XED_ID = "application/vnd.adobe.xed-id+json"
XED_V1 = "application/vnd.adobe.xed+json; version=1"
DESCRIPTORS_V2 = "application/vnd.adobe.xdm-v2+json"
JSON = {"Content-Type": "application/json"}
SCHEMA_CONTENT_TYPE = "application/vnd.adobe.xed-full+json;version=1"


#: Looks a resource up by its keys: its id, or None when it is not there.
Finder = Callable[[], str | None]


class _Found(Exception):
    """Raised between two attempts of a create: the earlier attempt did make the resource."""

    def __init__(self, resource_id: str) -> None:
        super().__init__(resource_id)
        self.resource_id = resource_id


def _maybe_made(error: AepError) -> bool:
    """Whether the failed attempt may have been carried out: no answer, or a server error."""
    return error.status is None or error.status >= 500


class SetupApi:
    """Reads and writes what setup converges; ``writes`` counts the write calls made, ``adopted`` the
    resources a create found made by an attempt whose answer was lost (``kind id``)."""

    def __init__(self, transport: Transport, platform_url: str) -> None:
        self._t = transport
        self._base = platform_url.rstrip("/")
        self.writes = 0
        self.adopted: list[str] = []

    def _get(self, path: str, context: str, params: Any = None, accept: str | None = None) -> Any:
        headers = {"Accept": accept} if accept else None
        response = self._t.request("GET", self._base + path, params=params, headers=headers, context=context)
        return json_of(response, context)

    def _write(
        self, method: str, path: str, body: Any, context: str, content_type: str = "application/json"
    ) -> Any:
        self.writes += 1
        response = self._t.request(
            method, self._base + path, json=body, headers={"Content-Type": content_type}, context=context
        )
        return json_of(response, context) if response.content else None

    def _create(self, path: str, body: Any, context: str, kind: str, find: Finder | None) -> Any:
        """POST ``body``; before a retry after an attempt that may have been carried out, ``find`` is
        asked first. Returns the answer's JSON, or a :class:`_Found` with the id of the resource found."""
        self.writes += 1

        def look_first(error: AepError) -> None:
            if find is not None and _maybe_made(error):
                found = find()
                if found is not None:
                    raise _Found(found)

        try:
            response = self._t.request(
                "POST",
                self._base + path,
                json=body,
                headers=JSON,
                context=context,
                before_retry=look_first,
            )
        except _Found as found:
            self.adopted.append(f"{kind} {found.resource_id}")
            return found
        return json_of(response, context)

    # -- Schema Registry ----------------------------------------------------------------------------
    def tenant_id(self) -> str:
        """``GET /stats``: the tenant id (no leading underscore)."""
        return str(self._get(f"{REGISTRY}/stats", "registry stats")["tenantId"])

    def find_titled(self, kind: str, title: str) -> dict[str, Any] | None:
        """The tenant ``fieldgroups`` or ``schemas`` entry titled ``title`` (full, ``xed`` v1), or None."""
        listing = self._get(
            f"{REGISTRY}/tenant/{kind}", f"find {kind}", params={"property": f"title=={title}"}, accept=XED_ID
        )
        for item in listing.get("results", []):
            if item.get("title") == title:
                return self.lookup(kind, str(item["$id"]))
        return None

    def lookup(self, kind: str, resource_id: str) -> dict[str, Any]:
        path = f"{REGISTRY}/tenant/{kind}/{quote(resource_id, safe='')}"
        return dict(self._get(path, f"lookup {kind}", accept=XED_V1))

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._write("POST", f"{REGISTRY}/tenant/{kind}", body, f"create {kind}"))

    def patch(self, kind: str, resource_id: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
        path = f"{REGISTRY}/tenant/{kind}/{quote(resource_id, safe='')}"
        return dict(self._write("PATCH", path, operations, f"patch {kind}"))

    def descriptors_of(self, schema_id: str) -> list[dict[str, Any]]:
        """The schema's descriptors (v2 listing, every page)."""
        found: list[dict[str, Any]] = []
        params = {"property": f"xdm:sourceSchema=={schema_id}"}
        while True:
            page = self._get(f"{REGISTRY}/tenant/descriptors", "list descriptors", params, DESCRIPTORS_V2)
            found += [d for d in page.get("results", []) if d.get("xdm:sourceSchema") == schema_id]
            following = (page.get("_page") or {}).get("next")
            if not following:
                return found
            params = {**params, "start": str(following)}

    def create_descriptor(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._write("POST", f"{REGISTRY}/tenant/descriptors", body, "create descriptor"))

    # -- Identity namespaces ------------------------------------------------------------------------
    def namespaces(self) -> list[dict[str, Any]]:
        return list(self._get(NAMESPACES, "list namespaces"))

    def create_namespace(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._write("POST", NAMESPACES, body, "create namespace"))

    # -- Catalog datasets ---------------------------------------------------------------------------
    def datasets_named(self, name: str) -> dict[str, dict[str, Any]]:
        """Datasets whose name is exactly ``name`` (``*`` escaped), keyed by id, every page."""
        found: dict[str, dict[str, Any]] = {}
        start = 0
        while True:
            params = {
                "name": name.replace("*", "**"),
                "properties": "name,schemaRef,tags",
                "limit": "100",
                "start": str(start),
            }
            page = self._get(f"{CATALOG}/dataSets", "find datasets", params)
            entries = page if isinstance(page, dict) else {}
            found.update({k: v for k, v in entries.items() if isinstance(v, dict) and v.get("name") == name})
            if len(entries) < 100:
                return found
            start += len(entries)

    def create_dataset(self, body: dict[str, Any], find: Finder | None = None) -> str:
        """``POST /dataSets``: the new dataset's id (``@/dataSets/`` stripped), or the one ``find`` found
        after an attempt whose answer was lost."""
        answer = self._create(f"{CATALOG}/dataSets", body, "create dataset", "dataset", find)
        if isinstance(answer, _Found):
            return answer.resource_id
        return str(answer[0]).removeprefix("@/dataSets/")

    def patch_dataset(self, dataset_id: str, operations: list[dict[str, Any]]) -> None:
        path = f"{CATALOG}/dataSets/{quote(dataset_id, safe='')}"
        self._write("PATCH", path, operations, "patch dataset", "application/json-patch+json")

    # -- Flow Service -------------------------------------------------------------------------------
    def flow_items(self, kind: str, *filters: str) -> list[dict[str, Any]]:
        """``GET /{kind}?property=...`` (AND), following ``_links.next``."""
        items: list[dict[str, Any]] = []
        query = urlencode([("property", f) for f in filters])
        token: str | None = None
        while True:
            more = f"&continuationToken={quote(token, safe='')}" if token else ""
            page = self._get(f"{FLOW}/{kind}?{query}{more}", f"list {kind}")
            items += page.get("items", [])
            following = str(((page.get("_links") or {}).get("next") or {}).get("href") or "")
            if "continuationToken=" not in following:
                return items
            token = following.split("continuationToken=", 1)[1].split("&", maxsplit=1)[0]

    def flow_item(self, kind: str, item_id: str) -> dict[str, Any]:
        return dict(self._get(f"{FLOW}/{kind}/{quote(item_id, safe='')}", f"lookup {kind}")["items"][0])

    def create_flow_item(self, kind: str, body: dict[str, Any], find: Finder | None = None) -> str:
        """``POST /{kind}``: the new item's id, or the one ``find`` found after an attempt whose answer
        was lost."""
        answer = self._create(f"{FLOW}/{kind}", body, f"create {kind}", kind, find)
        if isinstance(answer, _Found):
            return answer.resource_id
        return str(answer["id"])
