"""python -m aep_emulator [--port 8787] [--host 127.0.0.1] [--config sandbox.json ...] [--timeout 60]

``--config`` takes one or more sandbox files (and may be repeated): their orgs are served side by side.
A port in use, a sandbox file that cannot be read, is not JSON or is not a valid sandbox (an invalid fault
rule included), or an org, client or inlet id defined twice ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from aep_emulator.config import DEFAULT_CONFIG, ConfigError, load_orgs
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
    parser.add_argument(
        "--config",
        action="extend",
        nargs="+",
        metavar="FILE",
        help=f"sandbox files (JSON), one org or several each (default {DEFAULT_CONFIG.name})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT_SECONDS,
        help=f"seconds an idle connection, a request's head or a stalled body read may take "
        f"(default {TIMEOUT_SECONDS:g})",
    )
    args = parser.parse_args(argv)
    files: list[str] = args.config or [str(DEFAULT_CONFIG)]
    try:
        config = load_orgs(*files)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        emulator = Emulator(config, host=args.host, port=args.port, timeout_seconds=args.timeout)
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    print(
        f"AEP emulator on {emulator.url} (IMS, Platform and Streaming); "
        f"sandbox files {', '.join(files)}; orgs {', '.join(org.org_id for org in config.orgs)}",
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
