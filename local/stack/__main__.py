"""``python -m stack`` (``make local``): the whole product on this machine until Ctrl-C.

moto's server, the AEP emulator (an empty sandbox, then ``setup/callcenter.yaml`` applied), the resources
and functions of ``template.yaml``; S3 notifications and SQS messages are delivered to the functions with
the template's batch sizes and windows, the follow-up runs on a timer, the lookup API is served on a local
port in API Gateway's REST event format. The functions' logs go to stderr. docs/local.md shows how to drop
a file, send a message and look a profile up. Exit status 0 after Ctrl-C (or SIGTERM), 1 when it could not
start (the reason on stderr).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from types import FrameType

from stack.stack import LocalStack, Options


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"not NAME=VALUE: {text!r}")
    return name, value


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__.split("\n")[0])
    parser.add_argument("--api-port", type=int, default=3000, help="the lookup API's port (default 3000)")
    parser.add_argument("--aws-port", type=int, default=4566, help="moto's server (default 4566)")
    parser.add_argument("--aep-port", type=int, default=8787, help="the AEP emulator (default 8787)")
    parser.add_argument(
        "--schedule-seconds",
        type=float,
        default=None,
        help="run scheduled functions this often instead of the template's rate",
    )
    parser.add_argument(
        "--parameter",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter override (repeatable), as sam deploy --parameter-overrides",
    )
    return parser.parse_args(argv)


def instructions(stack: LocalStack) -> list[str]:
    """What to type to use the running stack (docs/local.md explains each)."""
    assert stack.api is not None
    assert stack.emulator is not None
    bucket = stack.output("BatchDropBucketName")
    queue = stack.output("StreamQueueUrl")
    stage = next(iter(stack.api.stages))
    endpoint = f"--endpoint-url {stack.aws_endpoint}"
    return [
        f"local stack up in {stack.timings['start']:.1f} s",
        f"   AWS (moto):   {stack.aws_endpoint}   (any access key; region us-east-1)",
        f"   AEP emulator: {stack.emulator.url}",
        f"   lookup API:   {stack.api.url}/{stage}",
        f"   drop bucket:  {bucket}",
        f"   stream queue: {queue}",
        f"   dead letters: {stack.output('StreamDeadLetterQueueUrl')}",
        "try:",
        f"   aws {endpoint} s3 cp callers.csv s3://{bucket}/callers/callers.csv",
        f"   aws {endpoint} sqs send-message --queue-url {queue} --message-body file://event.json",
        f"   curl '{stack.api.url}/{stage}/profiles/Phone/%28415%29%20555-0100'",
        "ready (Ctrl-C stops it)",
    ]


def ports_in_use(*wanted: tuple[str, int, str, str]) -> list[str]:
    """One line per port (what, port, make variable, option) another program holds on 127.0.0.1; port 0
    (any free one) is never in use. Checked before anything starts: moto's server waits forever on a port
    it cannot bind."""
    lines = []
    for what, port, variable, option in wanted:
        if not port:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is fine
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                lines.append(
                    f"port {port} ({what}) is in use by another program: stop it, or choose another port "
                    f"({variable}=... make local, or {option} ...)"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    options = Options(
        parameters=dict(args.parameter),
        api_port=args.api_port,
        aws_port=args.aws_port,
        aep_port=args.aep_port,
        schedule_seconds=args.schedule_seconds,
        function_logs=sys.stderr,
    )
    taken = ports_in_use(
        ("the lookup API", args.api_port, "LOCAL_API_PORT", "--api-port"),
        ("moto's server", args.aws_port, "LOCAL_AWS_PORT", "--aws-port"),
        ("the AEP emulator", args.aep_port, "LOCAL_AEP_PORT", "--aep-port"),
    )
    if taken:
        for line in taken:
            print(line, file=sys.stderr, flush=True)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        with LocalStack(options, say=say) as stack:
            for line in instructions(stack):
                say(line)
            while not stop.wait(0.5):
                pass
            say("stopping: the API, the pollers and timers, the functions, the emulator, moto's server")
    except Exception as exc:
        print(f"local stack failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
