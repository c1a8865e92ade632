"""Streaming ingestion (DCCS): /collection/{inlet} and /collection/batch/{inlet}.

As in AEP, the envelope is checked when the message arrives (a per-message 400 in the 207), while schema
validation is asynchronous: a message with a valid envelope is accepted (it gets an xactionId) and, if its
record breaks the schema, lands among the failed records instead of the profile store. ``syncValidation``
on the single-message endpoint makes schema validation synchronous.
"""

from __future__ import annotations

import time
from typing import Any

from aep_emulator import strictjson
from aep_emulator.config import Inlet
from aep_emulator.gateway import gateway_error, valid_token
from aep_emulator.records import validate
from aep_emulator.state import State
from aep_emulator.web import Request, Response, Router, json_response

MAX_REQUEST_BYTES = 1_000_000
_AUTH_TYPE = "https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization"
_INLET_TYPE = "http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet"


def routes(router: Router, state: State) -> None:
    router.add("POST", r"/collection/batch/(?P<inlet>[^/]+)", lambda r: batch(state, r))
    router.add("POST", r"/collection/(?P<inlet>[^/]+)", lambda r: single(state, r))


def _prefix(inlet_id: str, state: State) -> str:
    return f"inletId: [{inlet_id}] imsOrgId: [{state.config.org_id}]"


def _precheck(state: State, request: Request) -> tuple[Inlet | None, Response | None]:
    inlet = state.config.inlet(request.params["inlet"])
    if inlet is None:
        return None, json_response(
            404,
            {
                "type": _INLET_TYPE,
                "status": 404,
                "title": "Inlet not found",
                "report": {"message": f"Inlet {request.params['inlet']} not found"},
            },
        )
    if inlet.authenticated:
        if not request.header("authorization"):
            return None, json_response(
                401,
                {
                    "type": _AUTH_TYPE,
                    "status": "401",
                    "title": "Authorization",
                    "report": {"message": f"[{inlet.id}] Ims service token is empty"},
                },
            )
        if valid_token(state, request) is None:
            return None, json_response(
                403,
                {
                    "type": _AUTH_TYPE,
                    "status": "403",
                    "title": "Authorization",
                    "report": {"message": "Provided authorization token is invalid or expired"},
                },
            )
    if not request.header("x-sandbox-name"):
        # The spec requires x-sandbox-name on every call, authenticated inlet or not; the troubleshooting
        # guide's request-header table gives the missing-header error.
        return None, gateway_error("400003", "Missing header")
    if request.size > MAX_REQUEST_BYTES:
        return None, json_response(
            413,
            {
                "type": _INLET_TYPE,
                "status": 413,
                "title": "Payload too large",
                "report": {"message": "payload is larger than 1 MB"},
            },
        )
    if "json" not in (request.header("content-type") or ""):
        return None, json_response(
            400,
            {
                "type": "/placeholder/type/uri",
                "status": 400,
                "title": "BadRequestError",
                "detail": "A valid content-type must be specified",
            },
        )
    return inlet, None


def _envelope_error(state: State, inlet: Inlet, message: Any, flow_header: str | None) -> str | None:
    prefix = _prefix(inlet.id, state)
    if (
        not isinstance(message, dict)
        or not isinstance(message.get("header"), dict)
        or not isinstance(message.get("body"), dict)
    ):
        return f"{prefix} Message has unknown xdm format"
    header, body = message["header"], message["body"]
    dataset = state.config.dataset(inlet.dataset_id)
    assert dataset is not None
    schema_id = (
        (header.get("schemaRef") or {}).get("id") if isinstance(header.get("schemaRef"), dict) else None
    )
    if not schema_id:
        return f"{prefix} Message payload was missing required fields: header.schemaRef"
    org = header.get("imsOrgId")
    if org is not None and org != state.config.org_id:
        return f"{prefix} Message has an absent or wrong ims org in the header"
    if header.get("datasetId") != inlet.dataset_id:
        return f"{prefix} Message datasetId does not match the dataset of this inlet"
    if schema_id != dataset.schema_ref:
        return f"{prefix} Message schemaRef does not match the schema of dataset {dataset.id}"
    flow = header.get("flowId") or flow_header
    if flow is not None and inlet.flow_id is not None and flow != inlet.flow_id:
        return f"{prefix} Message flowId does not match a dataflow of this inlet"
    meta = body.get("xdmMeta")
    if (
        isinstance(meta, dict)
        and isinstance(meta.get("schemaRef"), dict)
        and meta["schemaRef"].get("id") != schema_id
    ):
        return f"{prefix} body.xdmMeta.schemaRef does not match header.schemaRef"
    if not isinstance(body.get("xdmEntity"), dict):
        return f"{prefix} Message payload was missing required fields: body.xdmEntity"
    return None


