"""API Gateway REST (proxy integration) events for the lookup function, built as the gateway sends them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

IVR_ROLE = "arn:aws:iam::123456789012:role/ivr-backend"
IVR_SESSION = "arn:aws:sts::123456789012:assumed-role/ivr-backend/session-1"


def rest_event(
    method: str,
    path: str,
    *,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str | list[str]] | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    principal: str | None = IVR_SESSION,
    api_key_id: str | None = None,
    request_id: str = "req-0001",
) -> dict[str, Any]:
    """A REST API proxy event: ``path`` as the caller sent it (already encoded), the caller's identity
    in ``requestContext.identity`` (``userArn`` for IAM, None: anonymous)."""
    multi = {k: v if isinstance(v, list) else [v] for k, v in (query or {}).items()}
    single = {k: v[-1] for k, v in multi.items()}
    header_map = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": header_map,
        "multiValueHeaders": {k: [v] for k, v in header_map.items()},
        "queryStringParameters": single or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": request_id,
            "accountId": "123456789012",
            "apiId": "abc123",
            "identity": {
                "userArn": principal,
                "caller": None,
                "apiKeyId": api_key_id,
                "sourceIp": "192.0.2.10",
            },
        },
        "body": json.dumps(body) if body is not None and not isinstance(body, str) else body,
        "isBase64Encoded": False,
    }


def profile_event(
    namespace: str, value: str, *, tenant: str | None = None, events: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """``GET /profiles/{namespace}/{id}`` (``/events`` when asked; under ``/tenants/{tenant}`` when given),
    the id percent-encoded as a client would."""
    encoded = quote(value, safe="")
    prefix = f"/tenants/{tenant}" if tenant else ""
    resource_prefix = "/tenants/{tenant}" if tenant else ""
    suffix = "/events" if events else ""
    parameters = {"namespace": namespace, "id": value, **({"tenant": tenant} if tenant else {})}
    return rest_event(
        "GET",
        f"{prefix}/profiles/{namespace}/{encoded}{suffix}",
        resource=f"{resource_prefix}/profiles/{{namespace}}/{{id}}{suffix}",
        path_parameters=parameters,
        **kwargs,
    )


def lookup_event(body: Any, *, tenant: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """``POST /profiles/lookup`` (under ``/tenants/{tenant}`` when given)."""
    prefix = f"/tenants/{tenant}" if tenant else ""
    resource_prefix = "/tenants/{tenant}" if tenant else ""
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return rest_event(
        "POST",
        f"{prefix}/profiles/lookup",
        resource=f"{resource_prefix}/profiles/lookup",
        path_parameters={"tenant": tenant} if tenant else None,
        headers=headers,
        body=body,
        **kwargs,
    )


def answer(response: dict[str, Any]) -> tuple[int, Any]:
    """The status and the parsed JSON body of a handler's response."""
    return int(response["statusCode"]), json.loads(response["body"])
