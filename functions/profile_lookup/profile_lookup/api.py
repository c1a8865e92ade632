"""The routes: Powertools' REST resolver with request validation, one JSON error shape, our own answers.

``/profiles/...`` reads the default tenant, ``/tenants/{tenant}/profiles/...`` a registry tenant (see
:mod:`profile_lookup.tenancy`). Each route lists the query parameters it takes: any other is a 400.
The OpenAPI document (``openapi.json`` beside this package) is generated from these routes
(:func:`openapi_document`) and a test keeps the committed copy equal to it.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from pydantic import BaseModel

from aep import strict_json
from aep.client import AepClient
from aep.errors import AepError
from aep.tenants import DEFAULT_TENANT, Tenant, TenantLookupError
from aep.tenants.callers import CallerNotAllowedError
from aep.tenants.model import TENANT_ID_PATTERN
from aep.timing import Deadline
from profile_lookup.errors import ApiError, bad_request, deadline_passed, from_aep
from profile_lookup.flight import FlightTimeoutError
from profile_lookup.identities import Identity, InvalidIdentityError, from_path, parse_identity
from profile_lookup.runtime import Runtime, runtime
from profile_lookup.service import Query as Read
from profile_lookup.service import Usage
from profile_lookup.settings import checked_fields, split_list
from profile_lookup.telemetry import note, record_attempt, request_usage
from profile_lookup.tenancy import request_caller
from profile_lookup.views import (
    MERGE_POLICY_PATTERN,
    ErrorBody,
    Events,
    LookupRequest,
    LookupResults,
    Profile,
    invalid_item,
)

logger = logging.getLogger(__name__)


def parse_body(text: str) -> Any:
    """The request body as AEP would read its JSON (:mod:`aep.strict_json`: no duplicate keys, no NaN).
    Any failure, nesting too deep for the parser included, is a JSONDecodeError: the resolver's 400."""
    try:
        return strict_json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("the JSON is nested too deeply", "", 0) from None
    except ValueError as exc:  # StrictJsonError, UnicodeDecodeError, too many digits: never the text
        reason = str(exc) if isinstance(exc, strict_json.StrictJsonError) else type(exc).__name__
        raise json.JSONDecodeError(reason, "", 0) from None


# debug=False: Powertools' debug mode (POWERTOOLS_DEV) would print whole events, identity values included.
app = APIGatewayRestResolver(enable_validation=True, debug=False, json_body_deserializer=parse_body)

_TENANT_ID = re.compile(TENANT_ID_PATTERN)
MAX_EVENTS = 100
#: A percent-encoded id is up to three times its length; parse_identity then checks the decoded length.
MAX_PATH_SEGMENT = 1024
NO_CACHE = "no-cache"

_RETRY_AFTER: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {
        "description": "Whole seconds to wait before trying again (at least 1).",
        "schema": {"type": "integer", "minimum": 1},
    }
}
#: Every answer other than 200, and what gives it ("the gateway": API Gateway itself, before the function).
_ANSWERS: dict[int, str] = {
    400: "Bad input: an identity, a field, a parameter (unknown query parameters too), a malformed body.",
    401: "The gateway: the request carries no valid credentials (UNAUTHORIZED).",
    403: "The caller may not read this tenant (the function), or IAM refused the request (the gateway).",
    404: "No profile for this identity.",
    413: "The gateway: the request is larger than API Gateway accepts (REQUEST_TOO_LARGE).",
    415: "The body is not declared JSON (Content-Type must be application/json).",
    422: "AEP cannot merge this identity's graph (more than 50 linked identities).",
    429: "AEP throttles beyond our retries, or the gateway throttles the caller: see Retry-After.",
    500: "The deployment's configuration is unusable (configuration), or the function failed (internal).",
    502: "AEP failed (aep-failure), refused the deployment's credentials (aep-auth), or IMS cannot issue a "
    "token now (ims-unavailable: see Retry-After).",
    503: "The tenant registry cannot be read (registry-unavailable): see Retry-After.",
    504: "The deadline (LOOKUP_DEADLINE_SECONDS) passed.",
}
_POST_ANSWERS = {
    **_ANSWERS,
    429: "The gateway throttles the caller: see Retry-After (AEP's throttling answers per identity).",
    502: "The gateway: the function gave no answer (AEP's failures answer per identity).",
}
#: The answers of each kind of route: a multi-identity lookup answers AEP's failures, its 404s and its
#: 422s per identity (200), so it never gives 404, 422 or 504 as a whole.
_PROFILE_STATUSES = (400, 401, 403, 404, 413, 422, 429, 500, 502, 503, 504)
_LOOKUP_STATUSES = (400, 401, 403, 413, 415, 429, 500, 502, 503)


