"""The deployed shape: SQS -> Lambda with the template's batch size, batching window and maximum concurrency,
the real handler in worker processes (one per concurrent container), AEP played by the sink (150 ms).

A producer enqueues call events at an offered rate, stamping each; a poller gathers batches as Lambda's
SQS event source does (up to the batch size, or the batching window after the first record it saw) and
hands each to an idle worker, never more than the maximum concurrency at once; a worker invokes
``functions/stream_ingest/app.py``'s handler on the batch. Freshness of a record: from its enqueue to the
end of the invocation that carried it (every AEP answer of the batch is in by then). Runs:
* offered 100 and 1,000 records/s, the template's settings: sustained records/s, p50/p99 freshness;
* capacity (a full queue, drained) for the template's settings and other batch size / concurrency pairs:
  the records/s each pair holds to, whatever the offered load (the table of settings for target rates);
* single-record invocations (the duration one invocation per record would cost).
One simulated poller for the whole queue (Lambda runs several); a worker per container, each with its
own client and token cache. Results: bench/results/deployed_bench.json.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bench import streamkit
from bench.report import publish

SECONDS = float(os.environ.get("BENCH_DEPLOYED_SECONDS", "12"))
CAPACITY_RECORDS = int(os.environ.get("BENCH_CAPACITY_RECORDS", "9000"))
#: (batch size, maximum concurrency) pairs measured for the table of settings, besides the template's.
PAIRS = ((10, 2), (25, 2), (100, 2), (100, 10))


def worker(url: str, in_flight: int, inbox: Any, outbox: Any, index: int) -> None:
    """One Lambda container: the handler, invoked on each batch the poller hands it."""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the handlers' log lines and metrics, not the figures
    with streamkit.streaming_function(url, in_flight) as handler:
        context = streamkit.context()
        warm = streamkit.call_events(5, "e164")
        handler(streamkit.sqs_event(warm, first=10**7 + index * 10), context)
        outbox.put(("ready", index, 0.0, 0.0, [], 0))
        while (job := inbox.get()) is not None:
            records = job
            event = {"Records": [streamkit.sqs_record(mid, body) for mid, body, _ in records]}
            started = time.monotonic()
            answer = handler(event, context)
            ended = time.monotonic()
            freshness = [ended - enqueued for _, _, enqueued in records]
            outbox.put(("done", index, started, ended, freshness, len(answer["batchItemFailures"])))


@dataclass
class Fleet:
    """The worker processes, their inboxes, and which are idle."""

    inboxes: list[Any]
    outbox: Any
    processes: list[Any]
    idle: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def start_fleet(url: str, in_flight: int, size: int) -> Fleet:
    spawn = multiprocessing.get_context("spawn")
    outbox = spawn.Queue()
    inboxes = [spawn.Queue() for _ in range(size)]
    processes = [
        spawn.Process(target=worker, args=(url, in_flight, inboxes[n], outbox, n), daemon=True)
        for n in range(size)
    ]
    for process in processes:
        process.start()
    fleet = Fleet(inboxes, outbox, processes)
    for _ in range(size):
        kind, index, *_ = outbox.get(timeout=180)
        assert kind == "ready"
        fleet.idle.add(index)
    return fleet


@dataclass
class Run:
    started: float = 0.0  # the first record offered
    invocations: list[tuple[float, float, int]] = field(default_factory=list)  # start, end, records
    freshness: list[float] = field(default_factory=list)
    failures: int = 0


def simulate(  # noqa: PLR0915 - the producer, the collector and the poller, side by side
    fleet: Fleet,
    bodies: list[str],
    *,
    rate: float | None,
    batch_size: int,
    window: float,
    concurrency: int,
) -> Run:
    """Offer ``bodies`` at ``rate`` records/s (None: all at once, a full queue) and drain them."""
    queue: deque[tuple[str, str, float]] = deque()
    run = Run()
    total = len(bodies)
    done = threading.Event()
    workers = sorted(fleet.idle)[:concurrency]
    idle = set(workers)
    idle_lock = threading.Condition()

    def produce() -> None:
        started = run.started = time.monotonic()
        if rate is None:
            now = time.monotonic()
            queue.extend((f"r{n}", body, now) for n, body in enumerate(bodies))
            return
        sent = 0
        while sent < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            now = time.monotonic()
            while sent < due:
                queue.append((f"r{sent}", bodies[sent], now))
                sent += 1
            time.sleep(0.005)

    def collect() -> None:
        finished = 0
        while finished < total:
            kind, index, started, ended, freshness, failures = fleet.outbox.get(timeout=120)
            assert kind == "done"
            run.invocations.append((started, ended, len(freshness)))
            run.freshness.extend(freshness)
            run.failures += failures
            finished += len(freshness)
            with idle_lock:
                idle.add(index)
                idle_lock.notify()
        done.set()

    producer = threading.Thread(target=produce, daemon=True)
    collector = threading.Thread(target=collect, daemon=True)
    producer.start()
    collector.start()
    handed = 0
    while handed < total:
        with idle_lock:
            while not idle:
                idle_lock.wait()
            index = idle.pop()
        while not queue:  # the poller waits for a first record
            time.sleep(0.002)
        first_seen = time.monotonic()
        while (
            len(queue) < batch_size
            and time.monotonic() - first_seen < window
            and handed + len(queue) < total  # the last records: no more will come
        ):
            time.sleep(0.002)
        batch = [queue.popleft() for _ in range(min(batch_size, len(queue)))]
        handed += len(batch)
        fleet.inboxes[index].put(batch)
    done.wait(timeout=300)
    producer.join()
    return run


def summary(run: Run, offered: float | None) -> dict[str, Any]:
    first = run.started
    last = max(end for _, end, _ in run.invocations)
    records = sum(count for _, _, count in run.invocations)
    fresh = sorted(run.freshness)
    durations = [end - start for start, end, _ in run.invocations]
    return {
        "offered_records_per_s": offered,
        "records": records,
        "sustained_records_per_s": round(records / (last - first)),
        "invocations": len(run.invocations),
        "mean_batch": round(records / len(run.invocations), 1),
        "mean_invocation_s": round(statistics.mean(durations), 4),
        "p50_freshness_s": round(fresh[len(fresh) // 2], 3),
        "p99_freshness_s": round(fresh[min(len(fresh) - 1, int(len(fresh) * 0.99))], 3),
        "retried": run.failures,
    }


def main() -> int:
    shape = streamkit.template_settings()
    largest = max(shape.max_concurrency, *(c for _, c in PAIRS))
    with streamkit.sink() as url:
        print(f"  starting {largest} worker processes (one per container)", flush=True)
        fleet = start_fleet(url, shape.requests_in_flight, largest)
        results: dict[str, Any] = {"template": shape.__dict__, "runs": {}, "capacity": []}
        for rate in (100, 1000):
            print(f"  offered {rate} records/s for {SECONDS:.0f} s, template settings", flush=True)
            bodies = streamkit.call_events(int(rate * SECONDS), "e164")
            run = simulate(
                fleet,
                bodies,
                rate=rate,
                batch_size=shape.batch_size,
                window=shape.batching_window_s,
                concurrency=shape.max_concurrency,
            )
            results["runs"][str(rate)] = summary(run, rate)
        bodies = streamkit.call_events(CAPACITY_RECORDS, "e164")
        for batch_size, concurrency in ((shape.batch_size, shape.max_concurrency), *PAIRS):
            print(f"  capacity: batch size {batch_size}, maximum concurrency {concurrency}", flush=True)
            count = min(CAPACITY_RECORDS, batch_size * concurrency * 30)
            run = simulate(
                fleet,
                bodies[:count],
                rate=None,
                batch_size=batch_size,
                window=shape.batching_window_s,
                concurrency=concurrency,
            )
            row = summary(run, None)
            row.update(batch_size=batch_size, max_concurrency=concurrency)
            results["capacity"].append(row)
        print("  single-record invocations", flush=True)
        single = simulate(fleet, bodies[:20], rate=None, batch_size=1, window=0.0, concurrency=1)
        results["single_record_invocation_s"] = summary(single, None)["mean_invocation_s"]
        for inbox in fleet.inboxes:
            inbox.put(None)
        for process in fleet.processes:
            process.join(timeout=30)
    window = shape.batching_window_s
    results["p99_target_s"] = window + 1.0
    results["p99_at_1000_met"] = results["runs"]["1000"]["p99_freshness_s"] <= window + 1.0
    results["defaults_capacity_records_per_s"] = results["capacity"][0]["sustained_records_per_s"]
    publish("deployed_bench", results)
    retried = sum(row["retried"] for row in [*results["runs"].values(), *results["capacity"]])
    if retried:  # records sent back to the queue were never sent: the figures would not measure sending
        print(f"  the function asked for {retried} redeliveries: these figures do not hold", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
