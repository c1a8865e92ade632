"""bench/results/summary.md: one markdown table of every figure ``make bench`` measured, each target with
its verdict (met or missed), the date, the machine's CPU count and load."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cost

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _row(rows: list[str], scenario: str, figure: str, target: str = "", verdict: str = "") -> None:
    rows.append(f"| {scenario} | {figure} | {target} | {verdict} |")


def _streaming(rows: list[str], s: dict[str, Any]) -> None:
    _row(
        rows,
        f"streaming, sink 150 ms, {s['records']:,} call events: function (E.164 phones)",
        f"{s['function_records_per_s']:,} records/s ({s['function_requests']} requests, "
        f"{s['requests_in_flight']} in flight), {s['function_cpu_us_per_record']} us CPU/record",
    )
    _row(rows, "same, national phones", f"{s['function_national_records_per_s']:,} records/s")
    _row(
        rows,
        "ceiling (same requests, concurrent, no preparation)",
        f"{s['ceiling_records_per_s']:,} records/s",
    )
    _row(
        rows,
        "aepp 0.6.0 streamMessages, 100 / 2,000 per request",
        f"{s['aepp_100_records_per_s']:,} / {s['aepp_2000_records_per_s']:,} records/s",
    )
    _row(rows, "one request per record", f"{s['one_request_per_record_records_per_s']} records/s")
    best, ceiling = s["function_vs_best_aepp"], s["function_vs_ceiling"]
    _row(rows, "function / aepp's best", f"{best}x", ">= 3x", _verdict(best >= 3))
    _row(rows, "function / ceiling", f"{ceiling}x", ">= 0.5x", _verdict(ceiling >= 0.5))
    _row(rows, "function / one request per record", f"{s['function_vs_one_per_record']:,}x")


def _prep(rows: list[str], p: dict[str, Any]) -> None:
    us = p["cpu_us_per_record"]
    ratio = p["e164_vs_plain"]
    _row(rows, "preparation, CPU per record: plain json.loads + json.dumps", f"{us['plain_json']} us")
    _row(
        rows,
        "prepare, E.164 phones",
        f"{us['prepare_e164']} us ({ratio}x plain)",
        "<= 3x",
        _verdict(ratio <= 3),
    )
    _row(
        rows,
        "prepare, E.164 phones, fast path off",
        f"{us['prepare_e164_without_fast_path']} us ({p['e164_without_fast_path_vs_plain']}x)",
    )
    _row(
        rows,
        "prepare, national phones",
        f"{us['prepare_national']} us ({p['national_vs_plain']}x), "
        f"{round(p['national_libphonenumber_share'] * 100)}% of it in libphonenumber",
    )
    _row(
        rows,
        f"prepare, national phones of {p['recurring_callers']} recurring callers: cache / no cache",
        f"{us['prepare_national_recurring_cached']} / {us['prepare_national_recurring_uncached']} us",
    )


def _deployed(rows: list[str], d: dict[str, Any]) -> None:
    shape = d["template"]
    _row(
        rows,
        f"deployed shape: batch size {shape['batch_size']}, window {shape['batching_window_s']:g} s, "
        f"maximum concurrency {shape['max_concurrency']}, {shape['requests_in_flight']} requests in flight",
        "",
    )
    for rate, run in d["runs"].items():
        figure = (
            f"sustained {run['sustained_records_per_s']:,} records/s, freshness p50 "
            f"{run['p50_freshness_s']} s, p99 {run['p99_freshness_s']} s"
        )
        if rate == "1000":
            target = f"p99 <= {d['p99_target_s']:g} s"
            _row(rows, f"offered {int(rate):,} records/s", figure, target, _verdict(d["p99_at_1000_met"]))
        else:
            _row(rows, f"offered {int(rate):,} records/s", figure)
    defaults = d["defaults_capacity_records_per_s"]
    _row(
        rows,
        "capacity, template settings (full queue)",
        f"{defaults:,} records/s",
        ">= 1,500",
        _verdict(defaults >= 1500),
    )
    for c in d["capacity"][1:]:
        _row(
            rows,
            f"capacity, batch size {c['batch_size']}, maximum concurrency {c['max_concurrency']}",
            f"{c['sustained_records_per_s']:,} records/s (invocations of {c['mean_invocation_s']} s)",
        )


def _token(rows: list[str], t: dict[str, Any]) -> None:
    per = t["ims_calls_per_lifetime"]
    _row(
        rows,
        f"IMS calls per token lifetime, {t['workers']} workers, {t['lifetimes']:g} lifetimes",
        f"{per} ({t['ims_calls']} calls, {t['errors']} errors)",
        "<= 2",
        _verdict(per <= 2),
    )


def _others(rows: list[str]) -> None:
    emulator = _load(RESULTS / "stream_bench.json")
    if emulator:
        _row(
            rows,
            "streaming on the emulator (50 ms): function / ceiling",
            f"{emulator['function_records_per_s']:,} / {emulator['ceiling_records_per_s']:,} records/s "
            f"({emulator['function_vs_ceiling']}x)",
        )
    lookup = _load(ROOT / "build" / "bench" / "lookup_bench.json")
    if lookup:
        over, hit = lookup["handler_overhead_ms"], lookup["cache_hit_ms"]
        _row(
            rows,
            f"lookup handler overhead over a direct GET, p50 / p99 ({lookup['rounds']} rounds)",
            f"{over['p50']} / {over['p99']} ms; cache hit {hit['p50']} / {hit['p99']} ms",
            "1 / 5 ms",
            _verdict(over["p50"] <= 1 and over["p99"] <= 5),
        )
        _row(rows, "lookup cold import, median", f"{lookup['cold_import_ms']['median']} ms", "250 ms",
             _verdict(lookup["cold_import_ms"]["median"] <= 250))  # fmt: skip


def write_summary(elapsed_s: float) -> Path:
    rows = ["| scenario | figure | target | verdict |", "|---|---|---|---|"]
    parts = (
        ("stream_peers.json", _streaming),
        ("stream_peers_8.json", _streaming),
        ("prep_bench.json", _prep),
        ("deployed_bench.json", _deployed),
        ("token_bench.json", _token),
    )
    for name, render in parts:
        data = _load(RESULTS / name)
        if data:
            render(rows, data)
    _others(rows)
    lines = [
        "# make bench",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end, Python {platform.python_version()}, "
        f"{elapsed_s / 60:.1f} min.",
        "",
        *rows,
    ]
    deployed = _load(RESULTS / "deployed_bench.json")
    if deployed:
        batch = _load(RESULTS / "batch" / "batch_bench.json") or {}
        lines += [
            "",
            "## Lambda cost",
            "",
            "| case | requests | GB-s | USD | arithmetic |",
            "|---|---|---|---|---|",
        ]
        for line in [*cost.streaming(deployed), *cost.batch(batch, deployed)]:
            cells = [line["case"], f"{line['requests']:,}", f"{line['gb_seconds']:,}", str(line["usd"])]
            lines.append("| " + " | ".join([*cells, line["arithmetic"]]) + " |")
        lines += ["", cost.__doc__.strip().split("\n\n")[0].replace("\n", " ") if cost.__doc__ else ""]
    table = RESULTS / "batch" / "batch_bench.md"
    if table.exists():
        lines += ["", "## Batch", "", table.read_text().strip()]
    path = RESULTS / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path