def _responses(model: type[BaseModel], text: str, *, many: bool = False) -> dict[int, OpenAPIResponse]:
    answers = _POST_ANSWERS if many else _ANSWERS
    responses: dict[int, OpenAPIResponse] = {
        200: {"description": text, "content": {"application/json": {"model": model}}}
    }
    for status in _LOOKUP_STATUSES if many else _PROFILE_STATUSES:
        answer: OpenAPIResponse = {
            "description": answers[status],
            "content": {"application/json": {"model": ErrorBody}},
        }
        if status in (429, 503) or (status == 502 and not many):
            answer["headers"] = _RETRY_AFTER
        responses[status] = answer
    return responses


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
#: The resources of the routes below, as API Gateway names them in the event (``resource``).
ROUTE_RESOURCES = frozenset(
    {
        "/profiles/{namespace}/{id}",
        "/profiles/{namespace}/{id}/events",
        "/profiles/lookup",
        "/tenants/{tenant}/profiles/{namespace}/{id}",
        "/tenants/{tenant}/profiles/{namespace}/{id}/events",
        "/tenants/{tenant}/profiles/lookup",
    }
)
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
    responses=_responses(LookupResults, "One result per identity, in request order.", many=True),
    tags=["profiles"],
)
def lookup(request: Annotated[LookupRequest, Body()], cache_control: CacheControl = None) -> LookupResults:
    return _lookup(None, request, cache_control)


