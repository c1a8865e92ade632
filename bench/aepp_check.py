"""An independent client agrees with the emulator: aepp 0.6.0 uploads a batch, streams, looks a profile up.

aepp lives in its own virtualenv (.aepp-venv: ``--no-deps`` plus requests, deprecation, tenacity,
pathlib2, pandas and rich); this script runs the emulator, runs bench/aepp_client.py with aepp's Python,
and checks what reached the emulator. Run with ``make aepp-check``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aep_emulator import running

HERE = Path(__file__).parent
PHONE = "+14155550177"


def main() -> int:
    python = sys.argv[1] if len(sys.argv) > 1 else ".aepp-venv/bin/python"
    with running() as emu:
        inlet = emu.config.inlets[0]
        dataset = emu.config.dataset(inlet.dataset_id)
        assert dataset is not None
        client = emu.config.clients[0]
        env = {
            **os.environ,
            "AEMU_URL": emu.url,
            "AEMU_ORG": emu.config.org_id,
            "AEMU_CLIENT": client.client_id,
            "AEMU_SECRET": client.client_secret,
            "AEMU_DATASET": dataset.id,
            "AEMU_INLET": inlet.id,
            "AEMU_FLOW": inlet.flow_id or "",
            "AEMU_PHONE": PHONE,
            "AEMU_SCHEMA": dataset.schema_ref,
        }
        done = subprocess.run(
            [python, str(HERE / "aepp_client.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        batch = emu.state.batches[answer["batch"]["id"]]
        responses = answer["stream"].get("responses", [])
        profile = emu.state.profiles.profile("Phone", PHONE)
        checks = {
            "batch created (201, loading)": answer["batch"].get("status") == "loading",
            "batch processed to success": batch.status == "success"
            and batch.metrics["outputRecordCount"] == 3,
            "2 streamed messages accepted": len(responses) == 2 and all("xactionId" in r for r in responses),
            "profile found by aepp": PHONE in json.dumps(answer["profile"]),
            "emulator profile holds 5 events": profile is not None
            and len(emu.state.profiles.events("Phone", PHONE)) == 5,
        }
        paths = sorted({f"{r['method']} {r['route']} {r['status']}" for r in emu.state.log})
    for name, ok in checks.items():
        print(f"{'ok ' if ok else 'FAIL'} {name}")
    print("requests aepp made:", ", ".join(paths))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
