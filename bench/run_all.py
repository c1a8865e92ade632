"""``make bench``: every scenario in turn, progress shown, results in bench/results/ (untracked) and a
markdown table in bench/results/summary.md. About 5 minutes on a 2-core machine shared with other work.

Steps (each a child process; its own figures in bench/results/<name>.json): preparation CPU, streaming
against the sink beside aepp / one request per record / the ceiling, the deployed shape, the token cache
under 50 workers, the emulator's request rate and the streaming function on the emulator, the lookup,
the batch function (``BENCH_BATCH_SIZES``, default 10MB,100MB,1GB, as ``make bench-batch``).
``BENCH_ONLY=prep,stream`` runs some steps (the summary then shows what earlier runs left).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHONPATH = ["layers/aep", "local", "functions/stream_ingest", "functions/profile_lookup", "."]

SIZES = "10MB,100MB,1GB"
#: (name, script, extra environment, seconds it takes on this machine, roughly)
STEPS: list[tuple[str, str, dict[str, str], int]] = [
    ("prep", "prep_bench.py", {}, 10),
    ("stream", "stream_peers.py", {"BENCH_REPEATS": "5"}, 30),
    ("stream_8", "stream_peers.py", {"BENCH_IN_FLIGHT": "8", "BENCH_REPEATS": "5"}, 30),
    ("deployed", "deployed_bench.py", {}, 50),
    ("token", "token_bench.py", {}, 15),
    ("emulator", "emulator_rate.py", {}, 15),
    ("stream_emulator", "stream_bench.py", {}, 20),
    ("lookup", "lookup_bench.py", {}, 15),
    ("validate", "validate_bench.py", {}, 15),
    ("batch", "batch_bench.py", {"BENCH_BATCH_SIZES": os.environ.get("BENCH_BATCH_SIZES", SIZES)}, 150),
]


def main() -> int:
    only = {name for name in os.environ.get("BENCH_ONLY", "").split(",") if name}
    steps = [step for step in STEPS if not only or step[0] in only]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in PYTHONPATH)}
    total = sum(seconds for *_, seconds in steps)
    print(f"make bench: {len(steps)} steps, about {total // 60} min {total % 60} s on 2 cores", flush=True)
    started = time.monotonic()
    failed = []
    for number, (name, script, extra, seconds) in enumerate(steps, 1):
        print(f"[{number}/{len(steps)}] {name} ({script}, about {seconds} s) ...", flush=True)
        step_started = time.monotonic()
        command = [sys.executable, str(HERE / script)]
        done = subprocess.run(command, env={**env, **extra}, cwd=ROOT, check=False)
        elapsed = time.monotonic() - step_started
        verdict = "done" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        print(f"[{number}/{len(steps)}] {name} {verdict} in {elapsed:.0f} s", flush=True)
        if done.returncode != 0:
            failed.append(name)
    from bench.summary import write_summary  # noqa: PLC0415 - after the steps wrote their results

    path = write_summary(time.monotonic() - started)
    print(path.read_text())
    print(f"make bench: {time.monotonic() - started:.0f} s; results in bench/results/, table in {path.name}")
    if failed:
        print(f"failed steps: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
