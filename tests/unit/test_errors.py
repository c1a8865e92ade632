from __future__ import annotations

import json

import pytest
import requests

from aep.errors import (
    AepAuthError,
    AepError,
    AepNotFoundError,
    AepPayloadTooLargeError,
    AepServerError,
    AepThrottledError,
    AepValidationError,
    error_from_response,
)


def response(status: int, body: object, headers: dict[str, str] | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    resp.headers.update(headers or {})
    resp.reason = "Reason"
    return resp


@pytest.mark.parametrize(
    ("status", "body", "cls", "code", "message"),
    [
        (
            401,
            {"error_code": "401013", "message": "Oauth token is not valid"},
            AepAuthError,
            "401013",
            "Oauth token is not valid",
        ),
        (
            403,
            {"error_code": "403003", "message": "Api Key is invalid"},
            AepAuthError,
            "403003",
            "Api Key is invalid",
        ),
        (
            404,
            {
                "type": "http://ns.adobe.com/aep/errors/XDM-1010-404",
                "title": "Resource not found",
                "status": 404,
                "report": {"detailed-message": "schema not found"},
                "detail": "The requested resource could not be found",
            },
            AepNotFoundError,
            "XDM-1010-404",
            "schema not found",
        ),
        (
            400,
            {
                "type": "/placeholder/type/uri",
                "status": 400,
                "title": "BadRequestError",
                "detail": "A valid content-type must be specified",
            },
            AepValidationError,
            "uri",
            "A valid content-type must be specified",
        ),
        (
            422,
            {
                "message": "UPS-MRG-1000001:Identities cannot be retrieved",
                "cause": "Too many related identities",
                "statusCode": "422",
            },
            AepValidationError,
            None,
            "UPS-MRG-1000001:Identities cannot be retrieved (Too many related identities)",
        ),
        (
            401,
            {
                "type": "https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization",
                "status": "401",
                "title": "Authorization",
                "report": {"message": "[id] Ims service token is empty"},
            },
            AepAuthError,
            "data-collection-service-authorization",
            "[id] Ims service token is empty",
        ),
        (
            413,
            {"title": "Payload too large", "status": 413},
            AepPayloadTooLargeError,
            None,
            "Payload too large",
        ),
        (
            500,
            {"message": "Unable to connect to server", "cause": "Connection Timeout", "statusCode": "500"},
            AepServerError,
            None,
            "Unable to connect to server (Connection Timeout)",
        ),
        (
            400,
            {"error": "invalid_client", "error_description": "invalid client_id parameter"},
            AepValidationError,
            "invalid_client",
            "invalid client_id parameter",
        ),
    ],
)
def test_every_documented_error_shape(status, body, cls, code, message):
    error = error_from_response(response(status, body, {"x-request-id": "req-42"}))

    assert type(error) is cls
    assert isinstance(error, AepError)
    assert error.status == status
    assert error.code == code
    assert error.message == message
    assert error.request_id == "req-42"
    assert error.body is not None


def test_profile_throttling_list_body_gives_retry_after_from_milliseconds():
    body = [
        {
            "message": "Too many requests",
            "cause": '{"Errors":["Request rate is large"]}',
            "retryAfterMs": "500",
            "statusCode": "429",
        }
    ]
    error = error_from_response(response(429, body))

    assert isinstance(error, AepThrottledError)
    assert error.retry_after == 0.5
    assert error.retryable


def test_retry_after_header_wins_over_body():
    error = error_from_response(response(503, {"retryAfterMs": "9000"}, {"Retry-After": "3"}))

    assert isinstance(error, AepServerError)
    assert error.retry_after == 3.0


def test_non_json_body_keeps_its_text():
    error = error_from_response(response(502, "<html>Bad gateway</html>"))

    assert isinstance(error, AepServerError)
    assert error.message == "<html>Bad gateway</html>"


def test_str_carries_status_code_and_request_id():
    error = error_from_response(
        response(
            401, {"error_code": "401013", "message": "Oauth token is not valid"}, {"x-request-id": "r1"}
        ),
        "batch status",
    )

    assert str(error) == "batch status: Oauth token is not valid status=401 code=401013 request_id=r1"
    assert error.retryable  # auth is never a property of a record (issue 7 item 4)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (299, "AepError"),
        (300, "AepRedirectError"),
        (302, "AepRedirectError"),
        (399, "AepRedirectError"),
        (400, "AepValidationError"),
    ],
)
def test_redirect_statuses_have_their_own_class(status, cls):
    from aep.errors import error_class_for

    assert error_class_for(status).__name__ == cls


def test_a_redirect_error_keeps_no_body_and_no_location():
    from aep.errors import AepRedirectError, error_from_response

    response = requests.Response()
    response.status_code = 302
    response.headers["Location"] = "https://evil.example/steal"
    response.headers["x-request-id"] = "req-1"
    response._content = b'{"message": "go to https://evil.example/steal"}'

    error = error_from_response(response, "GET /x")

    assert type(error) is AepRedirectError
    assert error.retryable is False
    assert error.body is None
    assert error.code is None
    assert error.request_id == "req-1"
    assert (
        str(error)
        == "GET /x: redirect (HTTP 302) refused: redirects are never followed status=302 request_id=req-1"
    )
    assert (
        error_from_response(response).message == "redirect (HTTP 302) refused: redirects are never followed"
    )
