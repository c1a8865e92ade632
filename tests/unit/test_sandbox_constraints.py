"""The default sandbox file's call-center schemas carry the constraints setup/callcenter.yaml declares, so a
test on the sandbox file refuses what a sandbox made by setup would refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from aep_emulator.config import DEFAULT_CONFIG

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "format", "pattern")
DATASET_OF_CLASS = {"experienceevent": "IVR call events", "profile": "IVR callers"}


def declared(fields: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    """Every field of a setup field group that declares a constraint, as a dotted path -> constraints."""
    found: dict[str, dict[str, Any]] = {}
    for name, spec in fields.items():
        path = f"{prefix}.{name}"
        if spec.get("type") == "object":
            found.update(declared(spec.get("properties", {}), path))
        elif rules := {key: spec[key] for key in CONSTRAINTS if key in spec}:
            found[path] = rules
    return found


def test_the_call_center_datasets_carry_every_constraint_setup_declares():
    # Given the setup file's field groups and the default sandbox file's datasets
    setup = yaml.safe_load((ROOT / "setup" / "callcenter.yaml").read_text())
    sandbox = {d["name"]: d for d in json.loads(DEFAULT_CONFIG.read_text())["datasets"]}

    # When the constraints setup declares are looked up in the dataset of each field group's class
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for group in setup["fieldGroups"]:
        for klass in group["extends"]:
            for path, rules in declared(group["fields"], "_acme").items():
                if path in sandbox[DATASET_OF_CLASS[klass]]["fields"]:
                    expected[(DATASET_OF_CLASS[klass], path)] = rules
    found = {
        key: {k: v for k, v in spec.items() if k in CONSTRAINTS}
        for key in expected
        if isinstance(spec := sandbox[key[0]]["fields"][key[1]], dict)
    }

    # Then each is there, written as setup writes it (direction, durationSeconds, outcome, tier at least)
    assert found == expected
    assert {path for _, path in expected} >= {
        "_acme.call.direction",
        "_acme.call.durationSeconds",
        "_acme.call.outcome",
        "_acme.tier",
    }
