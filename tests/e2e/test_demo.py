"""`make demo` runs the whole product on one machine and tells the story: run ``python -m demo`` as
`make demo` does and read its output. It must start from an empty sandbox, apply setup, create the
template's resources, take the files, messages and lookups through the real handlers as Lambda and API
Gateway would invoke them, sum up, and stop everything it started."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.e2e.processes import run
from tests.support.template import ROOT

pytestmark = pytest.mark.integration

START_TITLE = "0. The stack: moto's server, the AEP emulator (an empty sandbox), setup, template.yaml"
FILES_TITLE = (
    "1. Caller profiles and call history as files (S3 -> SQS -> batch function -> follow-up -> report)"
)
STREAM_TITLE = (
    "2. Live call events through the SQS queue (poller -> streaming function -> AEP, rejects -> DLQ)"
)
LOOKUP_TITLE = "3. A caller rings again: the IVR asks the lookup API over HTTP (API Gateway's REST event)"
PHONE_REFUSED = "_acme.phone: phone number has characters other than digits, spaces and + ( ) - . /"
BUCKET = "aep-batch-drop-local-aep-connector-local"
# Step 1, batch ids and the numbers that depend on timing hidden.
FILES = [
    f"   dropped s3://{BUCKET}/callers/2026-11-29.csv (151 bytes)",
    f"   dropped s3://{BUCKET}/calls/2026-11-28.ndjson.gz (<n> bytes)",
    f"   dropped s3://{BUCKET}/callers/branch-export.csv (56 bytes)",
    "   batch function: <n> invocation(s) by the batch queue's poller, <n> messages (S3's notifications: "
    "the files', its test event's, the reports')",
    "   follow-up: <n> scheduled run(s) until every file had its report under _reports/",
    "   callers/2026-11-29.csv: batch <id>, partial; records read 4, sent 3, refused 1",
    f"      row refused: line 3: {PHONE_REFUSED}",
    "   calls/2026-11-28.ndjson.gz: batch <id>, success; records read 6, sent 6, refused 0",
    "   callers/branch-export.csv: no batch, refused; records read 0, sent 0, refused 0",
    "      file refused: the file is not UTF-8: an invalid byte sequence at byte 52",
]
STREAM = [
    "   4 call events of (415) 555-0100 (as a US number is written in the US)",
    "   4 call events of +44 20 7946 0123 (as a GB number is written in the US)",
    "   4 call events of +33 1 99 00 12 34 (as a FR number is written in the US)",
    "   1 call event whose phone is 'call me back'",
    "   sent 13 messages to aep-connector-local-StreamQueue",
    "   streaming function: <n> invocation(s), 0 record(s) sent back to retry",
    f"   dead-lettered, original body kept, reason: {PHONE_REFUSED}",
    "   AEP accepted 12 call events in dataset <dataset>",
]
FIELDS = "?fields=person.name.firstName,_acme.tier,_acme.phone"
LOOKUPS = [
    f"   GET /v1/profiles/Phone/%28415%29%20555-0100{FIELDS}",
    "      200 in <t> ms: profile <id>, greet 'caller 1' (gold), cached: false",
    "      the unified profile: <json>",
    "   GET /v1/profiles/Phone/%28415%29%20555-0100/events?limit=20",
    "      200 in <t> ms: 6 past calls",
    f"   GET /v1/profiles/Phone/%2B44%2020%207946%200123{FIELDS}",
    "      200 in <t> ms: profile <id>, greet 'caller 2' (silver), cached: false",
    f"   GET /v1/profiles/Phone/%2B33%201%2099%2000%2012%2034{FIELDS}",
    "      200 in <t> ms: profile <id>, greet 'caller 3' (silver), cached: false",
    "   the same caller rings again moments later:",
    f"   GET /v1/profiles/Phone/%28415%29%20555-0100{FIELDS}",
    "      200 in <t> ms: profile <id>, greet 'caller 1' (gold), cached: true",
]
SUMMARY = [
    "Summary:",
    "   records in: 10 from 3 files, 13 messages on the queue",
    "   batches: batch <id>: partial, batch <id>: success",
    "   events streamed: 12",
    "   rejects: 1 file refused, 1 row refused, 1 message dead-lettered",
    "   batch records: read 10, sent 9, refused 1",
    "   lookup latency over HTTP: <t> ms the first (builds its runtime), <t>-<t> ms from AEP, "
    "<t> ms from the cache",
]


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    return run("-m", "demo")


def _step(lines: list[str], title: str) -> list[str]:
    """The lines of one step: after its title, up to the next blank line."""
    start = lines.index(title) + 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start:end]


def _varying_hidden(line: str) -> str:
    """Ids, latencies, a gzip's size and the counts that depend on timing."""
    line = re.sub(r"batch [0-9A-Z]{20,}([:,])", r"batch <id>\1", line)
    line = re.sub(r"profile [\w-]+,", "profile <id>,", line)
    line = re.sub(r"\d+\.\d-\d+\.\d ms", "<t>-<t> ms", line)
    line = re.sub(r"\d+\.\d ms", "<t> ms", line)
    line = re.sub(r"ndjson\.gz \(\d+ bytes\)", "ndjson.gz (<n> bytes)", line)
    line = re.sub(r"in dataset [0-9a-f]{24}$", "in dataset <dataset>", line)
    line = re.sub(r"the unified profile: .*", "the unified profile: <json>", line)
    line = re.sub(r"(function|follow-up): \d+ ", r"\1: <n> ", line)
    return re.sub(r"poller, \d+ messages", "poller, <n> messages", line)


