"""The streaming benchmarks' parts: the template's settings as read, the call events, the cost arithmetic
and the summary's verdicts (the sink's answers: tests/integration/test_bench_sink.py)."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from aep.normalize import normalize_phone
from bench import cost, streamkit, summary
from tests.support.template import load_template


def test_the_deployed_shape_is_read_from_the_template():
    template = load_template()
    parameters = template["Parameters"]
    stream = template["Resources"]["StreamIngestFunction"]["Properties"]

    shape = streamkit.template_settings()

    assert shape.batch_size == parameters["StreamBatchSize"]["Default"]
    assert shape.batching_window_s == parameters["StreamBatchingWindowSeconds"]["Default"]
    assert shape.max_concurrency == parameters["StreamMaxConcurrency"]["Default"]
    assert str(shape.requests_in_flight) == stream["Environment"]["Variables"]["STREAM_CONCURRENCY"]
    assert shape.stream_memory_mb == stream.get("MemorySize", template["Globals"]["Function"]["MemorySize"])


def phones_of(bodies: list[str]) -> list[str]:
    return [json.loads(body)["identityMap"]["Phone"][0]["id"] for body in bodies]


def test_call_events_carry_the_same_callers_in_e164_or_national_format():
    e164 = phones_of(streamkit.call_events(50, "e164"))
    national = phones_of(streamkit.call_events(50, "national"))

    assert all(re.fullmatch(r"\+1415[0-9]{7}", phone) for phone in e164)
    assert all(re.fullmatch(r"\(415\) [0-9]{3}-[0-9]{4}", phone) for phone in national)
    assert [normalize_phone(phone) for phone in national] == e164
    assert len(set(e164)) == 50


def test_call_events_from_recurring_callers_repeat_numbers():
    bodies = streamkit.call_events(1000, "national", callers=10)

    assert len(set(phones_of(bodies))) == 10


def deployed(mean_batch: float = 100.0, seconds: float = 0.2, single: float = 0.16) -> dict[str, object]:
    return {
        "template": {"stream_memory_mb": 512, "batch_memory_mb": 1024},
        "runs": {"1000": {"mean_batch": mean_batch, "mean_invocation_s": seconds}},
        "single_record_invocation_s": single,
    }


def test_streaming_cost_per_million_records_is_invocations_times_duration_times_memory():
    batched, single = cost.streaming(deployed())

    assert batched["requests"] == 10_000
    assert batched["gb_seconds"] == pytest.approx(10_000 * 0.2 * 0.5)
    assert batched["usd"] == pytest.approx(round(1000 * cost.GB_SECOND_USD + 10_000 * 0.2 / 1e6, 4))
    assert single["requests"] == 1_000_000
    assert single["gb_seconds"] == pytest.approx(1_000_000 * 0.16 * 0.5)
    assert "10,000 invocations x 0.2000 s x 0.5 GB = 1,000.0 GB-s" in batched["arithmetic"]


def test_batch_cost_per_gb_counts_one_invocation_per_file_at_the_batch_functions_memory():
    results = {
        "sizes": ["10MB", "100MB"],
        "inputs": {"10MB": {"bytes": 10**7}, "100MB": {"bytes": 10**8}},
        "runs": {"100MB": {"function": {"wall_s": 8.0, "records_read": 200_000}}},
    }

    per_file, per_record = cost.batch(results, deployed())

    assert per_file["requests"] == 10
    assert per_file["gb_seconds"] == pytest.approx(10 * 8.0 * 1.0)
    assert per_record["requests"] == 2_000_000


def test_a_failed_batch_run_costs_nothing_instead_of_breaking_the_summary():
    results: dict[str, Any] = {
        "sizes": ["10MB", "100MB"],
        "inputs": {"10MB": {"bytes": 10**7}, "100MB": {"bytes": 10**8}},
        "runs": {
            "10MB": {"function": {"wall_s": 1.0, "records_read": 20_000}},
            "100MB": {"function": {"error": "exit 1: the function asked for a redelivery"}},
        },
    }

    (per_file, _) = cost.batch(results, deployed())

    assert per_file["requests"] == 100  # the 10 MB run's figures: the failed 100 MB run is left out
    assert cost.batch({**results, "runs": {"100MB": results["runs"]["100MB"]}}, deployed()) == []


def test_the_summary_says_missed_for_a_target_missed(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "RESULTS", tmp_path)
    (tmp_path / "token_bench.json").write_text(
        json.dumps(
            {"workers": 50, "lifetimes": 3, "ims_calls": 9, "ims_calls_per_lifetime": 3.0, "errors": 0}
        )
    )

    text = summary.write_summary(60.0).read_text()

    row = "| IMS calls per token lifetime, 50 workers, 3 lifetimes | 3.0 (9 calls, 0 errors) | <= 2 |"
    assert f"{row} **missed** |" in text
    assert f"{os.cpu_count()} CPUs" in text
