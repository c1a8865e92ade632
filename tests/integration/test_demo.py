"""`make demo` tells the story and nothing else: run the demo (local/demo/) as `make demo` does and read its
output."""

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
FILES_TITLE = (
    "1. Caller profiles and call history as files (S3 -> SQS -> batch function -> follow-up -> report)"
)
LOOKUP_TITLE = (
    "3. A caller rings again: the IVR asks the lookup API (API Gateway's REST event, an IAM caller)"
)
STORY = [
    FILES_TITLE,
    "2. Call history through the SQS streaming function (handler invoked as Lambda would)",
    "   (415) 555-0100 (default region US): 5 records in, 0 to retry",
    "   020 7946 0123 (default region GB): 4 records in, 0 to retry",
    "   01 99 00 12 34 (default region FR): 4 records in, 0 to retry",
    "   dead-lettered, original body kept, reason: identityMap.Phone.0.id: "
    "phone number has characters other than digits, spaces and + ( ) - . /",
    "   AEP accepted 12 call events",
    LOOKUP_TITLE,
    TWO_BRANDS_TITLE,
    "Summary:",
    "demo OK",
]
# Step 1 after the resources and routes, batch ids hidden (they carry a time stamp).
FILES = [
    "   dropped s3://aep-connector-demo-drop/callers/2026-11-29.csv (151 bytes)",
    "   dropped s3://aep-connector-demo-drop/calls/2026-11-28.ndjson.gz (<n> bytes)",
    "   dropped s3://aep-connector-demo-drop/callers/branch-export.csv (56 bytes)",
    "   batch function: one SQS event of 3 S3 notifications, 0 to retry",
    "   follow-up: <n> scheduled runs until every file had its report under _reports/",
    "   callers/2026-11-29.csv: batch <id>, partial; records read 4, sent 3, refused 1",
    "      row refused: line 3: identityMap.Phone.0.id: "
    "phone number has characters other than digits, spaces and + ( ) - . /",
    "   calls/2026-11-28.ndjson.gz: batch <id>, success; records read 6, sent 6, refused 0",
    "   callers/branch-export.csv: no batch, refused; records read 0, sent 0, refused 0",
    "      file refused: the file is not UTF-8: an invalid byte sequence at byte 52",
]
# Step 3, profile ids and latencies hidden: three callers as dialled in the US, then the first again.
FIELDS = "?fields=person.name.firstName,_acme.tier"
LOOKUPS = [
    f"   GET /v1/profiles/Phone/%28415%29%20555-0100{FIELDS}",
    "      200 in <t> ms: profile <id>, greet 'caller 1' (gold), cached: false",
    f"   GET /v1/profiles/Phone/%2B44%2020%207946%200123{FIELDS}",
    "      200 in <t> ms: profile <id>, greet 'caller 2' (silver), cached: false",
    f"   GET /v1/profiles/Phone/%2B33%201%2099%2000%2012%2034{FIELDS}",
    "      200 in <t> ms: profile <id>, greet 'caller 3' (silver), cached: false",
    "   the same caller rings again moments later:",
    f"   GET /v1/profiles/Phone/%28415%29%20555-0100{FIELDS}",
    "      200 in <t> ms: profile <id>, greet 'caller 1' (gold), cached: true",
]
SUMMARY = [
    "   files in: 3; batch <id>: partial, batch <id>: success; 1 file refused",
    "   batch records: read 10, sent 9, refused 1",
    "   events streamed: 19; rejects: 2 dead-lettered",
    "   lookup latency (the handler's): <t> ms the first (builds its runtime), <t>-<t> ms from AEP, "
    "<t> ms from the cache",
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
    # 2 past calls from the call-history file, 4 streamed in step 2, 1 in the mixed batch
    "   +1 415-555-0100: default org: greet 'caller 1' (gold), 7 past calls; brand B's org: no profile",
    "   +44 20 7946 0123: default org: greet 'caller 2' (silver), 7 past calls; brand B's org: no profile",
    "   +33 1 99 00 12 34: default org: greet 'caller 3' (silver), 7 past calls; brand B's org: no profile",
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
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / part) for part in ("layers/aep", "local"))
    return env


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    """This interpreter with the repository's demo package, in the environment `make demo` has."""
    return subprocess.run(  # noqa: S603 - this interpreter, the repository's own code
        [sys.executable, *arguments],
        cwd=ROOT,
        env=_demo_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    return _run("-m", "demo")


def test_the_demo_fails_with_its_reasons_when_an_expectation_does_not_hold():
    # One scheduled run of the follow-up only: the emulator still answers `staging` for both batches (as
    # AEP does for a while), so neither file has its report; the refused file has had its own at once.
    one_run = (
        "import demo.files; demo.files.FOLLOW_RUNS = 1; from demo.story import main; raise SystemExit(main())"
    )
    failed = _run("-c", one_run)
    lines = failed.stdout.splitlines()

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "   follow-up: 1 scheduled run, and still 2 of 3 files without a report" in lines
    assert lines[-1] == (
        "demo FAILED: callers/2026-11-29.csv has no report after 1 follow-up runs; "
        "calls/2026-11-28.ndjson.gz has no report after 1 follow-up runs"
    )
    assert "demo OK" not in lines


def _step(lines: list[str], title: str) -> list[str]:
    """The lines of one step: after its title, up to the next blank line."""
    start = lines.index(title) + 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start:end]


