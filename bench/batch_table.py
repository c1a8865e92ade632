"""The batch benchmark's sizes, targets (issue 9) and markdown table: pure functions of the results."""

from __future__ import annotations

from typing import Any

SIZES = {"10MB": 10_000_000, "100MB": 100_000_000, "1GB": 1_000_000_000}
#: Issue 9's targets.
MEMORY_GROWTH_MIB = 64
VALIDATED_RATIO = 0.5
PASSTHROUGH_RATIO = 0.8
RUN_NAMES = {
    "raw": "raw copy (S3 GET -> PUT, no parsing)",
    "function": "batch function, NDJSON validated",
    "parquet": "batch function, Parquet pass-through",
    "aepp": "peer: aepp uploadSmallFile, whole file",
}


def parse_sizes(text: str) -> list[str]:
    """``"10MB,1GB"`` -> the known labels in that order; raises ValueError naming an unknown one."""
    labels = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [label for label in labels if label not in SIZES]
    if unknown or not labels:
        raise ValueError(f"BENCH_BATCH_SIZES: use some of {', '.join(SIZES)} (got {text!r})")
    return sorted(dict.fromkeys(labels), key=SIZES.__getitem__)


def mbps(run: dict[str, Any]) -> float | None:
    """Input megabytes (10^6 bytes) per wall second, or None for a run that failed or was skipped."""
    if "wall_s" not in run or run["wall_s"] <= 0:
        return None
    return float(run["bytes_in"]) / 1e6 / float(run["wall_s"])


def ratio(run: dict[str, Any], raw: dict[str, Any]) -> float | None:
    ours, ceiling = mbps(run), mbps(raw)
    return None if ours is None or not ceiling else ours / ceiling


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target: ``met`` (bool), ``value`` (the worst case measured), ``detail`` (a sentence) and, for
    the throughput targets, ``size`` (the size of the worst case)."""
    runs: dict[str, dict[str, Any]] = results.get("runs", {})
    labels = [label for label in results.get("sizes", []) if label in runs]
    out: dict[str, dict[str, Any]] = {}
    peaks = [(label, runs[label].get("function", {}).get("peak_rss_mib")) for label in labels]
    peaks = [(label, peak) for label, peak in peaks if peak is not None]
    if len(peaks) >= 2:
        growth = peaks[-1][1] - peaks[0][1]
        out["memory"] = {
            "met": growth <= MEMORY_GROWTH_MIB,
            "value": round(growth, 1),
            "detail": f"peak RSS grows {growth:.1f} MiB from {peaks[0][0]} to {peaks[-1][0]} "
            f"(target: at most {MEMORY_GROWTH_MIB} MiB)",
        }
    for name, run_name, floor in (
        ("validated", "function", VALIDATED_RATIO),
        ("passthrough", "parquet", PASSTHROUGH_RATIO),
    ):
        ratios = [
            (label, ratio(runs[label].get(run_name, {}), runs[label].get("raw", {}))) for label in labels
        ]
        measured = [(label, value) for label, value in ratios if value is not None]
        if not measured:
            continue
        worst_label, worst = min(measured, key=lambda pair: pair[1])
        out[name] = {
            "met": worst >= floor,
            "value": round(worst, 2),
            "size": worst_label,
            "detail": f"{worst:.2f}x the raw copy at its worst ({worst_label}; target: at least {floor}x)",
        }
    return out


def _row(label: str, name: str, run: dict[str, Any], raw: dict[str, Any], lines: int) -> str:
    if "skipped" in run:
        return f"| {label} | {RUN_NAMES[name]} | - | - | - | - | - | {run['skipped']} |"
    if "error" in run:
        return f"| {label} | {RUN_NAMES[name]} | - | - | - | - | - | failed: {run['error'][:200]} |"
    speed = mbps(run) or 0.0
    versus = ratio(run, raw)
    per_record = f"{run['cpu_s'] / lines * 1e6:,.1f}" if lines and name != "parquet" else "-"
    notes = []
    if run.get("records_read"):
        notes.append(
            f"{run['records_sent']:,} sent, {run['records_refused']:,} refused of {run['records_read']:,}"
        )
    if run.get("aepp_errors"):
        notes.append("aepp errors: " + ", ".join(run["aepp_errors"]))
    sink = run.get("sink", {})
    if sink:
        notes.append(f"{sink.get('body_bytes', 0) / 1e6:,.1f} MB reached AEP")
        if name == "function" and sink.get("newlines") != run.get("records_sent"):
            notes.append(f"MISMATCH: {sink.get('newlines')} lines reached AEP")
    return (
        f"| {label} | {RUN_NAMES[name]} | {speed:,.1f} | {'-' if versus is None else f'{versus:.2f}x'} "
        f"| {run['peak_rss_mib']:,.0f} | {run['peak_rss_mib'] - run['base_rss_mib']:,.0f} "
        f"| {per_record} | {'; '.join(notes)} |"
    )


def render(results: dict[str, Any]) -> str:
    """The results as markdown: one row per run, then the targets, then the profile when there is one."""
    out = [
        "| size | run | MB/s | vs raw | peak RSS MiB | growth in run MiB | CPU us/record | notes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for label in results.get("sizes", []):
        runs = results.get("runs", {}).get(label, {})
        lines = results.get("inputs", {}).get(label, {}).get("lines", 0)
        for name in RUN_NAMES:
            if name in runs:
                out.append(_row(label, name, runs[name], runs.get("raw", {}), lines))
    out.append("")
    for name, verdict in targets(results).items():
        out.append(f"- {name}: {'met' if verdict['met'] else 'MISSED'}: {verdict['detail']}")
    for profile in results.get("profiles", []):
        out.append("")
        what = f"the batch function on {profile['size']} of {profile['input']} ({profile['target']} target)"
        if "top" in profile:
            out.append(f"Profile of {what}: cProfile, wall-clock time, by own time:")
            out.append("```")
            out.append("    own   cumul.     calls function")
            out.extend(profile["top"])
            out.append("```")
        else:
            out.append(f"Profile of {what} failed: {profile.get('error', '')[:300]}")
    return "\n".join(out) + "\n"
