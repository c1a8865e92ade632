"""The emulator's HTTP/1.1 framing, proved byte by byte over a raw loopback socket (RFC 9112).

A strict front end reads chunked bodies, refuses ambiguous framing (Content-Length with Transfer-Encoding,
a bad Content-Length, an unknown transfer coding) and malformed requests with a 400 and a closed
connection, times out idle and stalled connections, and keeps large bodies on disk, not in memory.
"""

from __future__ import annotations

import json
import select
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from aep_emulator import Emulator, running
from tests.contract.wire import Wire, chunked, request
from tests.integration.conftest import CALL_EVENTS, call_event, envelope, ndjson

PHONE = "+14155550133"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with running(timeout_seconds=1.0) as emulator:
        yield emulator


def new_batch(emu: Emulator, auth: dict[str, str]) -> str:
    created = requests.post(
        f"{emu.url}/data/foundation/import/batches",
        headers=auth,
        json={"datasetId": CALL_EVENTS, "inputFormat": {"format": "json"}},
        timeout=5,
    )
    assert created.status_code == 201
    return str(created.json()["id"])


def file_target(batch: str, name: str = "a.json") -> str:
    return f"/data/foundation/import/batches/{batch}/datasets/{CALL_EVENTS}/files/{name}"


def input_files(emu: Emulator, auth: dict[str, str], batch: str) -> list[dict[str, Any]]:
    answer = requests.get(
        f"{emu.url}/data/foundation/export/batches/{batch}/meta",
        headers=auth,
        params={"path": "input_files"},
        timeout=5,
    )
    return list(answer.json()["data"])


def final_catalog(emu: Emulator, auth: dict[str, str], batch: str) -> dict[str, Any]:
    """The batch's Catalog entry once processed (the emulator answers ``staging`` to the first poll)."""
    url = f"{emu.url}/data/foundation/catalog/batches/{batch}"
    for _ in range(5):
        entry = dict(requests.get(url, headers=auth, timeout=5).json()[batch])
        if entry["status"] != "staging":
            return entry
    raise AssertionError("the batch stayed in staging")


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {
        "type": f"http://ns.adobe.com/aep/errors/HTTP-{status}",
        "status": status,
        "title": title,
        "detail": detail,
    }


def refused_and_closed(wire: Wire, status: int, title: str, detail: str) -> None:
    answer = wire.answer()
    assert (answer.status, answer.json()) == (status, problem(status, title, detail))
    assert answer.headers["connection"] == "close"
    assert answer.headers["content-type"] == "application/json"
    assert wire.closed()


# -- Transfer-Encoding: chunked --------------------------------------------------------------------------
def test_a_chunked_put_is_stored_whole_and_the_connection_serves_the_next_request(emu, auth):
    batch = new_batch(emu, auth)
    data = ndjson([call_event(PHONE, 1), call_event(PHONE, 2)])
    headers = {**auth, "Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"}
    body = chunked(data[:10], data[10:], extension=";note=1", trailer="X-Checksum: none")

    with Wire(emu.url) as wire:
        wire.send(request("PUT", file_target(batch), wire.host, headers, body, length=False))
        put = wire.answer()
        wire.send(
            request("POST", f"/data/foundation/import/batches/{batch}?action=COMPLETE", wire.host, auth)
        )
        completed = wire.answer()

    assert (put.status, put.body) == (200, b"")
    assert completed.status == 200
    assert input_files(emu, auth, batch) == [{"name": "a.json", "length": str(len(data))}]
    catalog = final_catalog(emu, auth, batch)
    assert (catalog["status"], catalog["metrics"]["outputRecordCount"]) == ("success", 2)


def test_a_chunked_streaming_post_is_parsed(emu):
    inlet = emu.config.inlets[0]
    message = envelope(emu, CALL_EVENTS, call_event(PHONE, 3))
    payload = json.dumps({"messages": [message]}).encode()
    headers = {"Content-Type": "application/json", "x-sandbox-name": "prod", "Transfer-Encoding": "chunked"}

    with Wire(emu.url) as wire:
        wire.send(
            request(
                "POST", f"/collection/batch/{inlet.id}", wire.host, headers, chunked(payload), length=False
            )
        )
        answer = wire.answer()

    assert answer.status == 207
    assert "xactionId" in answer.json()["responses"][0]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", "malformed chunked body: bad chunk size"),
        (b"3\r\nabcdef\r\n0\r\n\r\n", "malformed chunked body: chunk data longer than its size"),
        (b"-3\r\nabc\r\n0\r\n\r\n", "malformed chunked body: bad chunk size"),
        (b"3\r\nabc\r\n0\r\nNo Colon\r\n\r\n", "malformed chunked body: bad trailer line"),
    ],
)
def test_a_malformed_chunked_body_is_400_and_closes(emu, auth, body, detail):
    batch = new_batch(emu, auth)
    headers = {**auth, "Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"}

    with Wire(emu.url) as wire:
        wire.send(request("PUT", file_target(batch), wire.host, headers, body, length=False))
        refused_and_closed(wire, 400, "Bad Request", detail)

    assert input_files(emu, auth, batch) == []


