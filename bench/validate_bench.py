"""Schema validation cost per record: the call-center ExperienceEvent schema, three candidate validators.

setup/callcenter.yaml is applied to an in-process emulator, its ExperienceEvent schema read back from the
Schema Registry as the functions read it (``xed-full``, :class:`aep.xdm_schema.SchemaRegistryApi`), and the
same valid call events are checked by:

- ``hand-compiled``: :func:`aep.validation.compile_schema` (what the functions use);
- ``fastjsonschema``: 2.22.3, compiled from :func:`aep.xdm_schema.to_json_schema` (``use_default=False``: it
  would otherwise write the schema's defaults into the records);
- ``jsonschema``: 4.26, ``Draft6Validator`` with its ``FormatChecker``.

Each checks every record once per round; the figure is the median round's microseconds per record (the
target: at most 25 us on this machine). Also: compile time, the import time of each library in a fresh
process, and that all three agree on a set of broken records (each must refuse every one).
Results in bench/results/validate.json.

Run: ``make bench`` (or ``PYTHONPATH=layers/aep:local:. .venv/bin/python bench/validate_bench.py``).
"""

from __future__ import annotations

import copy
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema  # type: ignore[import-untyped,unused-ignore]

from aep import RetryPolicy
from aep.setup import apply, load
from aep.setup.__main__ import setup_api
from aep.validation import compile_schema
from aep.xdm_schema import SchemaRegistryApi, to_json_schema
from aep_emulator import running
from bench.report import publish

ROOT = Path(__file__).resolve().parents[1]
RECORDS = 2000
ROUNDS = 15
TARGET_US = 25.0


def event_schema() -> dict[str, Any]:
    """The call-center ExperienceEvent schema, applied by setup and read back as the functions read it."""
    with running() as emu:
        creds = emu.config.clients[0]
        env = {
            "AEP_IMS_URL": emu.url,
            "AEP_PLATFORM_URL": emu.url,
            "AEP_CLIENT_ID": creds.client_id,
            "AEP_CLIENT_SECRET": creds.client_secret,
            "AEP_ORG_ID": emu.config.org_id,
        }
        api = setup_api(env, RetryPolicy(max_attempts=3))
        report = apply(api, load(ROOT / "setup" / "callcenter.yaml"))
        schema_id = report.outputs["schemas"]["Call Center Setup Call Events"]["id"]
        return SchemaRegistryApi(api._t, emu.url).full_schema(schema_id)


def records(tenant: str) -> list[dict[str, Any]]:
    """Valid call events as the record rules leave them (normalised identity, ``_id`` set)."""
    out = []
    for n in range(RECORDS):
        phone = f"+1415555{n % 10000:04d}"
        out.append(
            {
                "_id": f"{n:064x}",
                "timestamp": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:15:00Z",
                "eventType": "call.completed",
                "identityMap": {"Phone": [{"id": phone, "primary": True}]},
                tenant: {
                    "phone": phone,
                    "call": {
                        "direction": ("inbound", "outbound")[n % 2],
                        "durationSeconds": 30 + n % 600,
                        "queue": "billing",
                        "intent": "balance",
                        "outcome": ("resolved", "transferred", "abandoned", "callback")[n % 4],
                    },
                },
            }
        )
    return out


def broken(valid: dict[str, Any], tenant: str) -> list[dict[str, Any]]:
    """One record per kind of problem: each candidate must refuse all of them."""
    out = []
    changes: list[Callable[[dict[str, Any]], Any]] = [
        lambda r: r[tenant]["call"].__setitem__("durationSeconds", "12"),  # wrong type
        lambda r: r[tenant]["call"].__setitem__("durationSeconds", -1),  # under the minimum
        lambda r: r[tenant]["call"].__setitem__("direction", "sideways"),  # not in the enum
        lambda r: r[tenant].__setitem__("nickname", "x"),  # unknown field under the tenant
        lambda r: r.__setitem__("workEmail", "x"),  # unknown field at the root
        lambda r: r.pop("timestamp"),  # required
        lambda r: r.__setitem__("timestamp", "yesterday"),  # format date-time
        lambda r: r["identityMap"]["Phone"][0].__setitem__("primary", "yes"),  # map value's type
    ]
    for change in changes:
        record = copy.deepcopy(valid)
        change(record)
        out.append(record)
    return out


def refuses(check: Callable[[dict[str, Any]], Any], record: dict[str, Any]) -> bool:
    try:
        check(record)
    except Exception:  # each library raises its own error
        return True
    return False


def per_record_us(check: Callable[[dict[str, Any]], Any], batch: list[dict[str, Any]]) -> float:
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for record in batch:
            check(record)
        rounds.append((time.perf_counter() - started) / len(batch) * 1e6)
    return round(statistics.median(rounds), 2)


def import_ms(module: str) -> float:
    """What importing ``module`` adds to a function that has loaded the record rules and the HTTP layer
    (a fresh interpreter, median of 3), in milliseconds."""
    code = (
        "import time, aep.record_rules, aep.http; t = time.perf_counter(); "
        f"import {module}; print((time.perf_counter() - t) * 1000)"
    )
    env = {"PYTHONPATH": str(ROOT / "layers" / "aep")}
    command = [sys.executable, "-c", code]
    runs = [
        float(subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout)
        for _ in range(3)
    ]
    return round(statistics.median(runs), 1)


def main() -> None:
    schema = event_schema()
    tenant = str(schema["meta:tenantNamespace"])
    batch = records(tenant)
    bad = broken(batch[0], tenant)
    closed = to_json_schema(schema)

    candidates: dict[str, tuple[Callable[[], Callable[[dict[str, Any]], Any]], str]] = {
        "hand-compiled": (lambda: compile_schema(schema), "aep.validation"),
        "fastjsonschema": (
            lambda: fastjsonschema.compile(closed, use_default=False),
            "fastjsonschema",
        ),
        "jsonschema": (
            lambda: jsonschema.Draft6Validator(closed, format_checker=jsonschema.FormatChecker()).validate,
            "jsonschema",
        ),
    }
    results: dict[str, Any] = {"records": RECORDS, "rounds": ROUNDS, "target_us_per_record": TARGET_US}
    for name, (build, module) in candidates.items():
        started = time.perf_counter()
        check = build()
        compile_ms = round((time.perf_counter() - started) * 1000, 2)
        assert not any(refuses(check, r) for r in batch), f"{name} refused a valid record"
        results[f"{name}_refuses_all_broken"] = all(refuses(check, r) for r in bad)
        results[f"{name}_us_per_record"] = per_record_us(check, batch)
        results[f"{name}_compile_ms"] = compile_ms
        results[f"{name}_added_import_ms"] = import_ms(module)
    publish("validate", results)


if __name__ == "__main__":
    main()
