"""The local API: requests matched to the template's routes and turned into API Gateway's REST proxy event,
as the lookup function receives it behind the deployed API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from stack.api import ApiServer, Endpoint, compile_path
from stack.functions import Route
from stack.lambdas import InvocationError

CALLER = "arn:aws:sts::123456789012:assumed-role/ivr/s"


@dataclass
class FakeContainer:
    error: InvocationError | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        if self.error:
            raise self.error
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


@pytest.fixture
def container() -> FakeContainer:
    return FakeContainer()


@pytest.fixture
def server(container: FakeContainer) -> Iterator[ApiServer]:
    routes = [
        Route("GET", "/profiles/{namespace}/{id}", "LookupApi", "v1"),
        Route("GET", "/profiles/{namespace}/{id}/events", "LookupApi", "v1"),
        Route("POST", "/profiles/lookup", "LookupApi", "v1"),
    ]
    endpoints = [Endpoint(r, compile_path(r.path), container) for r in routes]  # type: ignore[arg-type]
    api = ApiServer(0, endpoints, CALLER)
    yield api
    api.server_close()


def test_path_parameters_match_one_segment_and_proxy_takes_the_rest():
    one = compile_path("/profiles/{namespace}/{id}").fullmatch("/profiles/Phone/%2B1%20415")
    rest = compile_path("/files/{proxy+}").fullmatch("/files/a/b")

    assert one is not None
    assert one.groupdict() == {"namespace": "Phone", "id": "%2B1%20415"}
    assert compile_path("/profiles/{namespace}/{id}").fullmatch("/profiles/Phone/a/b") is None
    assert rest is not None
    assert rest.groupdict() == {"proxy": "a/b"}


def test_a_get_becomes_the_rest_proxy_event_with_the_stage_and_the_iam_caller(server, container):
    answer = server.answer(
        "GET",
        "/v1/profiles/Phone/%28415%29%20555-0100?fields=a,b&fields=c",
        [("Accept", "application/json")],
        b"",
        "10.0.0.1",
    )
    [event] = container.events

    assert answer["statusCode"] == 200
    assert event["resource"] == "/profiles/{namespace}/{id}"
    assert event["path"] == "/profiles/Phone/%28415%29%20555-0100"
    assert event["pathParameters"] == {"namespace": "Phone", "id": "(415) 555-0100"}
    assert event["queryStringParameters"] == {"fields": "c"}
    assert event["multiValueQueryStringParameters"] == {"fields": ["a,b", "c"]}
    assert event["requestContext"]["stage"] == "v1"
    assert event["requestContext"]["path"] == "/v1/profiles/Phone/%28415%29%20555-0100"
    assert event["requestContext"]["identity"]["userArn"] == CALLER
    assert event["requestContext"]["identity"]["sourceIp"] == "10.0.0.1"
    assert event["body"] is None


def test_the_path_without_the_stage_is_served_too_as_sam_local_does(server, container):
    server.answer("GET", "/profiles/Phone/x/events", [], b"", "127.0.0.1")

    assert container.events[0]["resource"] == "/profiles/{namespace}/{id}/events"


def test_a_post_carries_its_body_and_a_caller_header_replaces_the_iam_caller(server, container):
    body = json.dumps({"identities": []}).encode()
    other = "arn:aws:sts::123456789012:assumed-role/other/s"

    server.answer("POST", "/v1/profiles/lookup", [("X-Local-Caller-Arn", other)], body, "127.0.0.1")

    [event] = container.events
    assert event["body"] == '{"identities": []}'
    assert event["requestContext"]["identity"]["userArn"] == other
    assert "X-Local-Caller-Arn" not in (event["headers"] or {})


def test_a_route_the_template_lacks_is_the_gateways_403(server, container):
    answer = server.answer("DELETE", "/v1/profiles/Phone/x", [], b"", "127.0.0.1")

    assert answer["statusCode"] == 403
    assert json.loads(answer["body"])["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN"
    assert container.events == []


def test_a_function_error_is_the_gateways_502(server, container):
    container.error = InvocationError("lookup", "RuntimeError", "boom")

    answer = server.answer("GET", "/v1/profiles/Phone/x", [], b"", "127.0.0.1")

    assert answer["statusCode"] == 502
    assert json.loads(answer["body"])["error"]["code"] == "DEFAULT_5XX"