def test_a_chunked_body_cut_short_is_not_stored(emu, auth):
    batch = new_batch(emu, auth)
    headers = {**auth, "Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"}

    with Wire(emu.url) as wire:
        wire.send(request("PUT", file_target(batch), wire.host, headers, b"a\r\n12345", length=False))
        wire.sock.shutdown(1)  # the client stops sending mid-chunk
        refused_and_closed(wire, 400, "Bad Request", "malformed chunked body: the body ended early")

    assert input_files(emu, auth, batch) == []


# -- Ambiguous or invalid framing ---------------------------------------------------------------------------
def test_content_length_and_transfer_encoding_together_is_400_and_closes(emu, auth):
    batch = new_batch(emu, auth)
    data = ndjson([call_event(PHONE, 4)])
    headers = {
        **auth,
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(data)),
        "Transfer-Encoding": "chunked",
    }

    with Wire(emu.url) as wire:
        wire.send(request("PUT", file_target(batch), wire.host, headers, data, length=False))
        refused_and_closed(
            wire, 400, "Bad Request", "Content-Length and Transfer-Encoding must not be sent together"
        )

    assert input_files(emu, auth, batch) == []
    [logged] = [
        e
        for e in requests.get(f"{emu.url}/_admin/requests", timeout=5).json()
        if e["route"] == "http" and batch in e["path"]
    ]
    assert {k: logged[k] for k in ("method", "path", "route", "status", "detail")} == {
        "method": "PUT",
        "path": file_target(batch),
        "route": "http",
        "status": 400,
        "detail": "Content-Length and Transfer-Encoding must not be sent together",
    }


@pytest.mark.parametrize("coding", ["gzip", "gzip, chunked", "chunked, gzip", "chunked, chunked", "identity"])
def test_an_unsupported_transfer_encoding_is_400(emu, coding):
    headers = {"Content-Type": "application/json", "Transfer-Encoding": coding}

    with Wire(emu.url) as wire:
        wire.send(request("POST", "/ims/token/v3", wire.host, headers, chunked(b"x=1"), length=False))
        refused_and_closed(
            wire, 400, "Bad Request", f"unsupported Transfer-Encoding {coding!r}; only chunked is accepted"
        )


@pytest.mark.parametrize("value", ["abc", "-1", "+5", "5, 6", "1.5", "", "0x5", "99999999999999999999"])
def test_an_invalid_content_length_is_400(emu, value):
    with Wire(emu.url) as wire:
        wire.send(
            f"POST /ims/token/v3 HTTP/1.1\r\nHost: {wire.host}\r\nContent-Length: {value}\r\n\r\n".encode()
            + b"abcde"
        )
        refused_and_closed(wire, 400, "Bad Request", "invalid Content-Length")


def test_two_different_content_lengths_are_400(emu):
    with Wire(emu.url) as wire:
        wire.send(
            f"POST /ims/token/v3 HTTP/1.1\r\nHost: {wire.host}\r\nContent-Length: 5\r\n"
            "Content-Length: 6\r\n\r\nabcdef".encode()
        )
        refused_and_closed(wire, 400, "Bad Request", "invalid Content-Length")


def test_a_repeated_identical_content_length_is_accepted(emu):
    with Wire(emu.url) as wire:
        wire.send(
            f"POST /ims/token/v3 HTTP/1.1\r\nHost: {wire.host}\r\nContent-Length: 5, 5\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\nx=abc".encode()
        )
        answer = wire.answer()

    assert (answer.status, answer.json()["error"]) == (400, "unsupported_grant_type")


def test_transfer_encoding_on_http_1_0_is_400(emu):
    with Wire(emu.url) as wire:
        wire.send(
            f"POST /ims/token/v3 HTTP/1.0\r\nHost: {wire.host}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + chunked(b"x=1")
        )
        refused_and_closed(wire, 400, "Bad Request", "Transfer-Encoding is not allowed in HTTP/1.0")


