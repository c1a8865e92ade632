"""An independent client agrees with the emulator: aepp 0.6.0 uploads a batch, streams, looks a profile up.

aepp lives in its own virtualenv (.aepp-venv: ``--no-deps`` plus its pinned extras, see the Makefile);
this script runs the emulator, runs bench/aepp_client.py with aepp's Python, and judges the return value
of every aepp step (aepp reports an HTTP error as a returned ``{"error": ...}``, not by raising, so an
unchecked step fails unnoticed), then what reached the emulator. Any problem fails the run: exit code 1.
Run with ``make aepp-check``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aep_emulator import running

HERE = Path(__file__).parent
PHONE = "+14155550177"


def _no_error(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"returned {type(value).__name__}, not an object"
    for key in ("error", "errorMessage", "error_code"):
        if key in value:
            return f"returned an error: {str(value[key])[:300]!r}"
    return None


def _batch_created(value: Any) -> str | None:
    if not value.get("id"):
        return "returned no batch id"
    if value.get("status") != "loading":
        return f"returned status {value.get('status')!r}, not 'loading'"
    return None


def _empty(value: Any) -> str | None:
    # A 200 with an empty body (the documented answer) is what aepp returns as {}.
    return None if value == {} else f"returned {str(value)[:300]!r}, not the empty 200 answer"


def _two_accepted(value: Any) -> str | None:
    responses = value.get("responses")
    if not isinstance(responses, list) or len(responses) != 2:
        return f"returned {str(responses)[:300]!r}, not two responses"
    refused = [r for r in responses if not (isinstance(r, dict) and r.get("xactionId"))]
    return f"refused {len(refused)} of 2 messages: {str(refused)[:300]!r}" if refused else None


def _profile_found(value: Any) -> str | None:
    if len(value) != 1:
        return f"returned {len(value)} profiles, not 1"
    [entry] = value.values()
    if not isinstance(entry, dict) or PHONE not in json.dumps(entry.get("entity")):
        return "returned a profile without the phone number"
    return None


STEPS: dict[str, Callable[[Any], str | None]] = {
    "createBatch": _batch_created,
    "uploadSmallFile": _empty,
    "uploadSmallFileFinish": _empty,
    "streamMessages": _two_accepted,
    "getEntity": _profile_found,
}


def step_problems(steps: dict[str, Any]) -> list[str]:
    """One line per aepp step whose return value shows a failure (a missing step is a failure too)."""
    problems = []
    for name, check in STEPS.items():
        if name not in steps:
            problems.append(f"{name}: never ran")
            continue
        problem = _no_error(steps[name]) or check(steps[name])
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


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
            print("FAIL aepp stopped with an exception (above)", file=sys.stderr)
            return 1
        steps = json.loads(done.stdout.strip().splitlines()[-1])["steps"]
        problems = step_problems(steps)
        created = steps.get("createBatch")
        batch = emu.state.batches.get(str(created.get("id"))) if isinstance(created, dict) else None
        profile = emu.state.profiles.profile("Phone", PHONE)
        checks = {
            "batch processed to success": batch is not None
            and batch.status == "success"
            and batch.metrics["outputRecordCount"] == 3,
            "emulator profile holds 5 events": profile is not None
            and len(emu.state.profiles.events("Phone", PHONE)) == 5,
        }
        paths = sorted({f"{r['method']} {r['route']} {r['status']}" for r in emu.state.log})
    for name in STEPS:
        failed = [p for p in problems if p.startswith(f"{name}:")]
        print(f"FAIL {failed[0]}" if failed else f"ok   {name}")
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    print("requests aepp made:", ", ".join(paths))
    return 0 if not problems and all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
