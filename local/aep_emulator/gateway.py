"""Adobe I/O gateway checks on Platform calls, with AEP's documented error codes."""

from __future__ import annotations

import time
from collections.abc import Callable

from aep_emulator.state import Space, State, Token
from aep_emulator.web import Handler, Request, Response, json_response

DEFAULT_SANDBOX = "prod"


def gateway_error(code: str, message: str) -> Response:
    """An Adobe I/O gateway refusal: ``{"error_code", "message"}``."""
    # The HTTP status of each code is not documented; its first three digits match the status seen in use.
    return json_response(int(code[:3]), {"error_code": code, "message": message})


def sandbox_refusal(sandbox: str) -> Response:
    return json_response(
        403,
        {
            "type": "http://ns.adobe.com/aep/errors/SANDBOX-403",
            "title": "Sandbox not found",
            "status": 403,
            "detail": f"Sandbox {sandbox!r} does not exist or is not accessible.",
        },
    )


def valid_token(state: State, request: Request) -> Token | None:
    header = request.header("authorization") or ""
    if not header.lower().startswith("bearer "):
        return None
    token = state.tokens.get(header[7:].strip())
    if token is None or token.revoked or token.expires_at <= time.time():
        return None
    return token


def check(state: State, request: Request) -> Response | None:
    """None when the request may proceed; else the gateway's refusal.

    A token acts for the org of the client that got it: ``x-gw-ims-org-id`` naming any other org (another
    org of this emulator or none of them) is ``403025``, as for a token not entitled to that org.
    """
    if not request.header("authorization"):
        return gateway_error("403010", "Oauth token is missing.")
    token = valid_token(state, request)
    if token is None:
        return gateway_error("401013", "Oauth token is not valid")
    api_key = request.header("x-api-key")
    if not api_key:
        return gateway_error("403000", "Api Key is required")
    if api_key != token.client_id:
        return gateway_error("403003", "Api Key is invalid")
    org_id = request.header("x-gw-ims-org-id")
    if not org_id:
        return gateway_error("400003", "Missing header")
    org = state.orgs.get(org_id)
    if org is None or org_id != token.org_id:
        return gateway_error("403025", "Profile is not valid")
    sandbox = request.header("x-sandbox-name") or DEFAULT_SANDBOX
    if sandbox not in org.spaces:
        return sandbox_refusal(sandbox)
    return None


def space(state: State, request: Request) -> Space:
    """The org and sandbox of a Platform request that passed :func:`check`."""
    org = state.orgs[request.header("x-gw-ims-org-id") or ""]
    return org.spaces[request.header("x-sandbox-name") or DEFAULT_SANDBOX]


def in_space(state: State, handler: Callable[[Space, Request], Response]) -> Handler:
    """A Platform route's handler, given the space (org and sandbox) its request was let into."""
    return lambda request: handler(space(state, request), request)
