"""The emulator: routes, gateway checks, fault injection, the request log and the admin endpoints."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

from aep_emulator import batch_api, gateway, profile_api, streaming_api
from aep_emulator.config import SandboxConfig, load_config
from aep_emulator.state import State
from aep_emulator.web import TIMEOUT_SECONDS, Request, Response, Router, json_response, make_server

MAX_URL = 2000


class Emulator:
    """Serves IMS (/ims), Platform (/data) and Streaming (/collection) on one loopback port."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self.state = State(config or load_config())
        if self.state.config.faults:
            self.state.faults.configure(self.state.config.faults)
        self.router = Router()
        self.router.add("POST", r"/ims/token/v3", self._ims_token)
        self.router.add("GET", r"/data/core/idnamespace/identities", self._namespaces)
        batch_api.routes(self.router, self.state)
        streaming_api.routes(self.router, self.state)
        profile_api.routes(self.router, self.state)
        self._admin = Router()
        self._admin.add("GET", r"/_admin/requests", lambda r: json_response(200, self.state.log))
        self._admin.add("GET", r"/_admin/counters", self._counters)
        self._admin.add("POST", r"/_admin/reset", self._reset)
        self._admin.add("POST", r"/_admin/faults", self._set_faults)
        self._admin.add("DELETE", r"/_admin/faults", self._clear_faults)
        self._admin.add("GET", r"/_admin/faults", lambda r: json_response(200, self.state.faults.describe()))
        self._admin.add("POST", r"/_admin/revoke", self._revoke)
        self._admin.add("GET", r"/_admin/streamed", self._streamed)
        self._server = make_server(host, port, self.dispatch, timeout_seconds, self._refused)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    @property
    def config(self) -> SandboxConfig:
        return self.state.config

    def start(self) -> Emulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="aep-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.state.files.close()

    # -- dispatch -------------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/_admin/"):
            found = self._admin.find(request.method, request.path)
            return found[0](request) if found else json_response(404, {"message": "unknown admin path"})
        started = time.perf_counter()
        decision = self.state.faults.apply(request)
        served: int | None = None
        if decision.response is None:
            response, route = self._serve(request)
            if decision.drop_after:  # processed, effects kept; the answer is lost on the way
                served, response = response.status, Response(0, drop=True)
        else:
            response, route = decision.response, "fault"
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": 0 if response.drop else response.status,
            "ms": round((time.perf_counter() - started) * 1000, 3),
            "bytes": request.size,
            "time": time.time(),
        }
        if decision.kind:
            entry["fault"] = decision.kind
        if served is not None:
            entry["served"] = served
        self.state.record(entry)
        return response

    def _refused(self, method: str, path: str, status: int, detail: str) -> None:
        """A request refused by the HTTP layer (framing, timeout) is logged like any other."""
        entry = {"method": method, "path": path, "route": "http", "status": status, "detail": detail}
        self.state.record({**entry, "ms": 0.0, "bytes": 0, "time": time.time()})

    def _serve(self, request: Request) -> tuple[Response, str]:
        if len(request.raw_path) > MAX_URL:
            return json_response(
                414,
                {
                    "type": "http://ns.adobe.com/aep/errors/URL-414",
                    "status": 414,
                    "title": "URI Too Long",
                    "detail": "URL length exceeds the allowed 2000 characters",
                },
            ), "414"
        found = self.router.find(request.method, request.path)
        if found is None:
            return json_response(
                404,
                {
                    "type": "http://ns.adobe.com/aep/errors/NOT-FOUND",
                    "status": 404,
                    "title": "Not found",
                    "detail": f"No API at {request.path}",
                },
            ), "unknown"
        handler, params = found
        request.params = params
        route = "/".join(request.path.split("/")[:4])
        if request.path.startswith("/data/"):
            refused = gateway.check(self.state, request)
            if refused is not None:
                return refused, route
        return handler(request), route

    # -- IMS and identity -------------------------------------------------------------------------------
    def _ims_token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        form.update({k: v for k, v in request.query.items() if k not in form})
        if form.get("grant_type") != "client_credentials":
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                },
            )
        client = next((c for c in self.config.clients if c.client_id == form.get("client_id")), None)
        if client is None:
            return json_response(
                400, {"error": "invalid_client", "error_description": "invalid client_id parameter"}
            )
        if client.client_secret != form.get("client_secret"):
            return json_response(
                401, {"error": "invalid_client", "error_description": "invalid client_secret parameter"}
            )
        if not form.get("scope"):
            return json_response(400, {"error": "invalid_scope", "error_description": "scope is required"})
        token = self.state.issue_token(client.client_id)
        return json_response(
            200,
            {
                "access_token": token.value,
                "token_type": "bearer",
                "expires_in": self.config.token_lifetime_seconds,
            },
        )

    def _namespaces(self, request: Request) -> Response:
        now = 1495153678000
        return json_response(
            200,
            [
                {
                    "updateTime": now,
                    "code": ns.code,
                    "status": "ACTIVE",
                    "description": f"{ns.name} Namespace",
                    "id": ns.id,
                    "createTime": now,
                    "idType": ns.id_type,
                    "name": ns.name,
                    "custom": ns.custom,
                }
                for ns in self.config.namespaces
            ],
        )

    # -- admin ----------------------------------------------------------------------------------------
    def _counters(self, request: Request) -> Response:
        with self.state.lock:
            counters: dict[str, Any] = dict(self.state.counters)
            counters["tokens_issued"] = len(self.state.tokens)
        counters["profile_store"] = self.state.profiles.counts()
        return json_response(200, counters)

    def _reset(self, request: Request) -> Response:
        self.state.reset()
        return json_response(200, {"reset": True})

    def _set_faults(self, request: Request) -> Response:
        try:
            self.state.faults.configure(request.json())
        except ValueError as exc:
            return json_response(400, {"message": f"bad fault spec: {exc}"})
        return json_response(200, {"rules": self.state.faults.describe()})

    def _clear_faults(self, request: Request) -> Response:
        self.state.faults.clear()
        return json_response(200, {"rules": []})

    def _revoke(self, request: Request) -> Response:
        body = request.json() if request.body else {}
        with self.state.lock:
            revoked = 0
            for token in self.state.tokens.values():
                if body.get("all") or token.value == body.get("token"):
                    token.revoked = True
                    revoked += 1
        return json_response(200, {"revoked": revoked})

    def _streamed(self, request: Request) -> Response:
        with self.state.lock:
            return json_response(
                200,
                {
                    "accepted": dict(self.state.streamed),
                    "failed": list(self.state.streamed_failed),
                    "duplicates": sum(n - 1 for n in self.state.streamed_ids.values()),
                },
            )


@contextmanager
def running(
    config: SandboxConfig | None = None, port: int = 0, timeout_seconds: float = TIMEOUT_SECONDS
) -> Iterator[Emulator]:
    """An emulator on a free loopback port for the duration of the block."""
    emulator = Emulator(config, port=port, timeout_seconds=timeout_seconds).start()
    try:
        yield emulator
    finally:
        emulator.stop()