def _batch_id_hidden(line: str) -> str:
    return re.sub(r"batch [0-9A-Z]{20,}([:,])", r"batch <id>\1", line)


def _varying_hidden(line: str) -> str:
    """Batch and profile ids, latencies, a gzip's size and the follow-up's runs: what may vary by run."""
    line = _batch_id_hidden(line)
    line = re.sub(r"profile [\w-]+,", "profile <id>,", line)
    line = re.sub(r"\d+\.\d-\d+\.\d ms", "<t>-<t> ms", line)
    line = re.sub(r"\d+\.\d ms", "<t> ms", line)
    line = re.sub(r"ndjson\.gz \(\d+ bytes\)", "ndjson.gz (<n> bytes)", line)
    return re.sub(r"follow-up: \d+ scheduled runs", "follow-up: <n> scheduled runs", line)


def test_demo_succeeds_and_tells_the_whole_story(demo):
    lines = demo.stdout.splitlines()

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert [line for line in lines if line in STORY] == STORY  # each once, in this order
    assert lines[-1] == "demo OK"


def test_files_dropped_in_the_bucket_end_in_reports_with_batches_and_reasons(demo):
    step = _step(demo.stdout.splitlines(), FILES_TITLE)
    told = [
        _varying_hidden(line)
        for line in step
        if not line.startswith(("   on moto: ", "   the ledger ", "   routes: ", "   calls/ -> "))
    ]
    runs = re.findall(r"follow-up: (\d+) scheduled runs", "\n".join(step))
    batches = re.findall(r"batch (\w+),", "\n".join(step))

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert told == FILES
    assert step[1] == "   the ledger and idempotency tables (their keys and index read from template.yaml)"
    assert 1 <= int(runs[0]) <= 10
    assert len(set(batches)) == 2  # the profiles and the call events: a batch per dataset


def test_the_ivr_looks_callers_up_through_the_lookup_api_and_hits_its_cache(demo):
    step = _step(demo.stdout.splitlines(), LOOKUP_TITLE)
    profiles = re.findall(r"profile ([\w-]+),", "\n".join(step))
    latencies = [float(ms) for ms in re.findall(r"200 in (\d+\.\d) ms", "\n".join(step))]

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert [_varying_hidden(line) for line in step] == LOOKUPS
    assert len(set(profiles[:3])) == 3  # three callers, three profiles
    assert profiles[3] == profiles[0]  # the same caller again: the same profile, from the cache
    assert len(latencies) == 4
    assert all(ms > 0 for ms in latencies)


def test_the_summary_counts_files_batches_events_rejects_and_lookup_latency(demo):
    lines = demo.stdout.splitlines()
    step = lines[lines.index("Summary:") + 1 :]
    files = _step(lines, FILES_TITLE)
    batches = re.findall(r"batch (\w+),", "\n".join(files))

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert [_varying_hidden(line) for line in step[: len(SUMMARY)]] == SUMMARY
    assert re.findall(r"batch (\w+):", step[0]) == batches  # the batches step 1 reported, in its order
    assert step[len(SUMMARY)].startswith("   IMS token requests: ")


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
    """The demo output the README quick start shows: its fenced block that starts with step 1's title,
    without its elisions and blank lines."""
    text = (ROOT / "README.md").read_text()
    opening = f"\n```\n{FILES_TITLE}\n"
    assert text.count(opening) == 1
    block = text.split(opening, 1)[1].split("\n```\n", 1)[0]
    return [FILES_TITLE] + [line for line in block.splitlines() if line.strip() not in {"...", ""}]


def test_the_readme_shows_lines_the_demo_prints_in_their_order(demo):
    excerpt = [_varying_hidden(line) for line in _readme_excerpt()]
    lines = [_varying_hidden(line) for line in demo.stdout.splitlines() if line.strip()]

    assert len(excerpt) >= 20
    assert LOOKUP_TITLE in excerpt
    assert TWO_BRANDS_TITLE in excerpt
    assert [line for line in lines if line in excerpt] == excerpt
