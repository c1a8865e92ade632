"""Batch ingestion benchmark (issue 9): NDJSON of 10 MB, 100 MB and 1 GB in S3 through the batch function,
against a raw copy and against the peer's way, and Parquet passed through. Run with ``make bench-batch``.

Servers that cost nothing per request, each in its own process on 127.0.0.1: S3 (and DynamoDB, Secrets
Manager) from moto's ThreadedMotoServer (bench/batch_moto.py: a ranged GET reads only its range), AEP as
the batch sink (bench/batch_sink.py: counts the bytes, parses nothing). Every run is a fresh child process
(bench/batch_runs.py, or bench/batch_aepp.py with aepp's Python) whose own ``ru_maxrss`` is its peak
memory and whose ``ru_utime + ru_stime`` its CPU time.

Runs per size: ``raw`` (S3 GET streamed to the sink, no parsing), ``function`` (the handler on the NDJSON
object), ``aepp`` (read whole, parse, ``uploadSmallFile``; only up to 256 MiB, the most one PUT may carry)
and ``parquet`` (the handler on a ``.parquet`` object of the same size: magic bytes checked, passed
through). A throughput target missed is profiled (cProfile): the validated run on the smallest size, the
pass-through on the size where it fell shortest; the top functions are written with the results.

Environment: ``BENCH_BATCH_SIZES`` (default ``10MB,100MB,1GB``; use ``10MB`` while developing),
``BENCH_BATCH_DIR`` (scratch space for the generated files and the spool; default the system temp dir,
removed at the end), ``BENCH_BATCH_AEPP_PYTHON`` (default ``.aepp-venv/bin/python``; ``make aepp-check``
installs it), ``BENCH_BATCH_RUNS`` (default ``raw,function,parquet,aepp``). Results go to bench/results/batch/
(untracked): ``batch_bench.json`` and ``batch_bench.md``.
"""

from __future__ import annotations

import json
import os
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import requests
from boto3.s3.transfer import TransferConfig

from bench.batch_data import ndjson_file, parquet_file
from bench.batch_table import SIZES, parse_sizes, render, targets

HERE = Path(__file__).parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "batch"
BUCKET = "bench-batch-drop"
PREFIX = "bench/"
TOKEN_SECRET = "bench/aep-token"  # noqa: S105 - a secret's name
RUN_TIMEOUT = 1200
AEPP_MAX = 256 * 1024 * 1024
PYTHONPATH = ["layers/aep", "functions/batch_ingest", "local", "."]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def wait_for(url: str, what: str) -> None:
    for _ in range(300):
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


