"""The headers every Platform call carries, with the bearer token from the shared cache."""

from __future__ import annotations

from typing import Protocol

from aep.token import AccessToken


class TokenSource(Protocol):
    def get(self) -> AccessToken: ...

    def invalidate(self, value: str) -> None: ...


class PlatformAuthenticator:
    """``Authorization``, ``x-api-key``, ``x-gw-ims-org-id`` and ``x-sandbox-name`` for each request."""

    def __init__(self, tokens: TokenSource, *, api_key: str, org_id: str, sandbox_name: str) -> None:
        self._tokens = tokens
        self._static = {"x-api-key": api_key, "x-gw-ims-org-id": org_id, "x-sandbox-name": sandbox_name}

    def __repr__(self) -> str:
        return f"PlatformAuthenticator(org_id={self._static['x-gw-ims-org-id']!r})"

    def headers(self) -> dict[str, str]:
        token = self._tokens.get()
        return {"Authorization": f"Bearer {token.value}", **self._static}

    def invalidate(self, authorization_header: str) -> None:
        value = authorization_header.removeprefix("Bearer ").strip()
        if value:
            self._tokens.invalidate(value)