@app.post(
    "/tenants/<tenant>/profiles/lookup",
    summary="Several identities of a registry tenant at once",
    responses=_responses(LookupResults, "One result per identity, in request order.", many=True),
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


@dataclass(frozen=True)
class Scope:
    """What :func:`handle` settled before the resolver ran: the runtime, the tenant the caller may read, the
    request's deadline (taken first: the registry read, the client and AEP all count inside it), its usage."""

    rt: Runtime
    tenant: Tenant
    deadline: Deadline
    usage: Usage


_scope: ContextVar[Scope | None] = ContextVar("lookup_scope", default=None)


def _current() -> Scope:
    scope = _scope.get()
    if scope is None:  # a route reached without handle()'s authorization: never serve it
        raise ApiError(403, "forbidden", "the caller may not read this tenant's profiles")
    return scope


def _profile(
    tenant_id: str | None,
    namespace: str,
    *,
    value: str,
    fields: str | None,
    merge_policy_id: str | None,
    cache_control: str | None,
) -> Profile:
    del tenant_id  # authorized by handle()
    _only(PROFILE_QUERY)
    scope = _current()
    identity = _identity(scope, namespace, from_path(value))
    read = _read(scope.rt, split_list(fields) if fields is not None else None, merge_policy_id)
    bypass = _bypass(cache_control)
    held = None if bypass else scope.rt.service.held(scope.tenant, identity, read, scope.usage)
    if held is not None:  # a cache hit needs no client (one evicted would be built for nothing)
        return held
    client = _client(scope)
    return scope.rt.service.profile(
        client, scope.tenant, identity, read, scope.deadline, bypass=bypass, usage=scope.usage
    )


def _lookup(tenant_id: str | None, request: LookupRequest, cache_control: str | None) -> LookupResults:
    """One result per identity, in request order: an invalid identity answers its own 400 ``error`` and
    the valid ones are looked up (only a malformed request as a whole is a 400)."""
    del tenant_id  # authorized by handle()
    _only(frozenset())
    scope = _current()
    rt = scope.rt
    if len(request.identities) > rt.settings.max_identities:
        raise bad_request(f"identities: at most {rt.settings.max_identities} per request")
    read = _read(rt, tuple(request.fields) if request.fields is not None else None, request.merge_policy_id)
    parsed: list[Identity | ApiError] = []
    for index, item in enumerate(request.identities):
        try:
            parsed.append(_identity(scope, item.namespace, item.id, where=f"identities[{index}].id"))
        except ApiError as error:
            if error.status != 400:  # not the identity's fault (the tenant's rules): the whole request
                raise
            parsed.append(error)
    valid = [one for one in parsed if isinstance(one, Identity)]
    found = iter(
        rt.service.profiles(
            _client(scope),
            scope.tenant,
            valid,
            read,
            scope.deadline,
            bypass=_bypass(cache_control),
            usage=scope.usage,
        )
        if valid
        else []
    )
    items = [next(found) if isinstance(one, Identity) else invalid_item(one) for one in parsed]
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
    del tenant_id  # authorized by handle()
    _only(EVENTS_QUERY)
    scope = _current()
    identity = _identity(scope, namespace, from_path(value))
    start_ms, end_ms = _millis(since, "since"), _millis(until, "until")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise bad_request("until: must be later than since")
    events = scope.rt.service.events(
        _client(scope),
        identity,
        limit=limit,
        start_ms=start_ms,
        end_ms=end_ms,
        deadline=scope.deadline,
        usage=scope.usage,
    )
    return Events(events=events)


def _only(allowed: frozenset[str]) -> None:
    """400 for a query parameter the route does not take (never echoing the caller's parameter name)."""
    given = app.current_event.multi_value_query_string_parameters or {}
    unknown = set(given) - allowed
    if unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        raise bad_request(f"unknown query parameter (this route takes: {takes})", "unknown-parameter")


def _identity(scope: Scope, namespace: str, value: str, where: str = "id") -> Identity:
    """The identity by the tenant's own rules (:mod:`profile_lookup.rules`, ingestion's)."""
    try:
        rules = scope.rt.rules(scope.tenant)
    except AepError as exc:
        raise from_aep(exc) from None
    try:
        return parse_identity(namespace, value, rules.namespaces, rules.default_phone_region, where=where)
    except InvalidIdentityError as exc:
        raise bad_request(str(exc), "invalid-identity") from None


def _read(rt: Runtime, fields: tuple[str, ...] | None, merge_policy_id: str | None) -> Read:
    """What to read; no fields, or an empty list of them (``fields=``, ``[]``), is the default set."""
    try:
        chosen = checked_fields(fields) if fields else ()
    except ValueError as exc:
        raise bad_request(f"fields: {exc}", "invalid-fields") from None
    return Read(fields=chosen or rt.settings.default_fields, merge_policy_id=merge_policy_id)


def _client(scope: Scope) -> AepClient:
    """The tenant's client, its transport reporting each attempt into the request's usage."""
    rt, tenant = scope.rt, scope.tenant
    try:
        if rt.clients.holds(tenant):
            client = rt.client(tenant)
        else:  # the first build reads the tenant's credentials secret: bounded by the deadline
            client = rt.service.control.run(lambda: rt.client(tenant), scope.deadline)
    except AepError as exc:
        raise from_aep(exc) from None
    client.transport.on_attempt = record_attempt
    return client


def _bypass(cache_control: str | None) -> bool:
    return cache_control is not None and NO_CACHE in cache_control.lower()


def _millis(moment: datetime | None, name: str) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise bad_request(f"{name}: must carry a time zone (Z or +hh:mm)")
    return int(moment.timestamp() * 1000)


# -- the request: authorize, then resolve ------------------------------------------------------------------


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The answer to one API Gateway event. The deadline starts first; then the caller is authorized for
    the tenant its route names (a 403 comes before any 400 about the input); then the resolver validates
    and runs the route. Any unexpected failure is a 500 in our shape (never an exception out of here)."""
    try:
        if event.get("resource") not in ROUTE_RESOURCES:
            return app.resolve(event, context)  # not one of our routes: the resolver says so
        try:
            rt = runtime()
            deadline = rt.service.deadline()
            named = _tenant_named(event)
            if isinstance(named, str) and _TENANT_ID.fullmatch(named) and not rt.access.holds(named):
                _read_tenant(rt, named, deadline)  # a registry read (DynamoDB): bounded by the deadline
            tenant = _authorize(rt, event)  # from memory now, or a 403 for a name no tenant can have
        except ApiError as error:
            return proxy_error(event, error)
        except AepError as exc:
            logger.error("lookup configuration unusable", extra={"error": exc.message})
            return proxy_error(event, from_aep(exc))
        if event.get("httpMethod") == "POST":
            if not _json_body(event):
                # Powertools would read any other body as a form, and its field names (the body) into errors
                return proxy_error(event, ApiError(415, "unsupported-media-type", _ANSWERS[415]))
            event = _plain_json_type(event)
        token = _scope.set(Scope(rt, tenant, deadline, request_usage()))
        try:
            return app.resolve(event, context)
        finally:
            _scope.reset(token)
    except Exception as exc:  # the last resort: our 500, the failure logged by type and place only
        return proxy_error(event, internal_error(exc))


def _json_body(event: dict[str, Any]) -> bool:
    """Whether the request declares a JSON body: ``Content-Type: application/json`` (any parameters, any
    case), in ``headers`` or ``multiValueHeaders``."""
    found: list[Any] = []
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if isinstance(headers, dict):
            for name, value in headers.items():
                if isinstance(name, str) and name.lower() == "content-type":
                    found.extend(value if isinstance(value, list) else [value])
    return bool(found) and all(
        isinstance(value, str) and value.split(";", 1)[0].strip().lower() == "application/json"
        for value in found
    )


def _plain_json_type(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its Content-Type written ``application/json`` (Powertools reads the type as written:
    ``Application/JSON; charset=utf-8`` would not be JSON to it)."""
    plain = dict(event)
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if isinstance(headers, dict):
            plain[key] = {
                name: (
                    value
                    if not (isinstance(name, str) and name.lower() == "content-type")
                    else (["application/json"] if isinstance(value, list) else "application/json")
                )
                for name, value in headers.items()
            }
    return plain


def _tenant_named(event: dict[str, Any]) -> Any:
    """The tenant the route names: the default one on ``/profiles/...``, the path's on ``/tenants/...``
    (anything: :func:`_authorize` checks it)."""
    if str(event.get("resource")).startswith("/tenants/"):
        parameters = event.get("pathParameters")
        return parameters.get("tenant") if isinstance(parameters, dict) else None
    return DEFAULT_TENANT


def _read_tenant(rt: Runtime, name: str, deadline: Deadline) -> None:
    """Read tenant ``name`` into the registry's cache off the request thread, one read per name however
    many requests ask (single flight), waited for at most until the deadline. Raises ApiError: 504 past it,
    503 when the registry cannot be read; an unknown, disabled or invalid tenant is cached like any read,
    and :func:`_authorize` answers it."""

    def read() -> None:
        try:
            rt.access.registry.get(name)
        except TenantLookupError:
            raise
        except AepError:
            pass

    try:
        rt.service.tenant_reads.run(
            name, read, timeout=max(0.0, deadline.remaining()), submit=rt.service.control.submit
        )
    except FlightTimeoutError:
        raise deadline_passed() from None
    except TenantLookupError as exc:
        raise from_aep(exc) from None


def _authorize(rt: Runtime, event: dict[str, Any]) -> Tenant:
    """The tenant the caller may read: the default one on ``/profiles/...``, the named one on
    ``/tenants/{tenant}/...``. Raises ApiError: 403 (a name that cannot be a tenant's too), 503 when the
    registry cannot be read."""
    tenant_id = _tenant_named(event)
    caller = request_caller(event)
    try:
        if not isinstance(tenant_id, str) or not _TENANT_ID.fullmatch(tenant_id):
            raise CallerNotAllowedError(None, "invalid-tenant-id")
        tenant = rt.access.authorize(caller, tenant_id)
    except AepError as exc:
        reason = getattr(exc, "reason", None)
        if reason:
            note(refused=reason)
        raise from_aep(exc) from None
    note(tenant=tenant.tenant_id)
    return tenant


# -- errors ----------------------------------------------------------------------------------------------


def _error_body(error: ApiError, request_id: Any) -> tuple[str, dict[str, str]]:
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
    return json.dumps(body), headers


def _request_id(event: dict[str, Any]) -> Any:
    context = event.get("requestContext") or {}
    return context.get("requestId") if isinstance(context, dict) else None


def error_response(error: ApiError) -> Response[str]:
    body, headers = _error_body(error, _request_id(app.current_event.raw_event))
    return Response(error.status, "application/json", body, headers=headers)


def proxy_error(event: dict[str, Any], error: ApiError) -> dict[str, Any]:
    """The error as the resolver would answer it (a REST proxy response), for answers given before it."""
    body, headers = _error_body(error, _request_id(event))
    return {
        "statusCode": error.status,
        "body": body,
        "isBase64Encoded": False,
        "multiValueHeaders": {
            "Content-Type": ["application/json"],
            **{name: [value] for name, value in headers.items()},
        },
    }


def internal_error(exc: BaseException) -> ApiError:
    """Our 500 for a failure nothing expected; its type and place (file:line) go to the request's log line,
    never its text (it may quote an identity value)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{PurePath(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    note(unexpected={"error_type": type(exc).__name__, "where": where})
    return ApiError(500, "internal", "the lookup failed unexpectedly; see the function's logs")


@app.exception_handler(ApiError)  # type: ignore[untyped-decorator]
def _api_error(error: ApiError) -> Response[str]:
    return error_response(error)


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(exc: Exception) -> Response[str]:
    # Handled here, Powertools never logs the exception (its text and traceback may quote a value).
    return error_response(internal_error(exc))


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(exc: RequestValidationError) -> Response[str]:
    problems = []
    for problem in exc.errors():
        if problem.get("type") == "json_invalid":
            reason = (problem.get("ctx") or {}).get("error", "invalid")
            return error_response(bad_request(f"body: not valid JSON ({reason})"))
        parts = [_field_name(part) for part in problem.get("loc", ()) if part != "body"]
        location = ".".join(parts) or "request"
        problems.append(f"{location}: {problem.get('msg', 'invalid')}")
    return error_response(bad_request("; ".join(problems[:5])))


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}|[0-9]{1,6}")


def _field_name(part: Any) -> str:
    """A location part as it may be shown: a field name or an index, else a placeholder (a key a caller
    wrote may hold anything, a phone number too)."""
    text = str(part)
    return text if _FIELD_NAME.fullmatch(text) else "(a key)"


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
    # Powertools documents a 422 for its request validation on a route that declares none; ours answers
    # validation with a 400 (ErrorBody), so that 422 and its schemas describe answers never given.
    for operations in document["paths"].values():
        for operation in operations.values():
            default = operation["responses"].get("422", {})
            if "HTTPValidationError" in json.dumps(default):
                del operation["responses"]["422"]
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        document["components"]["schemas"].pop(unused, None)
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
