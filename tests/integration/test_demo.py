"""`make demo` tells the story and nothing else: run local/demo.py as `make demo` does and read its output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.support.template import ROOT

pytestmark = pytest.mark.integration

ORG_A = "EMULATOR0000000000000000@AdobeOrg"  # sandbox.default.json: the default tenant's org
ORG_B = "EMULATORB000000000000000@AdobeOrg"  # sandbox.brand-b.json: brand B's org

TWO_BRANDS_TITLE = (
    "4. Two brands on one deployment (brand B: its own AEP org, secrets, queue and registry item)"
)
STORY = [
    "1. Caller profiles by batch ingestion (NDJSON file -> batch -> COMPLETE -> Catalog status)",
    "2. Call history through the SQS streaming function (handler invoked as Lambda would)",
    "   (415) 555-0100 (default region US): 5 records in, 0 to retry",
    "   020 7946 0123 (default region GB): 4 records in, 0 to retry",
    "   01 99 00 12 34 (default region FR): 4 records in, 0 to retry",
    "   dead-lettered, original body kept, reason: identityMap.Phone.0.id: "
    "phone number has characters other than digits, spaces and + ( ) - . /",
    "   AEP accepted 12 call events",
    "3. A caller rings again: the IVR looks up the unified profile by phone number",
    TWO_BRANDS_TITLE,
    "demo OK",
]
# Step 4 after the CLI's command line, every line but the batch id (which carries a time stamp).
TWO_BRANDS = [
    "   added tenant 'brand-b' (version 1); its secrets are readable only by 1 role(s) of stack "
    "'aep-connector-demo'",
    "   brand B's caller profiles by batch, with its client: batch <id>: success, 2 records",
    "   one SQS batch of 8 records, both brands mixed, same handler: 0 to retry",
    f"   default tenant: 3 records in, AEP accepted 3 in org {ORG_A}",
    f"   tenant brand-b: 5 records in, AEP accepted 4 in org {ORG_B}",
    "   dead-lettered, tenant brand-b, reason: queue aep-connector-stream may not carry records of tenant "
    "'brand-b'",
    "   the IVR looks each caller up in both orgs (the default client; brand B's client):",
    "   +1 415-555-0100: default org: greet 'caller 1' (gold), 5 past calls; brand B's org: no profile",
    "   +44 20 7946 0123: default org: greet 'caller 2' (silver), 5 past calls; brand B's org: no profile",
    "   +33 1 99 00 12 34: default org: greet 'caller 3' (silver), 5 past calls; brand B's org: no profile",
    "   +44 20 7946 0456: default org: no profile; brand B's org: greet 'caller B1' (gold), 2 past calls",
    "   +1 415-555-0142: default org: no profile; brand B's org: greet 'caller B2' (bronze), 2 past calls",
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


def _step(lines: list[str], title: str) -> list[str]:
    """The lines of one step: after its title, up to the next blank line."""
    start = lines.index(title) + 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start:end]


def _batch_id_hidden(line: str) -> str:
    return re.sub(r"batch \w+:", "batch <id>:", line)


def test_demo_succeeds_and_tells_the_whole_story(demo):
    lines = demo.stdout.splitlines()

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert [line for line in lines if line in STORY] == STORY  # each once, in this order
    assert lines[-1] == "demo OK"
    greetings = [line for line in lines if line.startswith("   profile ")]
    assert [re.findall(r": greet ('[^']*')", line) for line in greetings] == [
        ["'caller 1'"],
        ["'caller 2'"],
        ["'caller 3'"],
    ]


def test_two_brands_each_caller_found_in_its_own_brands_org_only(demo):
    step = _step(demo.stdout.splitlines(), TWO_BRANDS_TITLE)
    command = [line for line in step if line.startswith(("   $ python -m aep.tenants add", "       --"))]
    told = [_batch_id_hidden(line) for line in step[len(command) + 1 :]]

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert step[0].startswith("   on moto: registry table ")
    assert command[0].startswith("   $ python -m aep.tenants add ")
    shown = " ".join(line.rstrip(" \\").strip() for line in command)
    for flag in (
        "--tenant-id brand-b",
        f"--org-id {ORG_B}",
        "--credentials-secret aep/brand-b/credentials",
        "--token-secret aep/brand-b/token",
        "--default-phone-region GB",
        "--source-queue arn:aws:sqs:us-east-1:123456789012:aep-brand-b",
    ):
        assert flag in shown
    assert told == TWO_BRANDS


def test_demo_output_holds_no_log_lines(demo):
    stdout_lines = [line for line in demo.stdout.splitlines() if line.strip()]

    assert [line for line in stdout_lines if line.lstrip().startswith("{") or _is_json(line)] == []
    assert demo.stderr == ""


def _readme_excerpt() -> list[str]:
    """The demo output the README quick start shows: its fenced block that starts with step 4's title."""
    text = (ROOT / "README.md").read_text()
    opening = f"\n```\n{TWO_BRANDS_TITLE}\n"
    assert text.count(opening) == 1
    block = text.split(opening, 1)[1].split("\n```\n", 1)[0]
    return [TWO_BRANDS_TITLE] + [line for line in block.splitlines() if line.strip() != "..."]


def test_the_readme_shows_lines_the_demo_prints_in_their_order(demo):
    lines = demo.stdout.splitlines()
    excerpt = _readme_excerpt()

    assert len(excerpt) >= 5
    assert [line for line in lines if line in excerpt] == excerpt