def test_demo_succeeds_and_tells_the_whole_story_in_order(demo):
    lines = demo.stdout.splitlines()
    titles = [START_TITLE, FILES_TITLE, STREAM_TITLE, LOOKUP_TITLE, "Summary:"]

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert [line for line in lines if line in titles] == titles
    assert lines[-1] == "demo OK"
    assert re.fullmatch(r"   stopped; \d+\.\d s in all", lines[-2])


def test_the_stack_starts_from_an_empty_sandbox_and_applies_setup_before_the_functions_start(demo):
    step = _step(demo.stdout.splitlines(), START_TITLE)
    text = "\n".join(step)

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "(sandbox.empty.json: no schema, dataset or inlet yet)" in text
    assert "   setup: python -m aep.setup apply setup/callcenter.yaml" in step
    assert "      15 change(s) applied" in step
    assert text.index("15 change(s) applied") < text.index("AWS resources from template.yaml")
    assert text.index("AWS resources from template.yaml") < text.index("function StreamIngestFunction")


def test_the_aws_resources_are_the_templates(demo):
    step = _step(demo.stdout.splitlines(), START_TITLE)
    queues = next(line for line in step if line.startswith("      SQS::Queue: ")).split(": ", 1)[1]
    buckets = next(line for line in step if line.startswith("      S3::Bucket: ")).split(": ", 1)[1]
    tables = next(line for line in step if line.startswith("      DynamoDB::Table: ")).split(": ", 1)[1]
    functions = [re.match(r"   function (\w+) ", line) for line in step]

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert sorted(queues.split(", ")) == sorted(
        f"aep-connector-local-{name}"
        for name in ("StreamDeadLetterQueue", "StreamQueue", "BatchDeadLetterQueue", "BatchQueue")
    )
    assert BUCKET in buckets.split(", ")  # named as the template names it, from the stack id
    assert "aep-connector-local-BatchLedgerTable" in tables.split(", ")
    assert {m.group(1) for m in functions if m} >= {
        "StreamIngestFunction",
        "BatchIngestFunction",
        "BatchFollowFunction",
        "ProfileLookupFunction",
    }
    assert (
        "      SQS aep-connector-local-BatchQueue -> BatchIngestFunction: batches of up to 100, window 1 s"
        in step
    )
    assert (
        "      SQS aep-connector-local-StreamQueue -> StreamIngestFunction: batches of up to 100, window 1 s"
        in step
    )


def test_files_dropped_in_the_bucket_end_in_reports_with_batches_and_reasons(demo):
    step = _step(demo.stdout.splitlines(), FILES_TITLE)
    batches = re.findall(r"batch (\w+),", "\n".join(step))

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert [_varying_hidden(line) for line in step] == FILES
    assert len(set(batches)) == 2  # the profiles and the call events: a batch per dataset


def test_call_events_are_streamed_and_the_bad_one_is_dead_lettered_with_its_reason(demo):
    step = _step(demo.stdout.splitlines(), STREAM_TITLE)

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert [_varying_hidden(line) for line in step] == STREAM


def test_the_ivr_looks_callers_up_over_http_and_gets_the_unified_profile(demo):
    step = _step(demo.stdout.splitlines(), LOOKUP_TITLE)
    profiles = re.findall(r"profile ([\w-]+),", "\n".join(step))
    unified = json.loads(step[2].split("the unified profile: ", 1)[1])

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert [_varying_hidden(line) for line in step] == LOOKUPS
    assert unified == {
        "attributes": {
            "_acme": {"phone": "+14155550100", "tier": "gold"},  # dialled nationally, stored in E.164
            "person": {"name": {"firstName": "caller 1"}},
        },
        "identities": [{"id": "+14155550100", "namespace": "Phone"}],
    }
    assert len(set(profiles[:3])) == 3
    assert profiles[3] == profiles[0]  # the same caller again: the same profile, from the cache


def test_the_summary_counts_records_batches_events_rejects_and_lookup_latency(demo):
    lines = demo.stdout.splitlines()
    summary = lines[lines.index("Summary:") : lines.index("Summary:") + len(SUMMARY)]
    files = _step(lines, FILES_TITLE)

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert [_varying_hidden(line) for line in summary] == SUMMARY
    assert re.findall(r"batch (\w+):", summary[2]) == re.findall(r"batch (\w+),", "\n".join(files))


def test_demo_output_holds_no_log_lines_and_its_functions_logged_no_warning(demo):
    lines = [line for line in demo.stdout.splitlines() if line.strip()]

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert [line for line in lines if line.lstrip().startswith('{"')] == []
    assert demo.stderr == ""


def test_the_demo_stops_everything_and_fails_with_the_reason_when_a_step_breaks():
    # The story's first step raises once the whole stack is up: the demo must say why, exit 1, and end its
    # function containers (they share its stderr: one left running would keep this call from returning).
    broken = (
        "import demo.story as d\n"
        "def story(stack, problems, tally):\n"
        "    raise RuntimeError('the drop bucket is gone')\n"
        "d.story = story\n"
        "raise SystemExit(d.main())\n"
    )
    failed = run("-c", broken, timeout=90)
    lines = failed.stdout.splitlines()

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert lines[-1] == "demo FAILED: RuntimeError: the drop bucket is gone"
    assert any(line.startswith("   up in ") for line in lines)
    assert "demo OK" not in lines


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
    assert [line for line in lines if line in excerpt] == excerpt