def _message_error(state: State, inlet: Inlet, message: Any, flow_header: str | None) -> str | None:
    """Why one message is refused (its JSON, then its envelope), or None."""
    invalid = strictjson.first_invalid(message)
    if invalid is not None:
        return f"{_prefix(inlet.id, state)} Message is not valid JSON: {invalid.reason}"
    return _envelope_error(state, inlet, message, flow_header)


def _accept(state: State, inlet: Inlet, entity: dict[str, Any], xaction: str) -> list[str]:
    """Schema-validate asynchronously (as AEP does): good records reach the profile store."""
    dataset = state.config.dataset(inlet.dataset_id)
    assert dataset is not None
    problems = validate(entity, dataset)
    with state.lock:
        if problems:
            state.streamed_failed.append(
                {
                    "xactionId": xaction,
                    "datasetId": dataset.id,
                    "errors": [{"code": p.code, "message": p.message} for p in problems],
                }
            )
        else:
            state.streamed[dataset.id] += 1
            record_id = entity.get("_id")
            if isinstance(record_id, str):
                state.streamed_ids[record_id] += 1
    if not problems and dataset.profile_enabled:
        state.profiles.ingest(entity, dataset)
    return [p.message for p in problems]


def _invalid_body(state: State, inlet: Inlet, reason: str) -> Response:
    return json_response(
        400,
        {
            "type": _INLET_TYPE,
            "status": 400,
            "title": "Invalid XDM Message Format",
            "report": {"message": f"{_prefix(inlet.id, state)} {reason}"},
        },
    )


def batch(state: State, request: Request) -> Response:
    inlet, error = _precheck(state, request)
    if error or inlet is None:
        return error or json_response(500, {})
    try:
        payload = strictjson.loads_marked(request.body)
    except ValueError:
        return _invalid_body(state, inlet, "The request body is not JSON")
    messages = payload.get("messages") if isinstance(payload, dict) else None
    outside = {k: v for k, v in payload.items() if k != "messages"} if isinstance(payload, dict) else payload
    refused = strictjson.first_invalid(outside)
    if isinstance(messages, strictjson.Invalid):
        refused = messages
    if refused is not None:
        return _invalid_body(state, inlet, f"The request body is not valid JSON: {refused.reason}")
    if not isinstance(messages, list):
        return _invalid_body(state, inlet, "messages must be an array")
    received = int(time.time() * 1000)
    batch_id = f"{received}:{state.next_id() % 10000:04d}:{len(messages)}"
    responses: list[dict[str, Any]] = []
    flow_header = request.header("x-adobe-flow-id")
    for index, message in enumerate(messages):
        problem = _message_error(state, inlet, message, flow_header)
        if problem:
            responses.append({"statusCode": 400, "message": problem})
            continue
        xaction = f"{batch_id}:{index}"
        _accept(state, inlet, message["body"]["xdmEntity"], xaction)
        responses.append({"xactionId": xaction})
    return json_response(
        207, {"inletId": inlet.id, "batchId": batch_id, "receivedTimeMs": received, "responses": responses}
    )


def single(state: State, request: Request) -> Response:
    inlet, error = _precheck(state, request)
    if error or inlet is None:
        return error or json_response(500, {})
    try:
        message = strictjson.loads_marked(request.body)
    except ValueError:
        message = None
    problem = _message_error(state, inlet, message, request.header("x-adobe-flow-id"))
    if problem:
        return json_response(
            400,
            {
                "type": _INLET_TYPE,
                "status": 400,
                "title": "Invalid XDM Message Format",
                "report": {"message": problem},
            },
        )
    received = int(time.time() * 1000)
    xaction = f"{received}:{state.next_id() % 10000:04d}:1"
    sync = request.query.get("syncValidation", "").lower() == "true"
    assert isinstance(message, dict)
    entity = message["body"]["xdmEntity"]
    if sync:
        dataset = state.config.dataset(inlet.dataset_id)
        assert dataset is not None
        problems = validate(entity, dataset)[:5]
        if problems:
            causing = [
                {
                    "schemaLocation": "#",
                    "pointerToViolation": "#",
                    "causingExceptions": [],
                    "keyword": p.code,
                    "message": p.message,
                }
                for p in problems
            ]
            return json_response(
                400,
                {
                    "type": _INLET_TYPE,
                    "status": 400,
                    "title": "Invalid XDM Message Format",
                    "report": {
                        "message": f"{_prefix(inlet.id, state)} Message is invalid",
                        "cause": {
                            "_streamingValidation": [
                                {
                                    "schemaLocation": "#",
                                    "pointerToViolation": "#",
                                    "causingExceptions": causing,
                                    "message": f"{len(problems)} schema violations found",
                                }
                            ]
                        },
                    },
                },
            )
    _accept(state, inlet, entity, xaction)
    return json_response(
        200,
        {
            "inletId": inlet.id,
            "xactionId": xaction,
            "receivedTimeMs": received,
            "syncValidation": {"status": "pass"} if sync else {"skipped": True},
        },
    )
