"""Identity Service: the identity namespaces of the sandbox."""

from __future__ import annotations

from aep.http import Transport
from aep.models import IdentityNamespace

NAMESPACES_PATH = "/data/core/idnamespace/identities"


class IdentityApi:
    def __init__(self, transport: Transport, platform_url: str) -> None:
        self._t = transport
        self._url = platform_url.rstrip("/") + NAMESPACES_PATH

    def namespaces(self) -> list[IdentityNamespace]:
        response = self._t.request("GET", self._url, context="identity namespaces")
        payload = response.json()
        return [IdentityNamespace.model_validate(item) for item in payload if isinstance(item, dict)]
