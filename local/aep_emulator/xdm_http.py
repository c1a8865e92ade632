"""What the Schema Registry's endpoints share: error bodies, Accept headers, ``property`` filters, paging
and JSON Patch.

Errors follow the registry's documented shape (``errorBasic``: ``type``, ``title``, ``status``,
``report{registryRequestId, timestamp, detailed-message, sub-errors}``, ``detail``) with the documented
codes (``XDM-1006/1007/1008/1009-400`` Accept, ``XDM-1012-404`` not found, ``XDM-1521-400`` title not
unique, ``XDM-1020-400`` custom field outside the tenant object, ``XDM-1528-400`` union without an
identity). Refusals Adobe documents with no code use the platform's generic 400
(``/placeholder/type/uri``, ``BadRequestError``), as the registry's older docs show.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, quote

from aep_emulator.web import Request, Response, json_response

XDM_ERRORS = "http://ns.adobe.com/aep/errors/"
LOOKUP_FORMATS = {"xed", "xed-full", "xed-notext", "xed-full-notext", "xed-full-desc", "xed-deprecatefield"}
LIST_FORMATS = {"xed-id", "xed"}
DESCRIPTOR_FORMATS = {"xdm", "xdm-id", "xdm-link", "xdm-v2", "xdm-v2-id", "xdm-v2-link"}
MAX_PAGE = 300  # the registry returns at most 300 items per response
_MEDIA = re.compile(
    r"^\s*application/vnd\.adobe\.(?P<fmt>[a-z0-9-]+)\+json\s*(?:;\s*version\s*=\s*(?P<version>[^;\s]*)\s*)?$"
)
_FILTER = re.compile(r"^(?P<key>[^=!<>]+?)\s*(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.*)$")


def xdm_error(status: int, code: str, title: str, message: str) -> Response:
    return json_response(
        status,
        {
            "type": f"{XDM_ERRORS}{code}",
            "title": title,
            "status": status,
            "report": {
                "registryRequestId": str(uuid.uuid4()),
                "timestamp": time.strftime("%m-%d-%Y %H:%M:%S", time.gmtime()),
                "detailed-message": message,
                "sub-errors": [],
            },
            "detail": message,
        },
    )


def bad_request(detail: str) -> Response:
    return json_response(
        400, {"type": "/placeholder/type/uri", "status": 400, "title": "BadRequestError", "detail": detail}
    )


def not_found(ref: str, version: str = "1") -> Response:
    return xdm_error(
        404,
        "XDM-1012-404",
        "Resource Not Found",
        f"Requested resource {ref} with version {version} is not found",
    )


def title_taken(existing_id: str) -> Response:
    return xdm_error(
        400,
        "XDM-1521-400",
        "Title not unique",
        f"Object titles must be unique. An object {existing_id} already exists with the same title",
    )


def _accept(request: Request) -> tuple[str, str | None] | None:
    match = _MEDIA.match(request.header("accept") or "")
    return (match["fmt"], match["version"]) if match else None


def _accept_invalid(code: str, sent: str, wanted: str) -> Response:
    message = (
        f"The supplied Accept header is not valid: {sent} - A valid Accept value should look like {wanted}"
    )
    return xdm_error(400, code, "Accept header invalid", message)


def not_acceptable(detail: str) -> Response:
    """406: the format is not available for this resource (the spec documents the status, no code)."""
    return json_response(
        406, {"type": "/placeholder/type/uri", "status": 406, "title": "Not Acceptable", "detail": detail}
    )


def lookup_format(request: Request, ref: str) -> str | Response:
    """The lookup format (``xed``, ``xed-full`` ...) or the refusal: no Accept or no version 400
    ``XDM-1007``, a format the registry does not serve 406, a major version other than 1 404."""
    sent = request.header("accept") or ""
    parsed = _accept(request)
    wanted = "application/vnd.adobe.'{xed|xdm'}+json; version=1"
    if sent.strip() in ("", "*/*"):
        return _accept_invalid("XDM-1007-400", sent, wanted)
    if parsed is None or parsed[0] not in LOOKUP_FORMATS:
        return not_acceptable(f"The Accept format {sent} is not available for this resource")
    fmt, version = parsed
    if not version:
        return _accept_invalid("XDM-1007-400", sent, wanted + " (Version should be specified)")
    if version.split(".")[0] != "1":
        return not_found(ref, version)
    return fmt


def list_format(request: Request) -> str | Response:
    """``xed-id`` or ``xed``; anything else (a version included) is 400 ``XDM-1006``."""
    parsed = _accept(request)
    if parsed is None or parsed[0] not in LIST_FORMATS or parsed[1] is not None:
        return _accept_invalid(
            "XDM-1006-400", request.header("accept") or "", "application/vnd.adobe.'{xed|xdm'}+json"
        )
    return parsed[0]


def descriptor_format(request: Request, one: bool) -> str | Response | None:
    """Descriptors take ``xdm`` media types: listing needs one (400 ``XDM-1008``); a lookup needs none
    and refuses an ``xed`` one (400 ``XDM-1009``)."""
    sent = request.header("accept") or ""
    parsed = _accept(request)
    if one:
        if parsed is not None and parsed[0].startswith("xed"):
            return _accept_invalid("XDM-1009-400", sent, "application/vnd.adobe.xdm+json")
        return None
    if parsed is None or parsed[0] not in DESCRIPTOR_FORMATS or parsed[1] is not None:
        return _accept_invalid("XDM-1008-400", sent, "application/vnd.adobe.xdm-id+json")
    return parsed[0]


def json_body(request: Request) -> Any | Response:
    """The JSON body of a write: ``Content-Type: application/json`` (JSON Patch included) is required."""
    if "json" not in (request.header("content-type") or "").lower():
        return bad_request("A valid content-type must be specified")
    try:
        return request.json()
    except ValueError:
        return bad_request("The request body is not valid JSON")


def query_all(request: Request, name: str) -> list[str]:
    """Every value of a repeated query parameter (``property`` may come several times: AND)."""
    return parse_qs(request.raw_path.partition("?")[2], keep_blank_values=True).get(name, [])


def _compare(have: Any, op: str, want: str) -> bool:
    values = [str(v) for v in have] if isinstance(have, list) else [str(have)]
    if op == "==":
        return want in values
    if op == "!=":
        return want not in values
    checks = {"<": str.__lt__, ">": str.__gt__, "<=": str.__le__, ">=": str.__ge__}[op]
    return any(checks(v, want) for v in values)


def matches(resource: dict[str, Any], filters: list[str]) -> bool:
    """``property`` filters on top-level fields: ``key==value`` (a list field: contains), ``!=``, ``<``,
    ``>``, ``<=``, ``>=``; a bare key means the field exists."""
    for expression in filters:
        match = _FILTER.match(expression)
        if match is None:
            if expression.strip() not in resource:
                return False
        elif match["key"] not in resource or not _compare(
            resource[match["key"]], match["op"], match["value"]
        ):
            return False
    return True


def page(
    request: Request, items: list[dict[str, Any]], base_url: str
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]] | Response:
    """Sorted by ``orderby`` (default ``title``; ``-`` descending), from after ``start``, at most
    ``limit`` (0-500, a hint; 300 at most per response). Returns (items, ``_page``, ``_links``)."""
    order = (request.query.get("orderby") or "title").split(",")[0].strip()
    descending = order.startswith("-")
    key = order.lstrip("-+")
    try:
        limit = int(request.query.get("limit", MAX_PAGE))
    except ValueError:
        return bad_request("limit must be a number between 0 and 500")
    if not 0 <= limit <= 500:
        return bad_request("limit must be a number between 0 and 500")
    limit = min(limit, MAX_PAGE)
    ordered = sorted(items, key=lambda r: str(r.get(key, "")), reverse=descending)
    start = request.query.get("start")
    if start is not None:
        ordered = [
            r for r in ordered if (str(r.get(key, "")) < start if descending else str(r.get(key, "")) > start)
        ]
    chosen = ordered[:limit]
    more = len(ordered) > len(chosen) and bool(chosen)
    following = str(chosen[-1].get(key, "")) if more else None
    href = f"{base_url}?orderby={quote(order)}&start={quote(following)}&limit={limit}" if following else None
    return (
        chosen,
        {"orderby": order, "next": following, "count": len(chosen)},
        {"next": {"href": href} if href else None},
    )


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"path {path!r} is not a JSON pointer")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply_patch(document: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902 ``add``, ``replace`` and ``remove`` on a copy (ValueError naming the bad operation)."""
    if not isinstance(operations, list) or not operations:
        raise ValueError("the body must be a non-empty JSON Patch array")
    out = copy.deepcopy(document)
    for op in operations:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise ValueError(f"unsupported patch operation {op!r}")
        *parents, last = _pointer(str(op.get("path", "")))
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.get(part)
            if node is None:
                raise ValueError(f"path {op['path']} does not exist")
        if op["op"] != "remove" and "value" not in op:
            raise ValueError(f"{op['op']} at {op['path']} needs a value")
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if op["op"] == "add":
                node.insert(index, copy.deepcopy(op["value"]))
            elif op["op"] == "replace":
                node[index] = copy.deepcopy(op["value"])
            else:
                del node[index]
        elif isinstance(node, dict):
            if op["op"] != "add" and last not in node:
                raise ValueError(f"path {op['path']} does not exist")
            if op["op"] == "remove":
                del node[last]
            else:
                node[last] = copy.deepcopy(op["value"])
        else:
            raise ValueError(f"path {op['path']} does not exist")
    return out


def bump(version: str) -> str:
    """``1.0`` -> ``1.1``: each write raises the minor version."""
    major, _, minor = version.partition(".")
    return f"{major}.{int(minor or 0) + 1}"


def strip_text(node: Any, titles: bool, descriptions: bool) -> Any:
    """The ``-notext`` / ``-desc`` variants: field titles and/or descriptions removed below the top."""
    if isinstance(node, list):
        return [strip_text(v, titles, descriptions) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "definitions") and isinstance(value, dict):
            out[key] = {
                name: {
                    k: strip_text(v, titles, descriptions)
                    for k, v in spec.items()
                    if not (titles and k == "title") and not (descriptions and k == "description")
                }
                if isinstance(spec, dict)
                else spec
                for name, spec in value.items()
            }
        else:
            out[key] = strip_text(value, titles, descriptions)
    return out
