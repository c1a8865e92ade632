"""make local checks its ports before it starts anything: moto's server waits forever on a port it cannot
bind, so a port another program holds is said at once, with the variable that moves it."""

from __future__ import annotations

import socket

import pytest

from stack.__main__ import main, ports_in_use


@pytest.fixture
def held_port():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def test_a_port_another_program_listens_on_is_named_with_its_variable(held_port):
    lines = ports_in_use(("moto's server", held_port, "LOCAL_AWS_PORT", "--aws-port"), ("any", 0, "X", "--x"))

    assert len(lines) == 1
    assert f"port {held_port} (moto's server) is in use" in lines[0]
    assert "LOCAL_AWS_PORT=... make local" in lines[0]


def test_a_free_port_and_port_zero_are_not_in_use():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]

    assert ports_in_use(("the API", free, "LOCAL_API_PORT", "--api-port"), ("any", 0, "X", "--x")) == []


def test_make_local_stops_at_once_when_its_aws_port_is_taken(held_port, capsys):
    status = main(["--aws-port", str(held_port), "--api-port", "0", "--aep-port", "0"])

    assert status == 2
    assert f"port {held_port} (moto's server) is in use" in capsys.readouterr().err


def test_the_stack_drops_the_shell_s_aws_settings_that_would_send_requests_elsewhere():
    from stack.stack import drop_shell_aws

    environ = {
        "AWS_PROFILE": "prod",
        "AWS_ENDPOINT_URL_S3": "https://s3.example.com",
        "AWS_ENDPOINT_URL_SQS": "https://sqs.example.com",
        "AWS_SESSION_TOKEN": "t",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_REGION": "us-east-1",
        "HOME": "/root",
    }

    dropped = drop_shell_aws(environ)

    assert dropped == ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE", "AWS_SESSION_TOKEN"]
    assert sorted(environ) == ["AWS_ENDPOINT_URL", "AWS_REGION", "HOME"]
