"""python -m aep_emulator [--port 8787] [--host 127.0.0.1] [--config sandbox.json] [--timeout 60]

A port in use, a sandbox file that cannot be read, is not JSON or is not a valid sandbox (an invalid fault
rule included) ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from aep_emulator.config import DEFAULT_CONFIG, ConfigError, load_config
from aep_emulator.server import Emulator
from aep_emulator.web import TIMEOUT_SECONDS

EXIT_USAGE = 2


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return port


def _fail(message: str) -> int:
    print(f"aep_emulator: {message}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aep_emulator", description="An offline Adobe Experience Platform.")
    parser.add_argument(
        "--port", type=_port, default=os.environ.get("AEP_EMULATOR_PORT", "8787"), help="default 8787"
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback only by default")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="sandbox definition (JSON)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT_SECONDS,
        help=f"seconds an idle connection, a request's head or a stalled body read may take "
        f"(default {TIMEOUT_SECONDS:g})",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        emulator = Emulator(config, host=args.host, port=args.port, timeout_seconds=args.timeout)
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    print(
        f"AEP emulator on {emulator.url} (IMS, Platform and Streaming); sandbox file {args.config}",
        flush=True,
    )
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
