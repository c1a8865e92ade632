"""aep.errors, pinned: exact classes at every status boundary, exact fields read from every body shape,
exact messages users read (in logs and in the DLQ), and what each failure of the exchange becomes."""

from __future__ import annotations

import json

import pytest
import requests

from aep.errors import (
    AepAuthError,
    AepConfigError,
    AepError,
    AepNotFoundError,
    AepPayloadTooLargeError,
    AepRedirectError,
    AepServerError,
    AepSourceError,
    AepThrottledError,
    AepTimeoutError,
    AepTransportError,
    AepValidationError,
    error_class_for,
    error_from_exception,
    error_from_response,
    parse_error_body,
    parse_retry_after_header,
    request_id_of,
)


def response(
    status: int, content: bytes = b"", headers: dict[str, str] | None = None, reason: str | None = "Reason"
) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = content
    resp.headers.update(headers or {})
    resp.reason = reason  # type: ignore[assignment]
    return resp


# --- classes and their retryability -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (100, AepError),
        (200, AepError),
        (299, AepError),
        (300, AepRedirectError),
        (399, AepRedirectError),
        (400, AepValidationError),
        (401, AepAuthError),
        (402, AepValidationError),
        (403, AepAuthError),
        (404, AepNotFoundError),
        (405, AepValidationError),
        (412, AepValidationError),
        (413, AepPayloadTooLargeError),
        (414, AepValidationError),
        (422, AepValidationError),
        (428, AepValidationError),
        (429, AepThrottledError),
        (430, AepValidationError),
        (499, AepValidationError),
        (500, AepServerError),
        (503, AepServerError),
        (599, AepServerError),
    ],
)
def test_error_class_at_every_status_boundary(status, cls):
    assert error_class_for(status) is cls


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (AepError, False),
        (AepConfigError, False),
        (AepAuthError, True),
        (AepNotFoundError, False),
        (AepValidationError, False),
        (AepPayloadTooLargeError, False),
        (AepThrottledError, True),
        (AepServerError, True),
        (AepTimeoutError, True),
        (AepRedirectError, False),
    ],
)
def test_retryable_per_class(cls, retryable):
    assert cls("m").retryable is retryable


@pytest.mark.parametrize("retryable", [True, False])
def test_transport_and_source_errors_are_as_retryable_as_told(retryable):
    assert AepTransportError("m", retryable=retryable).retryable is retryable
    source = AepSourceError("m", retryable=retryable, status=7)
    assert source.retryable is retryable
    assert source.status == 7


def test_every_field_is_kept():
    error = AepError("msg", status=418, request_id="r", code="c", body="b", retry_after=1.5)

    assert (error.message, error.status, error.request_id, error.code, error.body, error.retry_after) == (
        "msg",
        418,
        "r",
        "c",
        "b",
        1.5,
    )
    assert error.args == ("msg",)
    bare = AepError("bare")
    assert (bare.status, bare.request_id, bare.code, bare.body, bare.retry_after) == (None,) * 5


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({}, "msg"),
        ({"status": 0}, "msg status=0"),
        ({"code": ""}, "msg"),
        ({"request_id": ""}, "msg"),
        ({"code": "c"}, "msg code=c"),
        ({"request_id": "r"}, "msg request_id=r"),
        ({"status": 500, "code": "c", "request_id": "r"}, "msg status=500 code=c request_id=r"),
    ],
)
def test_str_names_only_what_is_known(kwargs, text):
    assert str(AepError("msg", **kwargs)) == text


# --- request ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x-request-id", "x-adobe-request-id", "request-id", "x-amzn-requestid"])
def test_each_request_id_header_is_read_from_a_plain_mapping(name):
    assert request_id_of({name: "id-1"}) == "id-1"
    assert request_id_of({name: ""}) is None


def test_request_id_headers_in_their_order_of_preference():
    headers = {
        "x-amzn-requestid": "d",
        "request-id": "c",
        "x-adobe-request-id": "b",
        "x-request-id": "a",
    }
    assert request_id_of(headers) == "a"
    del headers["x-request-id"]
    assert request_id_of(headers) == "b"
    headers["x-adobe-request-id"] = ""
    assert request_id_of(headers) == "c"
    del headers["request-id"]
    assert request_id_of(headers) == "d"
    assert request_id_of({}) is None


# --- Retry-After --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("abc", None), (" 5 ", 5.0), ("0", 0.0), ("-3", 0.0), ("2.5", 2.5)],
)
def test_retry_after_header(value, seconds):
    assert parse_retry_after_header(value) == seconds


