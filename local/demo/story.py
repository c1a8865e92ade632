"""The story, step by step, and ``main``: the whole product on one machine (:mod:`stack`), driven as a
partner would drive the deployed one. Each expectation that fails is a problem; any problem makes the demo
exit non-zero with its reasons. Everything the demo started is stopped before it exits (Ctrl-C too)."""

from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass, field

from aep.logs import protect_logs
from demo.cast import say
from demo.files import Outcome, drop_files
from demo.lookup import Answer, look_up
from demo.stream import stream_calls
from stack import LocalStack, Options

#: The template's parameters the demo overrides, as ``sam deploy --parameter-overrides`` would: files
#: dropped together are gathered for 1 s instead of 60; the functions log warnings only.
DEMO_PARAMETERS = {"BatchBatchingWindowSeconds": "1", "LogLevel": "WARNING"}
#: The follow-up's schedule (the template's: every 5 minutes) in the demo.
FOLLOW_EVERY_SECONDS = 1.0
STEPS = {
    "start": "0. The stack: moto's server, the AEP emulator (an empty sandbox), setup, template.yaml",
    "files": (
        "1. Caller profiles and call history as files (S3 -> SQS -> batch function -> follow-up -> report)"
    ),
    "stream": (
        "2. Live call events through the SQS queue (poller -> streaming function -> AEP, rejects -> DLQ)"
    ),
    "lookup": "3. A caller rings again: the IVR asks the lookup API over HTTP (API Gateway's REST event)",
}


@dataclass
class Tally:
    """What the summary reports."""

    files: list[Outcome] = field(default_factory=list)
    sent: int = 0
    streamed: int = 0
    dead_letters: int = 0
    lookups: list[Answer] = field(default_factory=list)


def summary(tally: Tally) -> list[str]:
    """The story in a few lines: records in, batches, events streamed, rejects, lookup latency."""
    batches = [f"batch {f.batch_id}: {f.status}" for f in tally.files if f.batch_id]
    refused_files = sum(f.status == "refused" for f in tally.files)
    read, sent = sum(f.read for f in tally.files), sum(f.sent for f in tally.files)
    rows = sum(f.refused for f in tally.files)
    misses = [a.latency_ms for a in tally.lookups if a.status == 200 and not a.body["cached"]]
    hits = [a.latency_ms for a in tally.lookups if a.status == 200 and a.body["cached"]]
    # the first request of a container builds its runtime (settings, the secrets read): told apart
    latency = (
        f"{misses[0]:.1f} ms the first (builds its runtime), {min(misses[1:]):.1f}-{max(misses[1:]):.1f} ms "
        f"from AEP, {min(hits):.1f} ms from the cache"
        if len(misses) > 1 and hits
        else "too few answers to tell"
    )
    return [
        "Summary:",
        f"   records in: {read} from {len(tally.files)} files, {tally.sent} messages on the queue",
        f"   batches: {', '.join(batches) or 'none'}",
        f"   events streamed: {tally.streamed}",
        f"   rejects: {refused_files} file refused, {rows} row refused, "
        f"{tally.dead_letters} message dead-lettered",
        f"   batch records: read {read}, sent {sent}, refused {rows}",
        f"   lookup latency over HTTP: {latency}",
    ]


def story(stack: LocalStack, problems: list[str], tally: Tally) -> None:
    tenant = str(stack.setup_outputs["tenantId"])
    say(f"\n{STEPS['files']}")
    tally.files = drop_files(stack, tenant, problems)
    say(f"\n{STEPS['stream']}")
    tally.sent, tally.streamed, tally.dead_letters = stream_calls(stack, tenant, problems)
    say(f"\n{STEPS['lookup']}")
    assert stack.api is not None
    stage = next(iter(stack.api.stages))
    tally.lookups = look_up(stack.api.url, stage, problems)


def main(function_logs: io.TextIOBase | None = None) -> int:
    protect_logs()
    started = time.perf_counter()
    problems: list[str] = []
    tally = Tally()
    say(STEPS["start"])
    options = Options(
        parameters=DEMO_PARAMETERS,
        schedule_seconds=FOLLOW_EVERY_SECONDS,
        function_logs=function_logs or sys.stderr,  # type: ignore[arg-type]
    )
    for name, value in DEMO_PARAMETERS.items():
        say(f"   parameter override: {name}={value}")
    try:
        with LocalStack(options, say=say) as stack:
            say(f"   up in {stack.timings['start']:.1f} s")
            story(stack, problems, tally)
            say("")
            for line in summary(tally):
                say(line)
            assert stack.emulator is not None
            say(
                f"   IMS token requests: {len(stack.emulator.state.tokens)}; "
                f"AEP requests served: {stack.emulator.state.counters['requests']}"
            )
            errors = [e for p in stack.pollers for e in p.counts.errors]
            errors += [e for s in stack.schedulers for e in s.counts.errors]
            problems += [f"a function failed: {e}" for e in errors]
    except KeyboardInterrupt:
        say("demo interrupted: everything it started is stopped")
        return 130
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    say(f"   stopped; {time.perf_counter() - started:.1f} s in all")
    if problems:
        say(f"demo FAILED: {'; '.join(problems)}")
        return 1
    say("demo OK")
    return 0
