"""The emulator: routes, gateway checks, fault injection, the request log and the admin endpoints.

It serves one org or several, each apart (:mod:`aep_emulator.state`): a request belongs to the org its
inlet, its ``x-gw-ims-org-id`` (else its token) or its IMS ``client_id`` names, and that org's faults
apply to it after the faults on every request.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

from aep_emulator import (
    batch_api,
    catalog_api,
    descriptors_api,
    flow_api,
    gateway,
    identity_api,
    profile_api,
    schema_registry,
    streaming_api,
)
from aep_emulator.config import EmulatorConfig, SandboxConfig, as_emulator_config
from aep_emulator.state import Org, Space, State
from aep_emulator.web import TIMEOUT_SECONDS, Request, Response, Router, json_response, make_server

MAX_URL = 2000


class Emulator:
    """Serves IMS (/ims), Platform (/data) and Streaming (/collection) on one loopback port.

    ``config``: one org (a :class:`SandboxConfig`), several (a list of them, or an
    :class:`EmulatorConfig`), or None for the default sandbox file.
    """

    def __init__(
        self,
        config: SandboxConfig | EmulatorConfig | Iterable[SandboxConfig] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self.state = State(as_emulator_config(config))
        if self.state.emulator_config.faults:
            self.state.faults.configure(self.state.emulator_config.faults)
        for org in self.state.orgs.values():
            if org.config.faults:
                org.faults.configure(org.config.faults)
        self.router = Router()
        self.router.add("POST", r"/ims/token/v3", self._ims_token)
        identity_api.routes(self.router, self.state)
        batch_api.routes(self.router, self.state)
        streaming_api.routes(self.router, self.state)
        profile_api.routes(self.router, self.state)
        schema_registry.routes(self.router, self.state)
        descriptors_api.routes(self.router, self.state)
        catalog_api.routes(self.router, self.state)
        flow_api.routes(self.router, self.state)
        self._admin = Router()
        self._admin.add("GET", r"/_admin/requests", self._requests)
        self._admin.add("GET", r"/_admin/counters", self._counters)
        self._admin.add("POST", r"/_admin/reset", self._reset)
        self._admin.add("POST", r"/_admin/faults", self._set_faults)
        self._admin.add("DELETE", r"/_admin/faults", self._clear_faults)
        self._admin.add("GET", r"/_admin/faults", self._faults)
        self._admin.add("POST", r"/_admin/revoke", self._revoke)
        self._admin.add("GET", r"/_admin/streamed", self._streamed)
        self._admin.add("GET", r"/_admin/batches", self._batches)
        self._admin.add("GET", r"/_admin/profiles", self._profiles)
        self._admin.add("GET", r"/_admin/orgs", self._orgs)
        self._server = make_server(host, port, self.dispatch, timeout_seconds, self._refused)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    @property
    def config(self) -> SandboxConfig:
        """The default org's configuration: the first org's (the only one's, in a single-org emulator)."""
        return self.state.config

    @property
    def orgs(self) -> list[SandboxConfig]:
        """Every org's configuration, the default one first."""
        return list(self.state.emulator_config.orgs)

    def org(self, org_id: str) -> SandboxConfig:
        """One org's configuration (KeyError when the emulator has no such org)."""
        return self.state.orgs[org_id].config

    def space(self, org_id: str | None = None, sandbox: str | None = None) -> Space:
        """One org's sandbox and its data (default: the default org; its first sandbox)."""
        return self.state.space(org_id, sandbox)

    def start(self) -> Emulator:
        # A short poll: stop() waits for the serving loop to notice (socketserver polls every 0.5 s).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="aep-emulator",
            daemon=True,
        )
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
        org = self.state.only or self._org_of(request)
        decision = self.state.faults.apply(request)
        if org is not None and decision.response is None and not decision.drop_after:
            decision = org.faults.apply(request)  # after the faults on every request let it through
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
        if org is not None:
            entry["org"] = org.id
        self.state.record(entry, org)
        return response

    def _org_of(self, request: Request) -> Org | None:
        """The org a request is for, when it says: its inlet's, the org header's (else its token's), its
        IMS client's. None when it names no org of this emulator."""
        path = request.path
        if path.startswith("/collection/"):
            found = self.state.inlets.get(path.rstrip("/").rsplit("/", 1)[-1])
            return found[0] if found else None
        if path.startswith("/data/"):
            org = self.state.orgs.get(request.header("x-gw-ims-org-id") or "")
            token = gateway.valid_token(self.state, request) if org is None else None
            return self.state.orgs.get(token.org_id) if token else org
        if path.startswith("/ims/"):
            return self.state.clients.get(_ims_form(request).get("client_id", ""))
        return None

    def _refused(self, method: str, path: str, status: int, detail: str) -> None:
        """A request refused by the HTTP layer (framing, timeout) is logged like any other."""
        entry: dict[str, Any] = {"method": method, "path": path, "route": "http", "status": status}
        entry.update({"detail": detail, "ms": 0.0, "bytes": 0, "time": time.time()})
        if self.state.only is not None:
            entry["org"] = self.state.only.id
        self.state.record(entry, self.state.only)

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
        form = _ims_form(request)
        if form.get("grant_type") != "client_credentials":
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                },
            )
        client_id = form.get("client_id", "")
        org = self.state.clients.get(client_id)
        client = next((c for c in org.config.clients if c.client_id == client_id), None) if org else None
        if org is None or client is None:
            return json_response(
                400, {"error": "invalid_client", "error_description": "invalid client_id parameter"}
            )
        if client.client_secret != form.get("client_secret"):
            return json_response(
                401, {"error": "invalid_client", "error_description": "invalid client_secret parameter"}
            )
        if not form.get("scope"):
            return json_response(400, {"error": "invalid_scope", "error_description": "scope is required"})
        token = self.state.issue_token(org, client.client_id)
        return json_response(
            200,
            {
                "access_token": token.value,
                "token_type": "bearer",
                "expires_in": org.config.token_lifetime_seconds,
            },
        )

    # -- admin ----------------------------------------------------------------------------------------
    def _admin_org(self, request: Request) -> Org | Response | None:
        """The org named by ``?org=`` (None: every org), or the 404 answer naming an unknown one."""
        org_id = request.query.get("org")
        if org_id is None:
            return None
        org = self.state.orgs.get(org_id)
        return org if org is not None else json_response(404, {"message": f"unknown org {org_id!r}"})

    def _admin_spaces(self, request: Request) -> list[Space] | Response:
        """The spaces ``?org=`` and ``?sandbox=`` select (each optional: every org, every sandbox)."""
        org = self._admin_org(request)
        if isinstance(org, Response):
            return org
        sandbox = request.query.get("sandbox")
        spaces = [s for s in self.state.spaces(org) if sandbox in (None, s.sandbox)]
        if sandbox is not None and not spaces:
            return json_response(404, {"message": f"unknown sandbox {sandbox!r}"})
        return spaces

    def _orgs(self, request: Request) -> Response:
        return json_response(
            200,
            [
                {
                    "org_id": org.id,
                    "sandboxes": list(org.spaces),
                    "clients": [c.client_id for c in org.config.clients],
                    "inlets": [i.id for i in org.config.inlets],
                    "datasets": [d.id for d in org.config.datasets],
                }
                for org in self.state.orgs.values()
            ],
        )

    def _requests(self, request: Request) -> Response:
        org = self._admin_org(request)
        if isinstance(org, Response):
            return org
        with self.state.lock:
            log = list(self.state.log)
        return json_response(200, log if org is None else [e for e in log if e.get("org") == org.id])

    def _counters(self, request: Request) -> Response:
        org = self._admin_org(request)
        if isinstance(org, Response):
            return org
        with self.state.lock:
            counters: dict[str, Any] = dict(self.state.counters if org is None else org.counters)
            tokens = [t for t in self.state.tokens.values() if org is None or t.org_id == org.id]
            counters["tokens_issued"] = len(tokens)
        store: Counter[str] = Counter()
        for space in self.state.spaces(org):
            store.update(space.profiles.counts())
        counters["profile_store"] = {key: store[key] for key in _STORE_COUNTS}
        return json_response(200, counters)

    def _reset(self, request: Request) -> Response:
        org = self._admin_org(request)
        if isinstance(org, Response):
            return org
        self.state.reset(org)
        return json_response(200, {"reset": True})

    def _set_faults(self, request: Request) -> Response:
        """``?org=``: that org's rules; else the rules on every request, and no org keeps its own."""
        org = self._admin_org(request)
        if isinstance(org, Response):
            return org
        target = org.faults if org is not None else self.state.faults
        try:
            target.configure(request.json())
        except ValueError as exc:
            return json_response(400, {"message": f"bad fault spec: {exc}"})
        if org is None:
            for each in self.state.orgs.values():
                each.faults.clear()
        return json_response(200, {"rules": target.describe()})

    def _clear_faults(self, request: Request) -> Response:
        org = self._admin_org(request)
        if isinstance(org, Response):
            return org
        for faults in (
            [org.faults] if org else [self.state.faults, *(o.faults for o in self.state.orgs.values())]
        ):
            faults.clear()
        return json_response(200, {"rules": []})

    def _faults(self, request: Request) -> Response:
        """``?org=``: that org's rules; else the rules on every request, then each org's (marked)."""
        org = self._admin_org(request)
        if isinstance(org, Response):
            return org
        if org is not None:
            return json_response(200, org.faults.describe())
        rules = self.state.faults.describe()
        for each in self.state.orgs.values():
            rules += [{**rule, "org": each.id} for rule in each.faults.describe()]
        return json_response(200, rules)

    def _revoke(self, request: Request) -> Response:
        org = self._admin_org(request)
        if isinstance(org, Response):
            return org
        body = request.json() if request.body else {}
        with self.state.lock:
            revoked = 0
            for token in self.state.tokens.values():
                if org is not None and token.org_id != org.id:
                    continue
                if body.get("all") or token.value == body.get("token"):
                    token.revoked = True
                    revoked += 1
        return json_response(200, {"revoked": revoked})

    def _streamed(self, request: Request) -> Response:
        spaces = self._admin_spaces(request)
        if isinstance(spaces, Response):
            return spaces
        accepted: Counter[str] = Counter()
        failed: list[dict[str, Any]] = []
        duplicates = 0
        with self.state.lock:
            for space in spaces:
                accepted.update(space.streamed)
                failed += space.streamed_failed
                duplicates += sum(n - 1 for n in space.streamed_ids.values())
        return json_response(200, {"accepted": dict(accepted), "failed": failed, "duplicates": duplicates})

    def _batches(self, request: Request) -> Response:
        spaces = self._admin_spaces(request)
        if isinstance(spaces, Response):
            return spaces
        with self.state.lock:
            listed = [
                {
                    "id": batch.id,
                    "org": space.config.org_id,
                    "sandbox": space.sandbox,
                    "datasetId": batch.dataset_id,
                    "externalId": batch.external_id,
                    "status": batch.status,
                    "created": batch.created_ms,
                }
                for space in spaces
                for batch in space.batches.values()
            ]
        return json_response(200, sorted(listed, key=lambda b: (b["created"], b["id"])))

    def _profiles(self, request: Request) -> Response:
        spaces = self._admin_spaces(request)
        if isinstance(spaces, Response):
            return spaces
        listed = [
            {"org": space.config.org_id, "sandbox": space.sandbox, **profile}
            for space in spaces
            for profile in space.profiles.summaries()
        ]
        return json_response(200, listed)


_STORE_COUNTS = ("profiles", "identities", "events", "profile_fragments")


def _ims_form(request: Request) -> dict[str, str]:
    """An IMS token request's form (the body), query parameters filling what the body lacks."""
    form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
    form.update({k: v for k, v in request.query.items() if k not in form})
    return form


@contextmanager
def running(
    config: SandboxConfig | EmulatorConfig | Iterable[SandboxConfig] | None = None,
    port: int = 0,
    timeout_seconds: float = TIMEOUT_SECONDS,
) -> Iterator[Emulator]:
    """An emulator on a free loopback port for the duration of the block."""
    emulator = Emulator(config, port=port, timeout_seconds=timeout_seconds).start()
    try:
        yield emulator
    finally:
        emulator.stop()