# --- bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        ("", (None, None, None)),
        ("   ", (None, None, None)),
        ("  <html>bad</html>  ", (None, "<html>bad</html>", None)),
        ("null", (None, None, None)),
        ("42", (None, None, None)),
        ('"text"', (None, None, None)),
        ("[]", (None, None, None)),
        ("[1, 2]", (None, None, None)),
        ('[1, {"code": "second"}]', ("second", None, None)),
        ('[{"code": "a"}, {"code": "b"}]', ("a", None, None)),
        ('{"error_code": "e", "code": "c", "error": "x"}', ("e", None, None)),
        ('{"error_code": "", "code": "c", "error": "x"}', ("c", None, None)),
        ('{"error_code": null, "code": null, "error": "x"}', ("x", None, None)),
        ('{"code": 401013}', ("401013", None, None)),
        ('{"code": 0}', ("0", None, None)),
        ('{"message": "m", "detail": "d", "error_description": "e", "title": "t"}', (None, "m", None)),
        ('{"message": "", "detail": "d", "error_description": "e", "title": "t"}', (None, "d", None)),
        ('{"detail": null, "error_description": "e", "title": "t"}', (None, "e", None)),
        ('{"title": "t"}', (None, "t", None)),
        ('{"message": 0}', (None, None, None)),
        ('{"message": 12}', (None, "12", None)),
        ('{"message": "m", "report": {"message": "r", "detailed-message": "d"}}', (None, "r", None)),
        ('{"message": "m", "report": {"detailed-message": "d"}}', (None, "d", None)),
        ('{"message": "m", "report": {"other": "x"}}', (None, "m", None)),
        ('{"message": "m", "report": "not a dict"}', (None, "m", None)),
        ('{"report": {"message": "r"}}', (None, "r", None)),
        ('{"type": "https://ns.adobe.com/errors/XDM-1010-404/"}', ("XDM-1010-404", None, None)),
        ('{"type": "plain"}', ("plain", None, None)),
        ('{"type": "a/b", "code": "c"}', ("c", None, None)),
        ('{"type": ""}', (None, None, None)),
        ('{"type": 5}', (None, None, None)),
        ('{"message": "m", "cause": "why"}', (None, "m (why)", None)),
        ('{"message": "m", "cause": {"nested": 1}}', (None, "m", None)),
        ('{"cause": "why"}', (None, None, None)),
        ('{"retryAfterMs": "1500"}', (None, None, 1.5)),
        ('{"retryAfterMs": 250}', (None, None, 0.25)),
        ('{"retryAfterMs": 0}', (None, None, 0.0)),
        ('{"retryAfterMs": ""}', (None, None, None)),
        ('{"retryAfterMs": null}', (None, None, None)),
        ('{"retryAfterMs": "soon"}', (None, None, None)),
        ('{"retryAfterMs": [1]}', (None, None, None)),
    ],
)
def test_error_body_fields(body, parsed):
    assert parse_error_body(body) == parsed


def test_a_text_body_is_kept_to_300_characters():
    code, message, retry_after = parse_error_body("x" * 299 + "yz")

    assert (code, retry_after) == (None, None)
    assert message == "x" * 299 + "y"


# --- error_from_response ------------------------------------------------------------------------------


def test_response_error_carries_every_field_and_keeps_4000_characters_of_body():
    text = json.dumps({"error_code": "E1", "message": "bad", "pad": "p" * 5000})
    error = error_from_response(
        response(400, text.encode(), {"x-request-id": "req-9", "Retry-After": "4"}), "POST /x"
    )

    assert type(error) is AepValidationError
    assert error.message == "POST /x: bad"
    assert error.status == 400
    assert error.code == "E1"
    assert error.request_id == "req-9"
    assert error.retry_after == 4.0
    assert error.body == text[:4000]
    assert len(error.body) == 4000


def test_response_error_without_context_has_no_prefix_and_falls_back_to_reason_then_generic_text():
    with_reason = error_from_response(response(500, b"", reason="Internal Server Error"))
    assert with_reason.message == "Internal Server Error"
    assert with_reason.body is None
    assert with_reason.code is None
    assert with_reason.retry_after is None
    assert with_reason.request_id is None

    no_reason = error_from_response(response(502, b"", reason=None), "GET /y")
    assert no_reason.message == "GET /y: HTTP error"
    assert type(no_reason) is AepServerError


def test_body_retry_after_is_used_when_the_header_is_absent_or_unreadable():
    body = b'{"retryAfterMs": "2000"}'
    assert error_from_response(response(429, body)).retry_after == 2.0
    assert error_from_response(response(429, body, {"Retry-After": "later"})).retry_after == 2.0
    assert error_from_response(response(429, body, {"Retry-After": "0"})).retry_after == 0.0


