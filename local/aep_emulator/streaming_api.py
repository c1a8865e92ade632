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
from aep_emulator.gateway import gateway_error, sandbox_refusal, valid_token
from aep_emulator.records import RowProblem, validate
from aep_emulator.state import Org, Space, State
from aep_emulator.web import Request, Response, Router, json_response

MAX_REQUEST_BYTES = 1_000_000
_AUTH_TYPE = "https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization"
_INLET_TYPE = "http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet"


def routes(router: Router, state: State) -> None:
    router.add("POST", r"/collection/batch/(?P<inlet>[^/]+)", lambda r: batch(state, r))
    router.add("POST", r"/collection/(?P<inlet>[^/]+)", lambda r: single(state, r))


def _prefix(inlet_id: str, space: Space) -> str:
    return f"inletId: [{inlet_id}] imsOrgId: [{space.config.org_id}]"


def _auth_refusal(status: int, message: str) -> Response:
    return json_response(
        status,
        {"type": _AUTH_TYPE, "status": str(status), "title": "Authorization", "report": {"message": message}},
    )


def _authenticate(state: State, request: Request, org: Org, inlet: Inlet) -> Response | None:
    """An authenticated inlet's checks: a valid token of the inlet's org, and no other org named."""
    if not request.header("authorization"):
        return _auth_refusal(401, f"[{inlet.id}] Ims service token is empty")
    token = valid_token(state, request)
    named = request.header("x-gw-ims-org-id")
    # A token of another org, or an org header other than the token's, is refused like a token that is
    # not valid for this inlet (the documented 403 of an authenticated inlet).
    if token is None or token.org_id != org.id or (named and named != token.org_id):
        return _auth_refusal(403, "Provided authorization token is invalid or expired")
    return None


def _precheck(state: State, request: Request) -> tuple[Inlet, Space] | Response:
    found = state.inlets.get(request.params["inlet"])
    if found is None:
        return json_response(
            404,
            {
                "type": _INLET_TYPE,
                "status": 404,
                "title": "Inlet not found",
                "report": {"message": f"Inlet {request.params['inlet']} not found"},
            },
        )
    org, inlet = found
    if inlet.authenticated:
        refused = _authenticate(state, request, org, inlet)
        if refused is not None:
            return refused
    sandbox = request.header("x-sandbox-name")
    if not sandbox:
        # The spec requires x-sandbox-name on every call, authenticated inlet or not; the troubleshooting
        # guide's request-header table gives the missing-header error.
        return gateway_error("400003", "Missing header")
    space = org.spaces.get(sandbox)
    # Records land in the inlet's org, in the sandbox named: one the org has, and the one whose dataflow
    # made the inlet (a sandbox file's inlets serve every sandbox of their org).
    if space is None or inlet.sandbox not in (None, sandbox):
        return sandbox_refusal(sandbox)
    if request.size > MAX_REQUEST_BYTES:
        return json_response(
            413,
            {
                "type": _INLET_TYPE,
                "status": 413,
                "title": "Payload too large",
                "report": {"message": "payload is larger than 1 MB"},
            },
        )
    if "json" not in (request.header("content-type") or ""):
        return json_response(
            400,
            {
                "type": "/placeholder/type/uri",
                "status": 400,
                "title": "BadRequestError",
                "detail": "A valid content-type must be specified",
            },
        )
    return inlet, space


def _envelope_error(space: Space, inlet: Inlet, message: Any, flow_header: str | None) -> str | None:
    prefix = _prefix(inlet.id, space)
    if (
        not isinstance(message, dict)
        or not isinstance(message.get("header"), dict)
        or not isinstance(message.get("body"), dict)
    ):
        return f"{prefix} Message has unknown xdm format"
    header, body = message["header"], message["body"]
    dataset = space.dataset(inlet.dataset_id)
    assert dataset is not None
    schema_id = (
        (header.get("schemaRef") or {}).get("id") if isinstance(header.get("schemaRef"), dict) else None
    )
    if not schema_id:
        return f"{prefix} Message payload was missing required fields: header.schemaRef"
    org = header.get("imsOrgId")
    if org is not None and org != space.config.org_id:
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


def _message_error(space: Space, inlet: Inlet, message: Any, flow_header: str | None) -> str | None:
    """Why one message is refused (its JSON, then its envelope), or None."""
    invalid = strictjson.first_invalid(message)
    if invalid is not None:
        return f"{_prefix(inlet.id, space)} Message is not valid JSON: {invalid.reason}"
    return _envelope_error(space, inlet, message, flow_header)


def _violation(problem: RowProblem) -> dict[str, Any]:
    """One ``_streamingValidation`` entry: where the rule is, where the record breaks it, the JSON Schema
    keyword and the reason (the shape of AEP's validator: aep-api.md 4.3)."""
    return {
        "schemaLocation": problem.schema_location,
        "pointerToViolation": problem.pointer,
        "causingExceptions": [],
        "keyword": problem.keyword,
        "message": problem.message,
    }


