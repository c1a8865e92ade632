"""What a converge run found: the changes (made by ``apply``, or that ``apply`` would make) and the drift
it cannot fix, and how an existing field group's fields compare with the file's: a new field is added,
any other difference (type, format, enum, length and value bounds, title, description, array items) is
drift."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["create", "update"]


@dataclass(frozen=True)
class Change:
    action: Action
    kind: str  # namespace, field group, schema, descriptor, union, dataset, connection ...
    name: str
    detail: str = ""

    def line(self) -> str:
        return f"{'+' if self.action == 'create' else '~'} {self.kind} {self.name!r}" + (
            f": {self.detail}" if self.detail else ""
        )


@dataclass(frozen=True)
class Drift:
    kind: str
    name: str
    detail: str

    def line(self) -> str:
        return f"! {self.kind} {self.name!r}: {self.detail}"


@dataclass
class Report:
    """A run's changes, drift and outputs (ids; None where a plan cannot know them yet)."""

    applied: bool
    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    writes: int = 0

    @property
    def converged(self) -> bool:
        return not self.changes and not self.drift

    def text(self) -> str:
        verb = "applied" if self.applied else "would apply"
        lines = [c.line() for c in self.changes] + [d.line() for d in self.drift]
        if not self.changes:
            lines.append("no change")
        else:
            lines.append(f"{len(self.changes)} change(s) {verb}")
        if self.drift:
            lines.append(f"{len(self.drift)} drift(s) setup cannot fix (it never deletes or retypes)")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "changes": [c.line() for c in self.changes],
            "drift": [d.line() for d in self.drift],
            "writes": self.writes,
            "outputs": self.outputs,
        }


#: The keywords of a field the setup file can declare, besides ``type``, ``properties`` and ``items``.
#: AEP documents no change of them on an existing field (aep-api.md 10.5, 10.12: after Profile
#: enablement only additive changes, no retyping, no restricting values), so a difference is drift.
RULES = ("format", "enum", "minLength", "maxLength", "minimum", "maximum", "title", "description")


def _same(key: str, have: Any, want: Any) -> bool:
    if key == "enum" and isinstance(have, list) and isinstance(want, list):
        return sorted(json.dumps(v) for v in have) == sorted(json.dumps(v) for v in want)
    if isinstance(have, bool) or isinstance(want, bool):
        return have is want
    return bool(have == want)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def rule_drift(desired: dict[str, Any], actual: dict[str, Any], where: str) -> list[str]:
    """How one existing field differs from the file's besides new properties: its type, a rule
    (:data:`RULES`, missing on one side included), or its array items (compared whole, recursively)."""
    if actual.get("type") != desired.get("type"):
        return [f"field {where} is {actual.get('type')} in AEP, {desired.get('type')} in the file"]
    drift = [
        f"field {where} has {key} {_shown(actual.get(key))} in AEP, {_shown(desired.get(key))} in the file"
        for key in RULES
        if not _same(key, actual.get(key), desired.get(key))
    ]
    if desired.get("type") == "array":
        have, want = actual.get("items"), desired.get("items")
        if not isinstance(have, dict) or not isinstance(want, dict):
            drift.append(f"field {where} has items {have!r} in AEP, {want!r} in the file")
        else:
            drift += rule_drift(want, have, f"{where}[]")
            more_ops, more_drift = field_diff(
                want.get("properties") or {}, have.get("properties") or {}, "", f"{where}[]"
            )
            drift += more_drift + [
                f"field {where}[].{op['path'].rsplit('/', 1)[-1]} is in the file, not in AEP"
                for op in more_ops
            ]
    return drift


def field_diff(
    desired: dict[str, Any], actual: dict[str, Any], pointer: str, dotted: str = ""
) -> tuple[list[dict[str, Any]], list[str]]:
    """JSON Patch ``add`` operations for the fields of ``desired`` missing from ``actual`` (both maps of
    field name to XDM field), at ``pointer``; and the differences an add cannot fix (type, a rule of
    :data:`RULES`, array items), named by dotted path. Fields only in ``actual`` are left alone: setup
    never removes a field."""
    operations: list[dict[str, Any]] = []
    drift: list[str] = []
    for name, want in desired.items():
        where = f"{dotted}.{name}" if dotted else name
        have = actual.get(name)
        if not isinstance(have, dict):
            operations.append({"op": "add", "path": f"{pointer}/{name}", "value": want})
            continue
        problems = rule_drift(want, have, where)
        drift += problems
        if want.get("type") == "object" and have.get("type") == "object":
            more_ops, more_drift = field_diff(
                want.get("properties", {}),
                have.get("properties") or {},
                f"{pointer}/{name}/properties",
                where,
            )
            operations += more_ops
            drift += more_drift
    return operations, drift
