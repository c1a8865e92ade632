"""Identity Service namespaces (/data/core/idnamespace/identities): list, and create custom ones.

Standard namespaces come from the sandbox file; custom ones created through the API are the org's (one
list for every sandbox: Adobe's scope is unconfirmed, its Postman utility says "unique per IMS Org") and
cannot be deleted. Codes are unique case-insensitively (409 ``NAMESPACE_CODE_CONFLICT``), letters and
digits only; ``idType`` is one of the documented values, in any case (400 ``INVALID_REQUEST_PARAMS``).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from aep_emulator import gateway
from aep_emulator.config import Namespace
from aep_emulator.state import Space, State
from aep_emulator.web import Request, Response, Router, json_response

BASE = "/data/core/idnamespace/identities"
ID_TYPES = ("COOKIE", "CROSS_DEVICE", "DEVICE", "EMAIL", "MOBILE", "NON_PEOPLE", "PHONE")
_CODE = re.compile(r"^[A-Za-z0-9]+$")
_TYPE = "http://ns.adobe.com/adobecloud/problem/namespacevalidation"
_FILE_TIME = 1495153678000  # the sandbox file's namespaces: the spec example's times
_FIRST_CUSTOM_ID = 10093197  # the spec example's id for a created namespace


def routes(router: Router, state: State) -> None:
    router.add("GET", BASE, gateway.in_space(state, listing))
    router.add("POST", BASE, gateway.in_space(state, create))


def _view(ns: Namespace, created_ms: int = _FILE_TIME, description: str | None = None) -> dict[str, Any]:
    return {
        "updateTime": created_ms,
        "code": ns.code,
        "status": "ACTIVE",
        "description": description if description is not None else f"{ns.name} Namespace",
        "id": ns.id,
        "createTime": created_ms,
        "idType": ns.id_type,
        "name": ns.name,
        "custom": ns.custom,
    }


def _refusal(status: int, title: str, description: str, code: str) -> Response:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json_response(
        status,
        {
            "timestamp": now,
            "type": _TYPE,
            "status": status,
            "title": title,
            "description": description,
            "report": {"code": code},
        },
    )


def listing(space: Space, request: Request) -> Response:
    with space.lock:
        created = [_view(ns, ms, text) for ns, ms, text in space.created_namespaces]
    return json_response(200, [_view(ns) for ns in space.config.namespaces] + created)


def create(space: Space, request: Request) -> Response:
    if "json" not in (request.header("content-type") or "").lower():
        return _refusal(
            400, "Namespace validation", "A valid content-type must be specified", "INVALID_REQUEST_PARAMS"
        )
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) and body[k] for k in ("name", "code", "idType")
    ):
        return _refusal(
            400, "Namespace validation", "name, code and idType are required", "INVALID_REQUEST_PARAMS"
        )
    if not _CODE.match(body["code"]):
        return _refusal(
            400, "Namespace validation", "code may contain only letters and numbers", "INVALID_REQUEST_PARAMS"
        )
    id_type = body["idType"].upper()
    if id_type not in ID_TYPES:
        return _refusal(
            400,
            "Namespace validation",
            f"Please provide a valid value of idType. Valid values are:\n[{', '.join(ID_TYPES)}]\n",
            "INVALID_REQUEST_PARAMS",
        )
    with space.lock:
        codes = [ns.code.lower() for ns in space.config.namespaces]
        codes += [ns.code.lower() for ns, _, _ in space.created_namespaces]
        if body["code"].lower() in codes:
            return _refusal(
                409,
                "NAMESPACE_CODE_CONFLICT",
                "Namespace code already exists. Please use a different code",
                "INTEGRATION_CODE_EXISTS",
            )
        namespace = Namespace.model_validate(
            {
                "code": body["code"],
                "id": _FIRST_CUSTOM_ID + len(space.created_namespaces),
                "name": body["name"],
                "idType": id_type,
                "custom": True,
            }
        )
        now = int(time.time() * 1000)
        space.created_namespaces.append((namespace, now, str(body.get("description", ""))))
    return json_response(200, _view(namespace, now, str(body.get("description", ""))))
