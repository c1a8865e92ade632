"""`make local` keeps the stack up until Ctrl-C: start its entry point (``python -m stack``, as the Makefile
runs it) in a child process, drive it as a person would (boto3 against its AWS endpoint, HTTP against its
API), then stop it with SIGINT and check that it ended cleanly, containers included."""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import pytest

from tests.e2e.processes import children, shell_environment
from tests.support.template import ROOT

pytestmark = pytest.mark.integration

READY = "ready (Ctrl-C stops it)"
START_TIMEOUT = 90.0
CALLER = "+14155550123"  # reserved for fiction
CALLER_AS_DIALLED = "(415) 555-0123"


@dataclass
class Running:
    process: subprocess.Popen[str]
    lines: list[str]
    more: queue.Queue[str | None]
    endpoints: dict[str, str]

    def client(self, service: str) -> Any:
        factory: Any = boto3.client
        return factory(
            service,
            endpoint_url=self.endpoints["AWS (moto)"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )


def _read(stream: io.TextIOBase, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def _until(done: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = done()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@contextlib.contextmanager
def started() -> Iterator[Running]:
    command = [
        sys.executable,
        "-m",
        "stack",
        "--api-port",
        "0",
        "--aws-port",
        "0",
        "--aep-port",
        "0",
        "--schedule-seconds",
        "1",
        "--parameter",
        "BatchBatchingWindowSeconds=0",
        "--parameter",
        "LogLevel=WARNING",
    ]
    process = subprocess.Popen(  # noqa: S603 - this interpreter, the repository's own code
        command,
        cwd=ROOT,
        env=shell_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    more: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read, args=(process.stdout, more), daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while READY not in lines:
        line = more.get(timeout=max(0.1, deadline - time.monotonic()))
        assert line is not None, "\n".join(lines)
        lines.append(line)
    endpoints = {}
    for line in lines:
        name, sep, value = line.strip().partition(": ")
        if sep and name in ("AWS (moto)", "lookup API", "drop bucket", "stream queue", "dead letters"):
            endpoints[name] = value.split()[0]
    running = Running(process, lines, more, endpoints)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _get(url: str, path: str) -> tuple[int, dict[str, Any]]:
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    try:
        connection.request("GET", where.path + path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def says_where_each_endpoint_is_and_what_to_type(local: Running) -> None:
    assert set(local.endpoints) == {"AWS (moto)", "lookup API", "drop bucket", "stream queue", "dead letters"}
    assert local.endpoints["lookup API"].endswith("/v1")
    assert any(line.strip().startswith("aws --endpoint-url http://127.0.0.1:") for line in local.lines)
    assert any(line.strip().startswith("curl 'http://127.0.0.1:") for line in local.lines)


def ingests_a_dropped_file_and_serves_the_profile_over_http(local: Running) -> None:
    # Given a caller export dropped in the bucket, as the partner's CRM does
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerows([("phone", "first_name", "tier"), (CALLER_AS_DIALLED, "caller 9", "bronze")])
    s3 = local.client("s3")
    bucket = local.endpoints["drop bucket"]
    s3.put_object(Bucket=bucket, Key="callers/local-test.csv", Body=text.getvalue().encode())

    # When S3's notification reaches the batch function and the follow-up runs on its timer
    def report() -> dict[str, Any] | None:
        try:
            body = s3.get_object(Bucket=bucket, Key="_reports/callers/local-test.csv.report.json")["Body"]
        except s3.exceptions.NoSuchKey:
            return None
        loaded: dict[str, Any] = json.loads(body.read())
        return loaded

    found = _until(report, 30)

    # Then the file's report says it was ingested, and the lookup API finds the caller as dialled
    assert found is not None, "no report"
    assert (found["status"], found["records"]["sent"]) == ("success", 1)
    status, body = _until(
        lambda: (
            (answer := _get(local.endpoints["lookup API"], f"/profiles/Phone/{quote(CALLER_AS_DIALLED)}"))[0]
            == 200
            and answer
        ),
        10,
    )
    assert status == 200
    assert body["attributes"]["person"]["name"]["firstName"] == "caller 9"
    assert body["identities"] == [{"namespace": "Phone", "id": CALLER}]


def streams_a_message_and_dead_letters_a_broken_one(local: Running) -> None:
    sqs = local.client("sqs")
    event = {
        "timestamp": "2026-11-30T10:00:00Z",
        "eventType": "ivr.call",
        "_acme": {"phone": CALLER_AS_DIALLED, "call": {"direction": "inbound", "durationSeconds": 61}},
    }
    broken = {**event, "_acme": {"phone": "not a number"}}
    sqs.send_message(QueueUrl=local.endpoints["stream queue"], MessageBody=json.dumps(event))
    sqs.send_message(QueueUrl=local.endpoints["stream queue"], MessageBody=json.dumps(broken))

    def dead_letter() -> list[dict[str, Any]]:
        answer = sqs.receive_message(
            QueueUrl=local.endpoints["dead letters"], MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    letters = _until(dead_letter, 20)
    events = _until(
        lambda: (
            (
                answer := _get(
                    local.endpoints["lookup API"], f"/profiles/Phone/{quote(CALLER_AS_DIALLED)}/events"
                )
            )[0]
            == 200
            and answer[1]["events"]
        ),
        20,
    )

    assert [json.loads(m["Body"]) for m in letters] == [broken]
    assert letters[0]["MessageAttributes"]["aep.error.reason"]["StringValue"].startswith("_acme.phone: ")
    assert events, "the streamed call never reached the profile's events"
    assert [e["attributes"]["_acme"]["call"]["durationSeconds"] for e in events] == [61]


def refuses_a_caller_the_function_does_not_admit(local: Running) -> None:
    where = urlsplit(local.endpoints["lookup API"])
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    try:
        connection.request(
            "GET",
            f"{where.path}/profiles/Phone/{quote(CALLER_AS_DIALLED)}",
            headers={"X-Local-Caller-Arn": "arn:aws:sts::123456789012:assumed-role/someone-else/s"},
        )
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()

    assert response.status == 403
    assert body["error"]["code"] == "forbidden"


def stops_cleanly_on_sigint(local: Running) -> None:
    containers = children(local.process.pid)
    assert len(containers) >= 4  # a process per function

    local.process.send_signal(signal.SIGINT)
    code = local.process.wait(timeout=30)
    rest: list[str] = []
    while (line := local.more.get(timeout=5)) is not None:
        rest.append(line)

    assert code == 0
    assert rest[-1] == "stopped"
    assert [pid for pid in containers if _alive(pid)] == []
    with pytest.raises(ConnectionRefusedError):
        _get(local.endpoints["lookup API"], "/profiles/Phone/x")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_make_local_serves_the_stack_until_sigint_then_stops_everything_it_started():
    # One test, in this order: the stack's process is shared by the steps and stopped by the last one.
    with started() as local:
        says_where_each_endpoint_is_and_what_to_type(local)
        ingests_a_dropped_file_and_serves_the_profile_over_http(local)
        streams_a_message_and_dead_letters_a_broken_one(local)
        refuses_a_caller_the_function_does_not_admit(local)
        stops_cleanly_on_sigint(local)
