"""CPU time per record of the streaming function's preparation, against a plain JSON parse and encode.

On the same 10,000 call-event bodies (SQS bodies as they arrive), CPU time (``process_time``) per record of:
* plain: ``json.dumps(json.loads(body))``, the least any client does with a record;
* prepare, E.164 phones: :func:`stream_ingest.records.prepare` (strict parse, clean, validate, normalise,
  deterministic ``_id``, encode), every caller distinct (the phone cache never hits); and the same with the
  E.164 fast path switched off (what it saves);
* prepare, national phones (``(415) 555-0123``), every caller distinct; the share of it spent in
  libphonenumber (normalising the same numbers alone);
* prepare, national phones from 500 recurring callers, with the per-container phone cache and without it.
The collector is paused during each pass, as the function pauses it. Passes alternate, ``BENCH_PREP_PASSES``
times (median). Results: bench/results/prep_bench.json.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aep import normalize
from bench import streamkit
from bench.report import publish
from stream_ingest.records import Prepared, Target, prepare
from stream_ingest.settings import StreamSettings

RECORDS = int(os.environ.get("BENCH_PREP_RECORDS", "10000"))
PASSES = int(os.environ.get("BENCH_PREP_PASSES", "5"))
CALLERS = 500


def cpu_per_record(work: Callable[[], Any], count: int) -> float:
    """Microseconds of CPU per record of one pass of ``work``, the collector paused, the phone cache cold."""
    normalize.normalize_phone.cache_clear()
    gc.disable()
    try:
        started = time.process_time()
        work()
        return (time.process_time() - started) / count * 1e6
    finally:
        gc.enable()


def main() -> int:
    settings = StreamSettings.from_env(streamkit.function_environment("http://127.0.0.1:9", 4))
    target = Target(streamkit.INLET, streamkit.DATASET, streamkit.SCHEMA, streamkit.FLOW, streamkit.ORG)
    now = datetime.now(UTC)
    e164 = streamkit.call_events(RECORDS, "e164")
    national = streamkit.call_events(RECORDS, "national")
    recurring = streamkit.call_events(RECORDS, "national", callers=CALLERS)
    national_phones = [json.loads(body)["identityMap"]["Phone"][0]["id"] for body in national]

    def plain(bodies: list[str]) -> Callable[[], Any]:
        return lambda: [json.dumps(json.loads(body)) for body in bodies]

    def prepared(bodies: list[str]) -> Callable[[], Any]:
        def run() -> None:
            for n, body in enumerate(bodies):
                out = prepare(f"m{n}", body, group=None, settings=settings, target=target, now=now)
                assert isinstance(out, Prepared)

        return run

    cached = normalize.normalize_phone
    uncached = normalize._e164
    fast_path = normalize.is_canonical_e164

    def without_fast_path() -> None:
        normalize.is_canonical_e164 = lambda text: False
        try:
            prepared(e164)()
        finally:
            normalize.is_canonical_e164 = fast_path

    def without_cache() -> None:
        normalize.normalize_phone = uncached  # type: ignore[assignment]
        try:
            prepared(recurring)()
        finally:
            normalize.normalize_phone = cached

    runs: dict[str, Callable[[], Any]] = {
        "plain_json": plain(e164),
        "prepare_e164": prepared(e164),
        "prepare_e164_without_fast_path": without_fast_path,
        "prepare_national": prepared(national),
        "libphonenumber_national": lambda: [uncached(phone, "US") for phone in national_phones],
        "prepare_national_recurring_cached": prepared(recurring),
        "prepare_national_recurring_uncached": without_cache,
    }
    prepared(e164[:100])()  # warm: imports, compiled patterns, the country plan
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for n in range(PASSES):
        print(f"  preparation pass {n + 1}/{PASSES}", flush=True)
        for name, work in runs.items():
            samples[name].append(cpu_per_record(work, RECORDS))
    us = {name: round(statistics.median(values), 2) for name, values in samples.items()}
    results: dict[str, Any] = {
        "records": RECORDS,
        "passes": PASSES,
        "recurring_callers": CALLERS,
        "cpu_us_per_record": us,
        "e164_vs_plain": round(us["prepare_e164"] / us["plain_json"], 2),
        "e164_without_fast_path_vs_plain": round(us["prepare_e164_without_fast_path"] / us["plain_json"], 2),
        "national_vs_plain": round(us["prepare_national"] / us["plain_json"], 2),
        "national_libphonenumber_share": round(us["libphonenumber_national"] / us["prepare_national"], 2),
        "recurring_cache_saves_us_per_record": round(
            us["prepare_national_recurring_uncached"] - us["prepare_national_recurring_cached"], 2
        ),
        "samples_us": {name: [round(v, 2) for v in values] for name, values in samples.items()},
    }
    publish("prep_bench", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
