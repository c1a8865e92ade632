"""The routes: Powertools' REST resolver with request validation, one JSON error shape, our own answers.

``/profiles/...`` reads the default tenant, ``/tenants/{tenant}/profiles/...`` a registry tenant (see
:mod:`profile_lookup.tenancy`). Each route lists the query parameters it takes: any other is a 400.
The OpenAPI document (``openapi.json`` beside this package) is generated from these routes
(:func:`openapi_document`) and a test keeps the committed copy equal to it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from aep.client import AepClient
from aep.errors import AepError
from aep.tenants import DEFAULT_TENANT, Tenant
from profile_lookup.errors import ApiError, bad_request, from_aep
from profile_lookup.identities import Identity, InvalidIdentityError, from_path, parse_identity
from profile_lookup.runtime import Runtime, runtime
from profile_lookup.service import Query as Read
from profile_lookup.service import Usage
from profile_lookup.settings import checked_fields, split_list
from profile_lookup.telemetry import note, request_usage
from profile_lookup.tenancy import request_caller
from profile_lookup.views import ErrorBody, Events, LookupRequest, LookupResults, Profile

app = APIGatewayRestResolver(enable_validation=True)

MERGE_POLICY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"
MAX_EVENTS = 100
#: A percent-encoded id is up to three times its length; parse_identity then checks the decoded length.
MAX_PATH_SEGMENT = 1024
NO_CACHE = "no-cache"

_ERRORS: dict[int, OpenAPIResponse] = {
    status: {"description": text, "content": {"application/json": {"model": ErrorBody}}}
    for status, text in (
        (400, "Bad input: an identity, a field, a parameter (unknown query parameters too)."),
        (403, "The caller may not read this tenant (or IAM refused the request at the gateway)."),
        (404, "No profile for this identity."),
        (422, "AEP cannot merge this identity's graph (more than 50 linked identities)."),
        (429, "AEP throttles beyond our retries, or the gateway throttles the caller: see Retry-After."),
        (502, "AEP failed."),
        (504, "The deadline (LOOKUP_DEADLINE_SECONDS) passed."),
    )
}


def _responses(model: type[BaseModel], text: str) -> dict[int, OpenAPIResponse]:
    ok: OpenAPIResponse = {"description": text, "content": {"application/json": {"model": model}}}
    return {200: ok, **_ERRORS}


Namespace = Annotated[
    str, Path(max_length=64, description="An allowed identity namespace code (Phone, Email, ECID...).")
]
IdentityValue = Annotated[
    str,
    Path(
        max_length=MAX_PATH_SEGMENT,
        description="The identity, normalised as ingestion does (phone to E.164, email lowercased).",
    ),
]
TenantId = Annotated[
    str, Path(max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="A registry tenant.")
]
Fields = Annotated[
    str | None,
    Query(
        max_length=4000,
        description="Comma-separated XDM paths (default: the deployment's LOOKUP_DEFAULT_FIELDS).",
    ),
]
MergePolicy = Annotated[
    str | None,
    Query(
        alias="mergePolicyId",
        pattern=MERGE_POLICY_PATTERN,
        description="An AEP merge policy id (default: the org's).",
    ),
]
CacheControl = Annotated[
    str | None, Header(alias="Cache-Control", description="no-cache: bypass the function's cache.")
]
Limit = Annotated[int, Query(ge=1, le=MAX_EVENTS, description="At most this many events, newest first.")]
Since = Annotated[datetime | None, Query(description="Events at or after this time (ISO 8601).")]
Until = Annotated[datetime | None, Query(description="Events before this time (ISO 8601).")]

PROFILE_QUERY = frozenset({"fields", "mergePolicyId"})
EVENTS_QUERY = frozenset({"limit", "since", "until"})


# -- routes ----------------------------------------------------------------------------------------------


@app.get(
    "/profiles/<namespace>/<id>",
    summary="One unified profile",
    responses=_responses(Profile, "The profile."),
    tags=["profiles"],
)
def get_profile(
    namespace: Namespace,
    id: IdentityValue,
    fields: Fields = None,
    merge_policy_id: MergePolicy = None,
    cache_control: CacheControl = None,
) -> Profile:
    return _profile(
        None, namespace, value=id, fields=fields, merge_policy_id=merge_policy_id, cache_control=cache_control
    )


@app.get(
    "/tenants/<tenant>/profiles/<namespace>/<id>",
    summary="One unified profile of a registry tenant",
    responses=_responses(Profile, "The profile."),
    tags=["tenants"],
)
def get_tenant_profile(
    *,
    tenant: TenantId,
    namespace: Namespace,
    id: IdentityValue,
    fields: Fields = None,
    merge_policy_id: MergePolicy = None,
    cache_control: CacheControl = None,
) -> Profile:
    return _profile(
        tenant,
        namespace,
        value=id,
        fields=fields,
        merge_policy_id=merge_policy_id,
        cache_control=cache_control,
    )


@app.post(
    "/profiles/lookup",
    summary="Several identities at once, answered in order",
    responses=_responses(LookupResults, "One result per identity, in request order."),
    tags=["profiles"],
)
def lookup(request: Annotated[LookupRequest, Body()], cache_control: CacheControl = None) -> LookupResults:
    return _lookup(None, request, cache_control)


@app.post(
    "/tenants/<tenant>/profiles/lookup",
    summary="Several identities of a registry tenant at once",
    responses=_responses(LookupResults, "One result per identity, in request order."),
    tags=["tenants"],
)
def tenant_lookup(
    tenant: TenantId, request: Annotated[LookupRequest, Body()], cache_control: CacheControl = None
) -> LookupResults:
    return _lookup(tenant, request, cache_control)


_EVENTS_TEXT = (
    "Recent experience events of the profile, newest first. Adobe has deprecated this upstream call "
    "and reserves it for some licences (Real-Time CDP Ultimate): it may answer 403 or 502 elsewhere."
)


@app.get(
    "/profiles/<namespace>/<id>/events",
    summary="Recent experience events",
    description=_EVENTS_TEXT,
    responses=_responses(Events, "The events, newest first."),
    tags=["profiles"],
)
def get_events(
    namespace: Namespace,
    id: IdentityValue,
    limit: Limit = 10,
    since: Since = None,
    until: Until = None,
) -> Events:
    return _events(None, namespace, value=id, limit=limit, since=since, until=until)


@app.get(
    "/tenants/<tenant>/profiles/<namespace>/<id>/events",
    summary="Recent experience events of a registry tenant's profile",
    description=_EVENTS_TEXT,
    responses=_responses(Events, "The events, newest first."),
    tags=["tenants"],
)
def get_tenant_events(
    *,
    tenant: TenantId,
    namespace: Namespace,
    id: IdentityValue,
    limit: Limit = 10,
    since: Since = None,
    until: Until = None,
) -> Events:
    return _events(tenant, namespace, value=id, limit=limit, since=since, until=until)


# -- what the routes do ----------------------------------------------------------------------------------


def _profile(
    tenant_id: str | None,
    namespace: str,
    *,
    value: str,
    fields: str | None,
    merge_policy_id: str | None,
    cache_control: str | None,
) -> Profile:
    _only(PROFILE_QUERY)
    rt = runtime()
    identity = _identity(rt, namespace, from_path(value))
    read = _read(rt, split_list(fields) if fields is not None else None, merge_policy_id)
    tenant, client = _tenant(rt, tenant_id)
    deadline = rt.service.deadline()
    return rt.service.profile(
        client, tenant, identity, read, deadline, bypass=_bypass(cache_control), usage=_usage()
    )


def _lookup(tenant_id: str | None, request: LookupRequest, cache_control: str | None) -> LookupResults:
    _only(frozenset())
    rt = runtime()
    if len(request.identities) > rt.settings.max_identities:
        raise bad_request(f"identities: at most {rt.settings.max_identities} per request")
    identities = [
        _identity(rt, item.namespace, item.id, where=f"identities[{index}].id")
        for index, item in enumerate(request.identities)
    ]
    read = _read(rt, tuple(request.fields) if request.fields is not None else None, request.merge_policy_id)
    tenant, client = _tenant(rt, tenant_id)
    deadline = rt.service.deadline()
    items = rt.service.profiles(
        client, tenant, identities, read, deadline, bypass=_bypass(cache_control), usage=_usage()
    )
    return LookupResults(results=items)


def _events(
    tenant_id: str | None,
    namespace: str,
    *,
    value: str,
    limit: int,
    since: datetime | None,
    until: datetime | None,
) -> Events:
    _only(EVENTS_QUERY)
    rt = runtime()
    identity = _identity(rt, namespace, from_path(value))
    start_ms, end_ms = _millis(since, "since"), _millis(until, "until")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise bad_request("until: must be later than since")
    _, client = _tenant(rt, tenant_id)
    deadline = rt.service.deadline()
    events = rt.service.events(
        client, identity, limit=limit, start_ms=start_ms, end_ms=end_ms, deadline=deadline, usage=_usage()
    )
    return Events(events=events)


def _only(allowed: frozenset[str]) -> None:
    """400 for a query parameter the route does not take (never echoing the caller's parameter name)."""
    given = app.current_event.multi_value_query_string_parameters or {}
    unknown = set(given) - allowed
    if unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        raise bad_request(f"unknown query parameter (this route takes: {takes})", "unknown-parameter")


def _identity(rt: Runtime, namespace: str, value: str, where: str = "id") -> Identity:
    try:
        return parse_identity(
            namespace, value, rt.settings.namespaces, rt.settings.default_phone_region, where=where
        )
    except InvalidIdentityError as exc:
        raise bad_request(str(exc), "invalid-identity") from None


def _read(rt: Runtime, fields: tuple[str, ...] | None, merge_policy_id: str | None) -> Read:
    try:
        chosen = checked_fields(fields) if fields is not None else rt.settings.default_fields
    except ValueError as exc:
        raise bad_request(f"fields: {exc}", "invalid-fields") from None
    return Read(fields=chosen, merge_policy_id=merge_policy_id)


def _tenant(rt: Runtime, tenant_id: str | None) -> tuple[Tenant, AepClient]:
    caller = request_caller(app.current_event.raw_event)
    try:
        tenant = rt.access.authorize(caller, tenant_id or DEFAULT_TENANT)
        note(tenant=tenant.tenant_id)
        return tenant, rt.client(tenant)
    except AepError as exc:
        reason = getattr(exc, "reason", None)
        if reason:
            note(refused=reason)
        raise from_aep(exc) from None


def _bypass(cache_control: str | None) -> bool:
    return cache_control is not None and NO_CACHE in cache_control.lower()


def _usage() -> Usage:
    return request_usage()


def _millis(moment: datetime | None, name: str) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise bad_request(f"{name}: must carry a time zone (Z or +hh:mm)")
    return int(moment.timestamp() * 1000)


# -- errors ----------------------------------------------------------------------------------------------


def error_response(error: ApiError) -> Response[str]:
    context = app.current_event.raw_event.get("requestContext") or {}
    request_id = context.get("requestId") if isinstance(context, dict) else None
    body = {
        "error": {
            "status": error.status,
            "code": error.code,
            "message": error.message,
            "requestId": request_id if isinstance(request_id, str) else None,
        }
    }
    headers: dict[str, str] = {}
    if error.retry_after_header is not None:
        headers["Retry-After"] = error.retry_after_header
    note(code=error.code)
    return Response(error.status, "application/json", json.dumps(body), headers=headers)


@app.exception_handler(ApiError)  # type: ignore[untyped-decorator]
def _api_error(error: ApiError) -> Response[str]:
    return error_response(error)


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(exc: RequestValidationError) -> Response[str]:
    problems = []
    for problem in exc.errors():
        location = ".".join(str(part) for part in problem.get("loc", ()) if part != "body") or "request"
        problems.append(f"{location}: {problem.get('msg', 'invalid')}")
    return error_response(bad_request("; ".join(problems[:5])))


@app.not_found
def _no_route(_: Exception) -> Response[str]:
    path = app.current_event.path or ""
    if path.startswith(("/profiles/", "/tenants/")):
        return error_response(
            bad_request("the path is not a lookup route (an id cannot hold '/')", "invalid-path")
        )
    return error_response(ApiError(404, "no-route", "no such route"))


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, generated from the routes (committed as ``openapi.json``)."""
    text = app.get_openapi_json_schema(
        title="AEP profile lookup API",
        version="1.0.0",
        description=(
            "A caller's unified Real-Time Customer Profile from Adobe Experience Platform, in our own "
            "shape. Every route needs IAM (SigV4) authentication; errors share one JSON shape (ErrorBody)."
        ),
    )
    document: dict[str, Any] = json.loads(text)
    # Every route: IAM (SigV4), as the template's DefaultAuthorizer says.
    document["components"]["securitySchemes"] = {
        "sigv4": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    }
    document["security"] = [{"sigv4": []}]
    return document
