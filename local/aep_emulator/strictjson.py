"""Strict JSON, as AEP's parsers read it: no NaN, Infinity or -Infinity, no duplicate object keys.

Python's ``json`` accepts all of these (and keeps the last of duplicate keys); RFC 8259 does not define
the constants, and a duplicate key makes an object ambiguous. AEP refuses them, so the emulator does too.

:func:`loads` raises ValueError. :func:`loads_marked` parses leniently but replaces each offending value
with an :class:`Invalid` marker, so a caller holding many messages in one body can refuse only the
messages that contain one (the streaming endpoint's per-message 400 inside its 207).
"""

from __future__ import annotations

import json
from typing import Any


class Invalid:
    """Where a value was refused: a non-JSON constant, or an object with a duplicate key."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Invalid({self.reason!r})"


def _constant(name: str) -> Invalid:
    return Invalid(f"{name} is not allowed")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any] | Invalid:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            return Invalid(f"duplicate key {key[:100]!r}")
        result[key] = value
    return result


_MARKING = json.JSONDecoder(parse_constant=_constant, object_pairs_hook=_pairs)


def loads_marked(text: str | bytes) -> Any:
    """Parse JSON, with :class:`Invalid` in place of each refused value. ValueError for bad syntax."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return _MARKING.decode(text)


def first_invalid(value: Any) -> Invalid | None:
    """The first :class:`Invalid` marker inside ``value`` (depth-first, without recursion), or None."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, Invalid):
            return node
        if isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return None


def loads(text: str | bytes) -> Any:
    """Parse strict JSON. Raises ValueError for bad syntax, NaN, Infinity, -Infinity or a duplicate key."""
    value = loads_marked(text)
    found = first_invalid(value)
    if found is not None:
        raise ValueError(found.reason)
    return value
