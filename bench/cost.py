"""Lambda cost from measured durations and the template's memory settings, the arithmetic shown.

Per million streamed records: invocations = 1,000,000 / records per invocation; GB-seconds = invocations x
mean invocation seconds x memory GB. Per GB of batch files: invocations = files per GB (one per file); GB-s
= invocations x the function's seconds for one file x memory GB. Beside each, one invocation per record
(the streaming function's measured single-record invocation). Prices: Lambda on arm64 in us-east-1,
USD 0.0000133334 per GB-s and USD 0.20 per million requests (list prices; no free tier).
"""

from __future__ import annotations

from typing import Any

GB_SECOND_USD = 0.0000133334
REQUEST_USD = 0.20 / 1_000_000


def _line(label: str, invocations: float, seconds: float, memory_gb: float) -> dict[str, Any]:
    gb_s = invocations * seconds * memory_gb
    usd = gb_s * GB_SECOND_USD + invocations * REQUEST_USD
    return {
        "case": label,
        "requests": round(invocations),
        "gb_seconds": round(gb_s, 1),
        "usd": round(usd, 4),
        "arithmetic": f"{invocations:,.0f} invocations x {seconds:.4f} s x {memory_gb:g} GB = "
        f"{gb_s:,.1f} GB-s; {gb_s:,.1f} x {GB_SECOND_USD} + {invocations:,.0f} x 0.20/1M = USD {usd:.4f}",
    }


def streaming(deployed: dict[str, Any]) -> list[dict[str, Any]]:
    """Per million records: batched as measured at 1,000 records/s offered (the template's settings), and
    one invocation per record."""
    memory_gb = deployed["template"]["stream_memory_mb"] / 1024
    run = deployed["runs"]["1000"]
    per_invocation = run["mean_batch"]
    return [
        _line(
            f"streaming, {per_invocation:g} records per invocation (measured at 1,000 records/s)",
            1_000_000 / per_invocation,
            run["mean_invocation_s"],
            memory_gb,
        ),
        _line(
            "streaming, one invocation per record",
            1_000_000,
            deployed["single_record_invocation_s"],
            memory_gb,
        ),
    ]


def batch(batch_results: dict[str, Any], deployed: dict[str, Any]) -> list[dict[str, Any]]:
    """Per GB of NDJSON files, for the largest size the batch benchmark ran, beside one invocation per
    record of the same files."""
    runs = batch_results.get("runs", {})
    sizes = [  # sizes whose function run succeeded (a failed run holds only its error)
        label
        for label in batch_results.get("sizes", [])
        if "wall_s" in runs.get(label, {}).get("function", {})
    ]
    if not sizes:
        return []
    label = sizes[-1]
    function = runs[label]["function"]
    size = batch_results["inputs"][label]["bytes"]
    records = function.get("records_read") or (
        function.get("records_sent", 0) + function.get("records_refused", 0)
    )
    memory_gb = deployed["template"]["batch_memory_mb"] / 1024
    files = 1e9 / size
    out = [_line(f"batch, one {label} file per invocation, per GB", files, function["wall_s"], memory_gb)]
    if records:
        out.append(
            _line(
                f"batch files as one invocation per record ({records * files:,.0f} records per GB)",
                records * files,
                deployed["single_record_invocation_s"],
                deployed["template"]["stream_memory_mb"] / 1024,
            )
        )
    return out
