"""``make setup`` without AEP_* variables: converge a setup file against an in-process emulator, twice
(the second run shows there is nothing left to do), and print the outputs."""

from __future__ import annotations

import sys

from aep.setup.__main__ import main
from aep_emulator import running


def run(path: str) -> int:
    with running() as emulator:
        creds = emulator.config.clients[0]
        env = {
            "AEP_IMS_URL": emulator.url,
            "AEP_PLATFORM_URL": emulator.url,
            "AEP_CLIENT_ID": creds.client_id,
            "AEP_CLIENT_SECRET": creds.client_secret,
            "AEP_ORG_ID": emulator.config.org_id,
        }
        print(f"emulator at {emulator.url}: apply {path}", file=sys.stderr)
        first = main(["apply", path], env)
        if first != 0:
            return first
        print("\nsecond apply (expects no change):", file=sys.stderr)
        return main(["apply", path], env)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else "setup/callcenter.yaml"))
