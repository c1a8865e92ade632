"""Body framing decisions of the emulator's HTTP layer (pure functions; the wire tests are in contract/)."""

from __future__ import annotations

import pytest

from aep_emulator.http11 import Head, HttpError, framing


def head(*fields: tuple[str, str], version: tuple[int, int] = (1, 1)) -> Head:
    return Head("POST", "/x", version, [(name.lower(), value) for name, value in fields])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ((), (False, 0)),
        ((("Content-Length", "0"),), (False, 0)),
        ((("Content-Length", "42"),), (False, 42)),
        ((("Content-Length", "42, 42"),), (False, 42)),
        ((("Content-Length", "7"), ("Content-Length", "7")), (False, 7)),
        ((("Content-Length", "999999999999999999"),), (False, 999_999_999_999_999_999)),
        ((("Transfer-Encoding", "chunked"),), (True, 0)),
        ((("Transfer-Encoding", " Chunked "),), (True, 0)),
    ],
)
def test_framing(fields, expected):
    assert framing(head(*fields)) == expected


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        (
            (("Content-Length", "4"), ("Transfer-Encoding", "chunked")),
            "Content-Length and Transfer-Encoding must not be sent together",
        ),
        ((("Content-Length", "1000000000000000000"),), "invalid Content-Length"),
        ((("Content-Length", "4, 5"),), "invalid Content-Length"),
        ((("Content-Length", " "),), "invalid Content-Length"),
        (
            (("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")),
            "unsupported Transfer-Encoding 'gzip, chunked'; only chunked is accepted",
        ),
    ],
)
def test_framing_refusals(fields, detail):
    with pytest.raises(HttpError) as caught:
        framing(head(*fields))

    assert (caught.value.status, caught.value.detail, str(caught.value)) == (400, detail, detail)


def test_transfer_encoding_on_http_1_0_is_refused_before_anything_else():
    with pytest.raises(HttpError) as caught:
        framing(head(("Transfer-Encoding", "chunked"), ("Content-Length", "3"), version=(1, 0)))

    assert caught.value.detail == "Transfer-Encoding is not allowed in HTTP/1.0"


@pytest.mark.parametrize(
    ("fields", "version", "keep"),
    [
        ((), (1, 1), True),
        ((("Connection", "close"),), (1, 1), False),
        ((("Connection", "keep-alive, Close"),), (1, 1), False),
        ((), (1, 0), False),
        ((("Connection", "Keep-Alive"),), (1, 0), True),
        ((("Connection", "upgrade"),), (1, 0), False),
    ],
)
def test_keep_alive(fields, version, keep):
    assert head(*fields, version=version).keep_alive() is keep


@pytest.mark.parametrize(
    ("fields", "version", "expects"),
    [
        ((("Expect", "100-continue"),), (1, 1), True),
        ((("Expect", "100-Continue"),), (1, 1), True),
        ((("Expect", "100-continue"),), (1, 0), False),
        ((("Expect", "something"),), (1, 1), False),
        ((), (1, 1), False),
    ],
)
def test_expects_continue(fields, version, expects):
    assert head(*fields, version=version).expects_continue() is expects


def test_repeated_fields_are_joined_in_order():
    joined = head(("Accept", "a"), ("X-One", "1"), ("Accept", "b")).headers()

    assert joined == {"accept": "a, b", "x-one": "1"}
