"""The template's REST APIs on a local port, as ``sam local start-api`` serves them: each request whose
method and path match an ``Api`` event of a function becomes API Gateway's REST proxy event, the
function's answer becomes the HTTP response. Paths are served with or without the stage
(``/v1/profiles/...`` as deployed, ``/profiles/...`` as SAM serves them). The API's ``AWS_IAM``
authorizer is not emulated: every request is made by one IAM caller (the stack's; a request may name
another in the ``X-Local-Caller-Arn`` header to see what a caller the function does not admit gets)."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from stack.events import rest_event
from stack.functions import Route
from stack.lambdas import Container, InvocationError

log = logging.getLogger("stack")
CALLER_HEADER = "X-Local-Caller-Arn"
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


@dataclass(frozen=True)
class Endpoint:
    route: Route
    pattern: re.Pattern[str]
    container: Container


def compile_path(path: str) -> re.Pattern[str]:
    """``/profiles/{namespace}/{id}`` -> a pattern with one group per parameter (``{proxy+}``: greedy)."""
    parts = []
    for segment in path.strip("/").split("/"):
        match = re.fullmatch(r"\{(\w+)(\+?)\}", segment)
        if match:
            parts.append(f"(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts))


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    """The template's gateway-response shape."""
    error = {"status": status, "code": code, "message": message, "requestId": str(uuid.uuid4())}
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": error}),
    }


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, endpoints: list[Endpoint], caller_arn: str) -> None:
        self.endpoints = sorted(endpoints, key=lambda e: (e.route.path.count("{"), -len(e.route.path)))
        self.caller_arn = caller_arn
        self.stages = {e.route.stage for e in endpoints}
        self.requests = 0
        super().__init__(("127.0.0.1", port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()

    def match(self, method: str, path: str) -> tuple[Endpoint, str, dict[str, str]] | None:
        """The endpoint, the path without the stage, and the raw (still encoded) path parameters."""
        first, _, rest = path.lstrip("/").partition("/")
        candidates = [path] + ([f"/{rest}"] if first in self.stages else [])
        for candidate in candidates:
            for endpoint in self.endpoints:
                found = endpoint.pattern.fullmatch(candidate)
                if found and endpoint.route.method in (method, "ANY"):
                    return endpoint, candidate, found.groupdict()
        return None

    def answer(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, ip: str
    ) -> dict[str, Any]:
        self.requests += 1
        path = urlsplit(target).path
        matched = self.match(method, path)
        if matched is None:
            return _error(403, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        endpoint, path, parameters = matched
        caller = next((v for k, v in headers if k.lower() == CALLER_HEADER.lower()), self.caller_arn)
        event = rest_event(
            method=method,
            target=target,
            resource=endpoint.route.path,
            path=path,
            path_parameters=parameters,
            headers=[(k, v) for k, v in headers if k.lower() != CALLER_HEADER.lower()],
            body=body,
            stage=endpoint.route.stage,
            caller_arn=caller,
            source_ip=ip,
        )
        try:
            response = endpoint.container.invoke(event)
        except InvocationError as exc:
            log.warning("%s", exc)
            return _error(502, "DEFAULT_5XX", "Internal server error")
        if not isinstance(response, dict) or "statusCode" not in response:
            return _error(502, "DEFAULT_5XX", "Malformed Lambda proxy response")
        return response


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.info("api: " + format, *args)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(_error(413, "REQUEST_TOO_LARGE", "Request Too Long"))
            return
        body = self.rfile.read(length) if length else b""
        response = self.server.answer(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        self._send(response)

    def _send(self, response: dict[str, Any]) -> None:
        raw = response.get("body") or ""
        payload = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode()
        self.send_response(int(response["statusCode"]))
        sent = set()
        for key, values in (response.get("multiValueHeaders") or {}).items():
            if key.lower() == "content-length":
                continue
            for value in values:
                self.send_header(key, str(value))
            sent.add(key.lower())
        for key, value in (response.get("headers") or {}).items():
            if key.lower() not in sent and key.lower() != "content-length":
                self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve
