"""The streaming benchmark's function run, small, end to end: the real handler through bench/streamkit.py
against bench/stream_sink.py (its own process). A run in which the function sends nothing (records sent back
to the queue, a schema it cannot fetch, a module gone) must fail here, not publish figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json
from bench import streamkit
with streamkit.sink(latency_ms=5) as url:
    with streamkit.streaming_function(url, 4) as handler:
        bodies = streamkit.call_events(300, "national")
        answer = handler(streamkit.sqs_event(bodies), streamkit.context())
        counters = streamkit.sink_counters(url)
print(json.dumps({"failures": answer["batchItemFailures"], "sink": counters}))
"""


def test_the_benchmark_s_function_sends_every_record_to_the_sink():
    paths = ["layers/aep", "local", "functions/stream_ingest", "functions/profile_lookup", "."]
    own = ("AWS_", "POWERTOOLS_", "STREAM_", "AEP_")  # the run sets its own
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in paths)
    command = [sys.executable, "-c", SCRIPT]
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failures"] == []
    assert result["sink"]["messages"] == 300
    assert result["sink"]["requests"].get("schema") == 1  # records checked against the schema the sink serves