def test_a_redirect_error_says_it_was_refused_and_keeps_the_request_id():
    error = error_from_response(
        response(307, b'{"message": "elsewhere", "code": "c"}', {"request-id": "rid", "Retry-After": "5"}),
        "GET /z",
    )

    assert type(error) is AepRedirectError
    assert error.message == "GET /z: redirect (HTTP 307) refused: redirects are never followed"
    assert error.status == 307
    assert error.request_id == "rid"
    assert (error.code, error.body, error.retry_after) == (None, None, None)
    assert error_from_response(response(301)).message == (
        "redirect (HTTP 301) refused: redirects are never followed"
    )


# --- error_from_exception -----------------------------------------------------------------------------


def test_an_aep_error_is_returned_as_it_is():
    original = AepServerError("already typed")
    assert error_from_exception(original, "ctx") is original


@pytest.mark.parametrize(
    ("exc", "cls", "message", "retryable"),
    [
        (
            requests.exceptions.ContentDecodingError("gzip Bearer tok"),
            AepTransportError,
            "ctx: malformed answer (ContentDecodingError)",
            True,
        ),
        (
            requests.exceptions.ChunkedEncodingError("x"),
            AepTransportError,
            "ctx: malformed answer (ChunkedEncodingError)",
            True,
        ),
        (requests.exceptions.ConnectTimeout("x"), AepTimeoutError, "ctx: no answer (ConnectTimeout)", True),
        (requests.exceptions.ReadTimeout("x"), AepTimeoutError, "ctx: no answer (ReadTimeout)", True),
        (requests.exceptions.ConnectionError("x"), AepTimeoutError, "ctx: no answer (ConnectionError)", True),
        (requests.exceptions.SSLError("x"), AepTimeoutError, "ctx: no answer (SSLError)", True),
        (
            requests.exceptions.InvalidHeader("Bearer tok\n"),
            AepTransportError,
            "ctx: request could not be sent (InvalidHeader)",
            False,
        ),
        (
            requests.exceptions.InvalidURL("x"),
            AepTransportError,
            "ctx: request could not be sent (InvalidURL)",
            False,
        ),
        (
            requests.exceptions.InvalidSchema("x"),
            AepTransportError,
            "ctx: request could not be sent (InvalidSchema)",
            False,
        ),
        (
            requests.exceptions.MissingSchema("x"),
            AepTransportError,
            "ctx: request could not be sent (MissingSchema)",
            False,
        ),
        (
            requests.exceptions.URLRequired("x"),
            AepTransportError,
            "ctx: request could not be sent (URLRequired)",
            False,
        ),
        (
            requests.exceptions.InvalidJSONError("x"),
            AepTransportError,
            "ctx: request could not be sent (InvalidJSONError)",
            False,
        ),
        (
            requests.exceptions.TooManyRedirects("x"),
            AepTransportError,
            "ctx: request could not be sent (TooManyRedirects)",
            False,
        ),
        (ValueError("x"), AepTransportError, "ctx: request could not be sent (ValueError)", False),
        (RuntimeError("x"), AepTransportError, "ctx: transport failure (RuntimeError)", True),
        (
            requests.exceptions.RequestException("x"),
            AepTransportError,
            "ctx: transport failure (RequestException)",
            True,
        ),
    ],
)
def test_each_exchange_failure_becomes_its_typed_error(exc, cls, message, retryable):
    error = error_from_exception(exc, "ctx")

    assert type(error) is cls
    assert error.message == message
    assert error.retryable is retryable
    assert (error.status, error.code, error.request_id, error.body) == (None, None, None, None)


def test_exchange_failure_without_context_has_no_prefix():
    assert error_from_exception(OSError("boom")).message == "transport failure (OSError)"
    assert error_from_exception(requests.exceptions.ReadTimeout()).message == "no answer (ReadTimeout)"


def test_the_status_class_boundaries_exactly():
    from aep.errors import AepRedirectError, AepServerError, AepValidationError, error_class_for

    assert error_class_for(300) is AepRedirectError
    assert error_class_for(499) is not AepServerError
    assert error_class_for(500) is AepServerError
    assert not issubclass(error_class_for(400), AepServerError)
    assert issubclass(error_class_for(400), AepValidationError)


def test_a_300_answer_is_a_refused_redirect():
    import requests

    from aep.errors import AepRedirectError, error_from_response

    response = requests.Response()
    response.status_code = 300
    response._content = b'{"title": "choose"}'

    error = error_from_response(response, "ctx")
    assert isinstance(error, AepRedirectError)
    assert error.status == 300
