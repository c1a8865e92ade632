"""`make demo` tells the story and nothing else: run local/demo.py as `make demo` does and read its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.template import ROOT

pytestmark = pytest.mark.integration

STORY = [
    "1. Caller profiles by batch ingestion (NDJSON file -> batch -> COMPLETE -> Catalog status)",
    "2. Call history through the SQS streaming function (handler invoked as Lambda would)",
    "   (415) 555-0100 (default region US): 5 records in, 0 to retry",
    "   020 7183 8750 (default region GB): 4 records in, 0 to retry",
    "   01 42 68 53 00 (default region FR): 4 records in, 0 to retry",
    "   dead-lettered, original body kept, reason: identityMap.Phone.0.id: "
    "phone number has characters other than digits, spaces and + ( ) - . /",
    "   AEP accepted 12 call events",
    "3. A caller rings again: the IVR looks up the unified profile by phone number",
    "demo OK",
]


def _demo_environment() -> dict[str, str]:
    """What a shell that types `make demo` has: no test-suite Powertools, AEP or stream settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POWERTOOLS_", "AEP_", "STREAM_", "AWS_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(
        str(ROOT / part) for part in ("layers/aep", "local", "functions/stream_ingest")
    )
    return env


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter and the repository's own script
        [sys.executable, str(ROOT / "local" / "demo.py")],
        cwd=ROOT,
        env=_demo_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_succeeds_and_tells_the_whole_story(demo):
    lines = demo.stdout.splitlines()

    assert demo.returncode == 0, demo.stdout + demo.stderr
    for expected in STORY:
        assert expected in lines
    assert lines[-1] == "demo OK"
    greetings = [line for line in lines if line.startswith("   profile ")]
    assert [line.split(": greet ")[1].split(" ")[0] for line in greetings] == ["'Ada'", "'Grace'", "'Linus'"]


def test_demo_output_holds_no_log_lines(demo):
    stdout_lines = [line for line in demo.stdout.splitlines() if line.strip()]

    assert [line for line in stdout_lines if line.lstrip().startswith("{") or _is_json(line)] == []
    assert demo.stderr == ""
