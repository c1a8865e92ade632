"""What a converge run found: the changes (made by ``apply``, or that ``apply`` would make) and the drift
it cannot fix, and how an existing field group's fields compare with the file's (additive only)."""

from __future__ import annotations

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


def field_diff(
    desired: dict[str, Any], actual: dict[str, Any], pointer: str, dotted: str = ""
) -> tuple[list[dict[str, Any]], list[str]]:
    """JSON Patch ``add`` operations for the fields of ``desired`` missing from ``actual`` (both maps of
    field name to XDM field), at ``pointer``; and the differences an add cannot fix (type, format), named
    by dotted path. Fields only in ``actual`` are left alone: setup never removes a field."""
    operations: list[dict[str, Any]] = []
    drift: list[str] = []
    for name, want in desired.items():
        where = f"{dotted}.{name}" if dotted else name
        have = actual.get(name)
        if not isinstance(have, dict):
            operations.append({"op": "add", "path": f"{pointer}/{name}", "value": want})
            continue
        if have.get("type") != want.get("type"):
            drift.append(f"field {where} is {have.get('type')} in AEP, {want.get('type')} in the file")
            continue
        if have.get("format") != want.get("format"):
            drift.append(
                f"field {where} has format {have.get('format')} in AEP, {want.get('format')} in the file"
            )
            continue
        if want.get("type") == "object":
            more_ops, more_drift = field_diff(
                want.get("properties", {}),
                have.get("properties") or {},
                f"{pointer}/{name}/properties",
                where,
            )
            operations += more_ops
            drift += more_drift
    return operations, drift