@contextmanager
def servers(env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """moto's server and the batch sink, each in its own process; yields their URLs."""
    moto_port, sink_port = free_port(), free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "bench.batch_moto", str(moto_port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sink = subprocess.Popen(
        [sys.executable, str(HERE / "batch_sink.py"), str(sink_port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        moto_url, sink_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{sink_port}"
        wait_for(moto_url + "/moto-api/", "moto's server")
        wait_for(sink_url + "/_sink/counters", "the batch sink")
        yield moto_url, sink_url
    finally:
        for process in (moto, sink):
            process.terminate()
        for process in (moto, sink):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def prepare_inputs(scratch: Path, sizes: list[str]) -> dict[str, dict[str, Any]]:
    """Generate each file once, upload it to moto, delete it from disk; returns key, size, lines."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    boto3.client("secretsmanager").create_secret(Name=TOKEN_SECRET, SecretString="{}")
    transfer = TransferConfig(multipart_chunksize=64 * 1024 * 1024, max_concurrency=2)
    inputs: dict[str, dict[str, Any]] = {}
    warm = scratch / "warm.ndjson"
    ndjson_file(warm, 2_000)
    s3.upload_file(str(warm), BUCKET, PREFIX + "warm/warm.ndjson")
    warm.unlink()
    for label in sizes:
        size = SIZES[label]
        path = scratch / f"events-{label}.ndjson"
        say(f"generating {label} of NDJSON call events")
        lines = ndjson_file(path, size)
        actual = path.stat().st_size
        say(f"uploading {label} NDJSON to S3 (moto)")
        s3.upload_file(str(path), BUCKET, f"{PREFIX}events-{label}.ndjson", Config=transfer)
        path.unlink()
        parquet = scratch / f"events-{label}.parquet"
        parquet_file(parquet, size)
        say(f"uploading {label} Parquet-shaped bytes to S3 (moto)")
        s3.upload_file(str(parquet), BUCKET, f"{PREFIX}events-{label}.parquet", Config=transfer)
        parquet.unlink()
        inputs[label] = {
            "ndjson": f"{PREFIX}events-{label}.ndjson",
            "parquet": f"{PREFIX}events-{label}.parquet",
            "bytes": actual,
            "lines": lines,
        }
    return inputs


def run_child(command: list[str], env: dict[str, str], params: dict[str, Any], sink: str) -> dict[str, Any]:
    """One measured run in a fresh process; its JSON answer plus what the sink received."""
    requests.post(f"{sink}/_sink/reset", timeout=10).raise_for_status()
    done = subprocess.run(
        command,
        env={**env, "BENCH_BATCH_RUN": json.dumps(params)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        return {"error": f"exit {done.returncode}: " + " | ".join(tail)[-1500:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["sink"] = requests.get(f"{sink}/_sink/counters", timeout=10).json()
    return result


def profile_top(path: Path, count: int = 12) -> list[str]:
    """The ``count`` functions with the most time of their own, then the project's own functions (layer and
    function code) with the most cumulative time, as ``tottime cumtime calls name`` lines."""
    stats = pstats.Stats(str(path))
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.replace(str(ROOT) + "/", "")
        if "site-packages/" in where:
            where = where.split("site-packages/", 1)[1]
        rows.append((tottime, cumtime, calls, f"{where}:{line}({name})"))
    ours = sorted(
        (row for row in rows if row[3].startswith(("layers/", "functions/"))),
        key=lambda row: row[1],
        reverse=True,
    )
    rows.sort(reverse=True)
    lines = [f"{tot:7.2f}s {cum:7.2f}s {calls:>9} {name}" for tot, cum, calls, name in rows[:count]]
    lines.append("  -- the project's functions by cumulative time --")
    lines.extend(f"{tot:7.2f}s {cum:7.2f}s {calls:>9} {name}" for tot, cum, calls, name in ours[:count])
    return lines


def main() -> int:  # noqa: PLR0915 - a benchmark script, step by step
    sizes = parse_sizes(os.environ.get("BENCH_BATCH_SIZES", "10MB,100MB,1GB"))
    only = set(os.environ.get("BENCH_BATCH_RUNS", "raw,function,parquet,aepp").split(","))
    aepp_python = os.environ.get("BENCH_BATCH_AEPP_PYTHON", str(ROOT / ".aepp-venv" / "bin" / "python"))
    scratch = Path(tempfile.mkdtemp(prefix="batchbench-", dir=os.environ.get("BENCH_BATCH_DIR")))
    spool = scratch / "spool"
    spool.mkdir()
    env = {
        **os.environ,
        # a PYTHONPATH already set comes first (to try another checkout of a function)
        "PYTHONPATH": os.pathsep.join(
            [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
            + [str(ROOT / p) for p in PYTHONPATH]
        ),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        "POWERTOOLS_SERVICE_NAME": "batch-ingest",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    }
    env.pop("AWS_PROFILE", None)
    started = time.perf_counter()
    results: dict[str, Any] = {"sizes": sizes, "runs": {}, "profiles": []}
    try:
        with servers(env) as (moto_url, sink_url):
            env["AWS_ENDPOINT_URL"] = moto_url
            os.environ.update({k: env[k] for k in env if k.startswith(("AWS_",))})
            inputs = prepare_inputs(scratch, sizes)
            results["inputs"] = inputs
            runs_py = [sys.executable, "-m", "bench.batch_runs"]
            common = {
                "sink": sink_url,
                "s3": moto_url,
                "bucket": BUCKET,
                "spool": str(spool),
                "prefix": PREFIX,
                "token_secret": TOKEN_SECRET,
                "warm_key": PREFIX + "warm/warm.ndjson",
            }
            for label in sizes:
                item = inputs[label]
                plan: list[tuple[str, list[str], dict[str, Any]]] = [
                    ("raw", [*runs_py, "raw"], {"key": item["ndjson"]}),
                    ("function", [*runs_py, "function"], {"key": item["ndjson"]}),
                    ("parquet", [*runs_py, "function"], {"key": item["parquet"]}),
                ]
                if item["bytes"] <= AEPP_MAX and Path(aepp_python).exists():
                    plan.append(("aepp", [aepp_python, str(HERE / "batch_aepp.py")], {"key": item["ndjson"]}))
                for name, command, params in plan:
                    if name not in only:
                        continue
                    say(f"{label}: {name} ...")
                    result = run_child(command, env, {**common, **params}, sink_url)
                    results["runs"].setdefault(label, {})[name] = result
                    if "error" in result:
                        say(f"{label}: {name} FAILED: {result['error'][:400]}")
                    else:
                        mbps = item["bytes"] / 1e6 / result["wall_s"]
                        say(f"{label}: {name} {result['wall_s']:.1f} s, {mbps:.1f} MB/s, "
                            f"peak RSS {result['peak_rss_mib']:.0f} MiB")  # fmt: skip
                if "aepp" in only and "aepp" not in results["runs"].setdefault(label, {}):
                    reason = (
                        "not run: uploadSmallFile is one PUT, and one PUT carries at most 256 MiB"
                        if item["bytes"] > AEPP_MAX
                        else f"not run: no aepp at {aepp_python} (make aepp-check)"
                    )
                    results["runs"][label]["aepp"] = {"skipped": reason}
            # a missed target is profiled: validation on the smallest size (its cost is per record, and
            # cProfile doubles it), the pass-through on the size where it fell shortest
            verdicts = targets(results)
            for target, kind in (("validated", "ndjson"), ("passthrough", "parquet")):
                verdict = verdicts.get(target, {})
                if verdict.get("met", True):
                    continue
                label = sizes[0] if target == "validated" else verdict["size"]
                say(f"{target} target missed: profiling the function on {label} of {kind}")
                stats = scratch / f"{target}.prof"
                params = {**common, "key": inputs[label][kind], "profile": str(stats)}
                profiled = run_child([*runs_py, "function"], env, params, sink_url)
                entry: dict[str, Any] = {"target": target, "size": label, "input": kind}
                if "error" in profiled:
                    entry["error"] = profiled["error"]
                else:
                    entry["top"] = profile_top(stats)
                results["profiles"].append(entry)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "batch_bench.json").write_text(json.dumps(results, indent=2) + "\n")
    table = render(results)
    (RESULTS / "batch_bench.md").write_text(table)
    print(table)
    say(f"done in {results['elapsed_s']} s; results in {RESULTS.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
