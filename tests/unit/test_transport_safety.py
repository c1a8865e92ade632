"""Redirects are never followed; every transport failure is typed; the deadline bounds the wall clock.

Against real loopback servers: tests/support/recorder.py for ordinary answers, tests/support/wire.py for
malformed and dripped ones.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
import traceback
from collections.abc import Iterator

import pytest
import requests
import urllib3

from aep import (
    AepAuthError,
    AepRedirectError,
    AepTimeoutError,
    AepTransportError,
    Deadline,
    SystemClock,
)
from aep.errors import error_from_exception
from aep.http import Transport
from tests.conftest import CLIENT_SECRET, exact_policy, make_client, token_reply
from tests.support.recorder import Recorder, Reply, serve
from tests.support.wire import Script, WireReply, wire_server


@pytest.fixture
def elsewhere() -> Iterator[Recorder]:
    """A second server: where a redirect points. Nothing may ever reach it."""
    with serve(Recorder()) as other:
        other.on("GET", "/.*", Reply(200, {"stolen": True}))
        other.on("POST", "/.*", Reply(200, token_reply("stolen")))
        yield other


class LeakyTokens:
    """An authenticator whose token got corrupted with a line break."""

    def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer tok-SECRET-value\r\nX-Injected: 1"}

    def invalidate(self, header: str) -> None:
        raise AssertionError("never reached")


# --- item 2: redirects -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_platform_redirect_is_a_non_retryable_error_and_is_not_followed(recorder, elsewhere, clock, status):
    location = f"{elsewhere.url}/steal?token=abc123"
    recorder.on("GET", "/x", Reply(status, f"Moved to {location}", headers={"Location": location}))

    with pytest.raises(AepRedirectError) as caught:
        Transport(policy=exact_policy(), clock=clock).request("GET", f"{recorder.url}/x?entityId=+1415")

    assert elsewhere.requests == []
    assert len(recorder.requests) == 1
    assert clock.sleeps == []
    error = caught.value
    assert error.status == status
    assert error.retryable is False
    assert error.body is None
    assert (
        str(error)
        == f"GET /x: redirect (HTTP {status}) refused: redirects are never followed status={status}"
    )


def test_an_ims_redirect_never_re_posts_the_client_secret(recorder, elsewhere, secrets, clock):
    location = f"{elsewhere.url}/ims/token/v3"
    recorder.on("POST", "/ims/token/v3", Reply(307, headers={"Location": location}))
    client = make_client(recorder.url, secrets, clock)

    with pytest.raises(AepAuthError) as caught:
        client.ims()

    assert elsewhere.requests == []
    assert len(recorder.calls("POST", "/ims/token/v3")) == 1
    assert caught.value.status == 307
    text = "".join(traceback.format_exception(caught.value))
    assert CLIENT_SECRET not in text
    assert elsewhere.url not in text


# --- item 3: every transport failure is typed ----------------------------------------------------


def test_an_invalid_header_value_is_typed_and_never_quotes_the_token(recorder, clock):
    recorder.on("GET", "/x", Reply(200, {}))
    transport = Transport(policy=exact_policy(), clock=clock, authenticator=LeakyTokens())

    with pytest.raises(AepTransportError) as caught:
        transport.request("GET", f"{recorder.url}/x")

    error = caught.value
    assert error.retryable is False
    assert error.message == "GET /x: request could not be sent (InvalidHeader)"
    assert error.__cause__ is None
    assert error.__suppress_context__ is True
    assert "tok-SECRET-value" not in "".join(traceback.format_exception(error))
    assert recorder.requests == []
    assert clock.sleeps == []


BAD_CHUNK = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
TRUNCATED = b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"a"'
BAD_GZIP = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello"
NOT_HTTP = b"NOT HTTP AT ALL\r\n\r\n"


@pytest.mark.parametrize(
    ("raw", "error_type", "message"),
    [
        (BAD_CHUNK, AepTransportError, "GET /x: malformed answer (ChunkedEncodingError)"),
        (TRUNCATED, AepTransportError, "GET /x: malformed answer (ChunkedEncodingError)"),
        (BAD_GZIP, AepTransportError, "GET /x: malformed answer (ContentDecodingError)"),
        (NOT_HTTP, AepTimeoutError, "GET /x: no answer (ConnectionError)"),
    ],
    ids=["bad-chunk", "truncated-body", "bad-gzip", "not-http"],
)
def test_a_malformed_answer_is_a_typed_retryable_error(clock, raw, error_type, message):
    with wire_server(lambda _request: WireReply(raw=raw)) as server:
        with pytest.raises(error_type) as caught:
            Transport(policy=exact_policy(3), clock=clock).request("GET", f"{server.url}/x")

        assert len(server.requests) == 3
    assert type(caught.value) is error_type
    assert caught.value.retryable is True
    assert caught.value.message == message
    assert caught.value.__cause__ is None
    assert clock.sleeps == pytest.approx([0.2, 0.4])


def test_a_malformed_answer_is_retried_and_the_next_good_one_returned(clock):
    replies = iter([WireReply(raw=BAD_CHUNK), WireReply(200, b'{"ok": 1}')])
    with wire_server(lambda _request: next(replies)) as server:
        response = Transport(policy=exact_policy(), clock=clock).request("GET", f"{server.url}/x")

    assert response.json() == {"ok": 1}
    assert clock.sleeps == pytest.approx([0.2])


rex = requests.exceptions
T, X = AepTimeoutError, AepTransportError
UNSENT = "request could not be sent"


@pytest.mark.parametrize(
    ("exc", "error_type", "retryable", "message"),
    [
        (rex.ConnectionError("to http://h/?p=+1415"), T, True, "no answer (ConnectionError)"),
        (rex.ReadTimeout("x"), T, True, "no answer (ReadTimeout)"),
        (rex.ConnectTimeout("x"), T, True, "no answer (ConnectTimeout)"),
        (rex.ChunkedEncodingError("x"), X, True, "malformed answer (ChunkedEncodingError)"),
        (rex.ContentDecodingError("x"), X, True, "malformed answer (ContentDecodingError)"),
        (rex.InvalidHeader("Bearer t"), X, False, f"{UNSENT} (InvalidHeader)"),
        (rex.InvalidURL("http://h/?p=+1415"), X, False, f"{UNSENT} (InvalidURL)"),
        (rex.InvalidSchema("x"), X, False, f"{UNSENT} (InvalidSchema)"),
        (rex.MissingSchema("x"), X, False, f"{UNSENT} (MissingSchema)"),
        (rex.URLRequired("x"), X, False, f"{UNSENT} (URLRequired)"),
        (rex.TooManyRedirects("x"), X, False, f"{UNSENT} (TooManyRedirects)"),
        (rex.InvalidJSONError("x"), X, False, f"{UNSENT} (InvalidJSONError)"),
        (UnicodeEncodeError("latin-1", "é", 0, 1, "x"), X, False, f"{UNSENT} (UnicodeEncodeError)"),
        (urllib3.exceptions.ProtocolError("x"), X, True, "transport failure (ProtocolError)"),
        (rex.RequestException("x"), X, True, "transport failure (RequestException)"),
        (OSError("x"), X, True, "transport failure (OSError)"),
    ],
)
def test_every_transport_exception_maps_to_a_typed_error(exc, error_type, retryable, message):
    error = error_from_exception(exc, "ctx")

    assert type(error) is error_type
    assert error.retryable is retryable
    assert error.message == f"ctx: {message}"
    assert error.status is None
    assert error_from_exception(exc).message == message


def test_an_aep_error_maps_to_itself():
    error = AepRedirectError("x")

    assert error_from_exception(error, "ctx") is error


# --- item 3: the deadline is a wall-clock bound --------------------------------------------------


def dripping(body_only: bool) -> Script:
    body = b'{"pad": "' + b"x" * 400 + b'"}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)

    def script(_request):
        if body_only:
            return WireReply(raw=head + body, drip_seconds=0.02, drip_from=len(head))
        return WireReply(raw=head + body, drip_seconds=0.02)

    return script


@pytest.mark.parametrize("body_only", [False, True], ids=["headers-dripped", "body-dripped"])
def test_a_dripped_answer_cannot_keep_the_call_past_the_deadline(body_only):
    clock = SystemClock()
    transport = Transport(policy=exact_policy(), clock=clock, read_timeout=5.0)

    with wire_server(dripping(body_only)) as server:
        started = time.monotonic()
        with pytest.raises(AepTimeoutError) as caught:
            transport.request("GET", f"{server.url}/x", deadline=Deadline.after(0.5, clock))
        elapsed = time.monotonic() - started

    assert caught.value.message == "GET /x: deadline reached during the exchange"
    assert caught.value.__cause__ is None
    assert 0.45 <= elapsed < 3.0  # the drip alone would take over 8 s
    assert len(server.requests) == 1


def test_an_answer_within_the_deadline_is_returned_whole():
    clock = SystemClock()
    transport = Transport(policy=exact_policy(), clock=clock)

    with wire_server(lambda _request: WireReply(200, b'{"ok": true}', drip_seconds=0.001)) as server:
        response = transport.request("GET", f"{server.url}/x", deadline=Deadline.after(10, clock))
        again = transport.request("GET", f"{server.url}/x", deadline=Deadline.after(10, clock))

    assert response.json() == {"ok": True}
    assert again.json() == {"ok": True}


@pytest.fixture
def tls(tmp_path, monkeypatch) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1, trusted by requests through REQUESTS_CA_BUNDLE."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_the_wall_clock_bounds_https_exchanges_too(tls):
    clock = SystemClock()
    transport = Transport(policy=exact_policy(), clock=clock, read_timeout=5.0)

    with wire_server(lambda _request: WireReply(200, b'{"ok": true}'), tls) as server:
        assert server.url.startswith("https://")
        ok = transport.request("GET", f"{server.url}/x", deadline=Deadline.after(10, clock))
    with wire_server(dripping(body_only=True), tls) as server:
        started = time.monotonic()
        with pytest.raises(AepTimeoutError) as caught:
            transport.request("GET", f"{server.url}/x", deadline=Deadline.after(0.5, clock))
        elapsed = time.monotonic() - started

    assert ok.json() == {"ok": True}
    assert caught.value.message == "GET /x: deadline reached during the exchange"
    assert 0.45 <= elapsed < 3.0