def _failed_line(message: dict[str, Any], problems: list[RowProblem]) -> dict[str, Any]:
    """A streamed record AEP refused after its 207, as a line of the failed batch's file in Data Access.

    The message (header and body) followed by ``_errors._streamingValidation`` (the shape of the documented
    "missing source name" failure; whether AEP repeats the header there is unconfirmed).
    """
    return {
        "header": message["header"],
        "body": message["body"],
        "_errors": {
            "_streamingValidation": [
                _violation(p)
                for p in problems[:5]  # AEP stops validating a message after five errors
            ]
        },
    }


def _accept(
    space: Space, inlet: Inlet, message: dict[str, Any], xaction: str, failures: list[dict[str, Any]]
) -> list[str]:
    """Schema-validate asynchronously (as AEP does): good records reach the profile store, the others
    join ``failures`` (filed as the dataset's failed streaming batch once the request is answered)."""
    dataset = space.dataset(inlet.dataset_id)
    assert dataset is not None
    entity = message["body"]["xdmEntity"]
    problems = validate(entity, dataset, space.check(dataset, "streaming"))
    with space.lock:
        if problems:
            space.streamed_failed.append(
                {
                    "xactionId": xaction,
                    "datasetId": dataset.id,
                    "errors": [{"code": p.code, "message": p.message} for p in problems],
                }
            )
            failures.append(_failed_line(message, problems))
        else:
            space.streamed[dataset.id] += 1
            record_id = entity.get("_id")
            if isinstance(record_id, str):
                space.streamed_ids[record_id] += 1
    if not problems and dataset.profile_enabled:
        space.profiles.ingest(entity, dataset)
    return [p.message for p in problems]


def _file_failures(space: Space, inlet: Inlet, failures: list[dict[str, Any]]) -> None:
    if failures:
        window_ms = int(space.config.streaming_failure_window_seconds * 1000)
        space.file_stream_failures(inlet.dataset_id, failures, int(time.time() * 1000), window_ms)


def _invalid_body(space: Space, inlet: Inlet, reason: str) -> Response:
    return json_response(
        400,
        {
            "type": _INLET_TYPE,
            "status": 400,
            "title": "Invalid XDM Message Format",
            "report": {"message": f"{_prefix(inlet.id, space)} {reason}"},
        },
    )


def batch(state: State, request: Request) -> Response:
    checked = _precheck(state, request)
    if isinstance(checked, Response):
        return checked
    inlet, space = checked
    try:
        payload = strictjson.loads_marked(request.body)
    except ValueError:
        return _invalid_body(space, inlet, "The request body is not JSON")
    messages = payload.get("messages") if isinstance(payload, dict) else None
    outside = {k: v for k, v in payload.items() if k != "messages"} if isinstance(payload, dict) else payload
    refused = strictjson.first_invalid(outside)
    if isinstance(messages, strictjson.Invalid):
        refused = messages
    if refused is not None:
        return _invalid_body(space, inlet, f"The request body is not valid JSON: {refused.reason}")
    if not isinstance(messages, list):
        return _invalid_body(space, inlet, "messages must be an array")
    received = int(time.time() * 1000)
    batch_id = f"{received}:{space.next_id() % 10000:04d}:{len(messages)}"
    responses: list[dict[str, Any]] = []
    flow_header = request.header("x-adobe-flow-id")
    failures: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        problem = _message_error(space, inlet, message, flow_header)
        if problem:
            responses.append({"statusCode": 400, "message": problem})
            continue
        xaction = f"{batch_id}:{index}"
        _accept(space, inlet, message, xaction, failures)
        responses.append({"xactionId": xaction})
    _file_failures(space, inlet, failures)
    return json_response(
        207, {"inletId": inlet.id, "batchId": batch_id, "receivedTimeMs": received, "responses": responses}
    )


def single(state: State, request: Request) -> Response:
    checked = _precheck(state, request)
    if isinstance(checked, Response):
        return checked
    inlet, space = checked
    try:
        message = strictjson.loads_marked(request.body)
    except ValueError:
        message = None
    problem = _message_error(space, inlet, message, request.header("x-adobe-flow-id"))
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
    xaction = f"{received}:{space.next_id() % 10000:04d}:1"
    sync = request.query.get("syncValidation", "").lower() == "true"
    assert isinstance(message, dict)
    entity = message["body"]["xdmEntity"]
    if sync:
        dataset = space.dataset(inlet.dataset_id)
        assert dataset is not None
        problems = validate(entity, dataset, space.check(dataset, "streaming"))[:5]
        if problems:
            causing = [_violation(p) for p in problems]
            return json_response(
                400,
                {
                    "type": _INLET_TYPE,
                    "status": 400,
                    "title": "Invalid XDM Message Format",
                    "report": {
                        "message": f"{_prefix(inlet.id, space)} Message is invalid",
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
    failures: list[dict[str, Any]] = []
    _accept(space, inlet, message, xaction, failures)
    _file_failures(space, inlet, failures)
    return json_response(
        200,
        {
            "inletId": inlet.id,
            "xactionId": xaction,
            "receivedTimeMs": received,
            "syncValidation": {"status": "pass"} if sync else {"skipped": True},
        },
    )
