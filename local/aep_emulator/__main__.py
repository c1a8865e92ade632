"""python -m aep_emulator [--port 8787] [--config sandbox.json]"""

from __future__ import annotations

import argparse
import os
import sys

from aep_emulator.config import DEFAULT_CONFIG, load_config
from aep_emulator.server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aep_emulator", description="An offline Adobe Experience Platform.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("AEP_EMULATOR_PORT", "8787")))
    parser.add_argument("--host", default="127.0.0.1", help="loopback only by default")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="sandbox definition (JSON)")
    args = parser.parse_args(argv)
    emulator = Emulator(load_config(args.config), host=args.host, port=args.port)
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