# -- Malformed requests get an answer, not a silent close -----------------------------------------------
@pytest.mark.parametrize(
    ("raw", "status", "title", "detail"),
    [
        (b"GARBAGE\r\n\r\n", 400, "Bad Request", "malformed request line"),
        (b"GET /ims\r\n\r\n", 400, "Bad Request", "malformed request line"),
        (b"GET  /ims HTTP/1.1\r\n\r\n", 400, "Bad Request", "malformed request line"),
        (b"GET /ims HTTP/1.1 extra\r\n\r\n", 400, "Bad Request", "malformed request line"),
        (b"G(T /ims HTTP/1.1\r\n\r\n", 400, "Bad Request", "malformed request line"),
        (b"GET ims HTTP/1.1\r\nHost: h\r\n\r\n", 400, "Bad Request", "malformed request target"),
        (
            b"GET /ims HTTP/2.0\r\nHost: h\r\n\r\n",
            505,
            "HTTP Version Not Supported",
            "HTTP/2.0 is not supported",
        ),
        (b"GET /ims HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400, "Bad Request", "malformed header line"),
        (b"GET /ims HTTP/1.1\r\nHost: h\r\nName : v\r\n\r\n", 400, "Bad Request", "malformed header line"),
        (b"GET /ims HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", 400, "Bad Request", "malformed header line"),
        (
            b"GET /ims HTTP/1.1\r\nHost: h\r\nA: b\r\n folded\r\n\r\n",
            400,
            "Bad Request",
            "malformed header line",
        ),
        (b"GET /ims HTTP/1.1\r\nHost: h\r\nA: b\x00c\r\n\r\n", 400, "Bad Request", "malformed header line"),
        (b"GET /ims HTTP/1.1\r\nHost: h\r\nA: b\rc\r\n\r\n", 400, "Bad Request", "malformed header line"),
        (b"GET /ims HTTP/1.1\r\n\r\n", 400, "Bad Request", "exactly one Host header is required"),
        (
            b"GET /ims HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
            "Bad Request",
            "exactly one Host header is required",
        ),
    ],
)
def test_a_malformed_request_gets_an_answer_and_a_close(emu, raw, status, title, detail):
    with Wire(emu.url) as wire:
        wire.send(raw)
        refused_and_closed(wire, status, title, detail)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /_admin/faults HTTP/1.1\nHost: h\n\n",  # bare LF line ends (RFC 9112 2.2 allows them)
        b"GET http://h/_admin/faults HTTP/1.1\r\nHost: h\r\n\r\n",  # absolute form
        b"\r\n" * 9 + b"GET /_admin/faults HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /_admin/faults HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
        b"GET /_admin/faults HTTP/1.1\r\nHost: h\r\n"
        + b"".join(b"X-H%d: v\r\n" % n for n in range(99))
        + b"\r\n",
    ],
)
def test_well_formed_variants_are_served(emu, raw):
    with Wire(emu.url) as wire:
        wire.send(raw)
        answer = wire.answer()

    assert (answer.status, answer.json()) == (200, [])


def test_ten_empty_lines_before_a_request_are_too_many(emu):
    with Wire(emu.url) as wire:
        wire.send(b"\r\n" * 10 + b"GET /_admin/faults HTTP/1.1\r\nHost: h\r\n\r\n")
        refused_and_closed(wire, 400, "Bad Request", "malformed request line")


def test_a_header_line_over_the_limit_is_431(emu):
    with Wire(emu.url) as wire:
        wire.send(f"GET /ims HTTP/1.1\r\nHost: h\r\nX-Big: {'v' * 17_000}\r\n\r\n".encode())
        refused_and_closed(wire, 431, "Request Header Fields Too Large", "a header line is over 16384 bytes")


def test_a_request_cut_inside_its_header_is_400(emu):
    with Wire(emu.url) as wire:
        wire.send(b"GET /ims HTTP/1.1\r\nHost: h\r\nX-Half: y")
        wire.sock.shutdown(1)
        refused_and_closed(wire, 400, "Bad Request", "the request ended inside its header")


def test_a_body_shorter_than_its_content_length_is_400(emu):
    with Wire(emu.url) as wire:
        wire.send(request("POST", "/ims/token/v3", wire.host, {"Content-Length": "10"}) + b"abc")
        wire.sock.shutdown(1)
        refused_and_closed(wire, 400, "Bad Request", "the body ended early")


def test_a_chunk_size_line_over_the_limit_is_400(emu):
    headers = {"Transfer-Encoding": "chunked"}
    with Wire(emu.url) as wire:
        wire.send(request("POST", "/ims/token/v3", wire.host, headers) + b"1" + b"0" * 17_000 + b"\r\n")
        refused_and_closed(wire, 400, "Bad Request", "malformed chunked body: a line is too long")


def test_more_than_a_hundred_trailer_lines_is_431(emu):
    trailer = "\r\n".join(f"X-T{n}: v" for n in range(101))
    headers = {"Transfer-Encoding": "chunked"}
    with Wire(emu.url) as wire:
        wire.send(request("POST", "/ims/token/v3", wire.host, headers) + chunked(b"x=1", trailer=trailer))
        refused_and_closed(wire, 431, "Request Header Fields Too Large", "more than 100 trailer lines")


def test_http_1_0_keep_alive_is_honoured(emu):
    with Wire(emu.url) as wire:
        wire.send(b"GET /_admin/faults HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = wire.answer()
        wire.send(b"GET /_admin/faults HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        second = wire.answer()

    assert (first.status, second.status) == (200, 200)
    assert "connection" not in first.headers


def test_head_gets_the_headers_without_the_body(emu):
    with Wire(emu.url) as wire:
        wire.send(request("HEAD", "/_admin/faults", wire.host))
        head = wire.answer(head_only=True)
        wire.send(request("GET", "/_admin/faults", wire.host))
        get = wire.answer()

    assert (head.status, head.body) == (405, b"")
    assert head.headers["content-length"] == str(
        len(json.dumps({"title": "Method not allowed", "status": 405}))
    )
    assert (get.status, get.body) == (200, b"[]")


def test_expect_without_a_body_gets_no_interim_answer(emu):
    with Wire(emu.url) as wire:
        wire.send(request("GET", "/_admin/faults", wire.host, {"Expect": "100-continue"}))
        answer = wire.answer()

    assert (answer.status, answer.body) == (200, b"[]")


def test_a_refused_request_line_is_logged_with_unknown_method_and_path(emu):
    with Wire(emu.url) as wire:
        wire.send(b"BROKEN-LINE-FOR-THE-LOG\r\n\r\n")
        refused_and_closed(wire, 400, "Bad Request", "malformed request line")

    log = requests.get(f"{emu.url}/_admin/requests", timeout=5).json()
    assert {
        "method": "?",
        "path": "?",
        "route": "http",
        "status": 400,
        "detail": "malformed request line",
    }.items() <= log[-1].items()


def test_too_many_header_lines_is_431(emu):
    headers = "".join(f"X-H{n}: v\r\n" for n in range(101))

    with Wire(emu.url) as wire:
        wire.send(f"GET /ims HTTP/1.1\r\nHost: h\r\n{headers}\r\n".encode())
        refused_and_closed(wire, 431, "Request Header Fields Too Large", "more than 100 header lines")


def test_a_request_line_over_the_limit_is_414(emu):
    with Wire(emu.url) as wire:
        wire.send(f"GET /{'x' * 20_000} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        refused_and_closed(wire, 414, "URI Too Long", "the request line is over 16384 bytes")


def test_empty_lines_before_a_request_are_ignored_and_keep_alive_holds(emu):
    with Wire(emu.url) as wire:
        wire.send(b"\r\n" + request("GET", "/_admin/faults", wire.host))
        first = wire.answer()
        wire.send(request("GET", "/_admin/faults", wire.host))
        second = wire.answer()

    assert (first.status, second.status) == (200, 200)
    assert "connection" not in first.headers


def test_connection_close_and_http_1_0_close_after_the_answer(emu):
    with Wire(emu.url) as wire:
        wire.send(request("GET", "/_admin/faults", wire.host, {"Connection": "close"}))
        answer = wire.answer()
        assert (answer.status, answer.headers["connection"]) == (200, "close")
        assert wire.closed()
    with Wire(emu.url) as wire:
        wire.send(b"GET /_admin/faults HTTP/1.0\r\n\r\n")
        assert wire.answer().status == 200
        assert wire.closed()


def test_expect_100_continue_gets_an_interim_answer_first(emu, auth):
    batch = new_batch(emu, auth)
    data = ndjson([call_event(PHONE, 5)])
    headers = {
        **auth,
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(data)),
        "Expect": "100-continue",
    }

    with Wire(emu.url) as wire:
        wire.send(request("PUT", file_target(batch), wire.host, headers, length=False))
        interim = wire.answer()
        wire.send(data)
        final = wire.answer()

    assert (interim.status, interim.reason) == (100, "Continue")
    assert final.status == 200
    assert input_files(emu, auth, batch) == [{"name": "a.json", "length": str(len(data))}]


def test_a_body_over_the_limit_is_413_without_reading_it(emu):
    with Wire(emu.url) as wire:
        wire.send(request("PUT", "/ims/token/v3", wire.host, {"Content-Length": str(700 * 1024 * 1024)}))
        refused_and_closed(wire, 413, "Content Too Large", "the body is over 629145600 bytes")


# -- Timeouts -------------------------------------------------------------------------------------------
def test_an_idle_connection_is_closed_after_the_timeout(emu):
    with Wire(emu.url) as wire:
        started = time.monotonic()
        assert wire.closed()
        waited = time.monotonic() - started

    assert 0.8 <= waited < 3.0


def test_a_request_stalled_mid_headers_gets_408_and_a_close(emu):
    with Wire(emu.url) as wire:
        wire.send(b"GET /_admin/faults HTTP/1.1\r\nHost: h\r\n")
        refused_and_closed(wire, 408, "Request Timeout", "the request was not received in time")


def test_a_request_stalled_mid_body_gets_408_and_a_close(emu):
    with Wire(emu.url) as wire:
        wire.send(request("POST", "/ims/token/v3", wire.host, {"Content-Length": "100"}) + b"grant")
        refused_and_closed(wire, 408, "Request Timeout", "the request was not received in time")


def test_headers_dripped_slowly_still_time_out(emu):
    """A client sending a header byte now and then cannot hold the connection past the deadline."""
    with Wire(emu.url) as wire:
        wire.send(b"GET /_admin/faults HTTP/1.1\r\nX-Slow: ")
        started = time.monotonic()
        while time.monotonic() - started < 4 and not select.select([wire.sock], [], [], 0.2)[0]:
            wire.send(b"x")
        waited = time.monotonic() - started
        refused_and_closed(wire, 408, "Request Timeout", "the request was not received in time")

    assert waited < 3.0


# -- Large bodies are spooled to disk --------------------------------------------------------------------
SIZE = 48 * 1024 * 1024


def _send_body(wire: Wire, head: bytes, size: int) -> None:
    wire.send(head)
    block = (json.dumps(call_event(PHONE, 6)) + "\n").encode()
    block = block * (65536 // len(block))
    sent = 0
    while sent < size:
        piece = block[: size - sent]
        wire.send(piece)
        sent += len(piece)


def test_a_large_put_and_patch_do_not_hold_the_body_in_memory(emu, auth):
    batch = new_batch(emu, auth)
    octet = {**auth, "Content-Type": "application/octet-stream"}
    tracemalloc.start()
    try:
        with Wire(emu.url, timeout=60) as wire:
            head = request(
                "PUT", file_target(batch, "big.json"), wire.host, {**octet, "Content-Length": str(SIZE)}
            )
            _send_body(wire, head, SIZE)
            put = wire.answer()
            wire.send(
                request("POST", file_target(batch, "large.json") + "?action=INITIALIZE", wire.host, auth)
            )
            initialized = wire.answer()
            patch_headers = {
                **octet,
                "Content-Length": str(SIZE),
                "Content-Range": f"bytes 0-{SIZE - 1}/{SIZE}",
            }
            _send_body(
                wire, request("PATCH", file_target(batch, "large.json"), wire.host, patch_headers), SIZE
            )
            patched = wire.answer()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (put.status, initialized.status, patched.status) == (200, 201, 200)
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes for two {SIZE}-byte bodies"
    assert {f["name"]: f["length"] for f in input_files(emu, auth, batch)} == {
        "big.json": str(SIZE),
        "large.json": str(SIZE),
    }


def test_uploaded_files_are_on_disk_and_removed_by_reset_and_stop():
    with running() as emulator:
        client = emulator.config.clients[0]
        form = {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "scope": "openid",
        }
        token = requests.post(f"{emulator.url}/ims/token/v3", data=form, timeout=5).json()["access_token"]
        headers = {
            "Authorization": f"Bearer {token}",
            "x-api-key": client.client_id,
            "x-gw-ims-org-id": emulator.config.org_id,
        }
        batch = new_batch(emulator, headers)
        data = ndjson([call_event(PHONE, 7)])
        requests.put(
            emulator.url + file_target(batch),
            data=data,
            headers={**headers, "Content-Type": "application/octet-stream"},
            timeout=5,
        ).raise_for_status()
        stored = emulator.state.batches[batch].files["a.json"].path
        on_disk = stored.read_bytes()
        requests.post(f"{emulator.url}/_admin/reset", timeout=5).raise_for_status()
        after_reset = stored.exists()
        folder = stored.parent
        folder_during_run = folder.is_dir()

    assert on_disk == data
    assert (after_reset, folder_during_run, folder.exists()) == (False, True, False)
