"""Records checked against their dataset's resolved XDM schema, as AEP checks them, with ``jsonschema``.

The schema is the one the registry serves as ``application/vnd.adobe.xed-full+json`` (whether it came from
the sandbox file or from setup calls), compiled once per schema version and channel. It is deliberately an
implementation of its own (the ``jsonschema`` library), never the ``aep`` layer's validator: a test is green
only when an independent check agrees.

What each channel checks (Adobe's "Data quality" page: batch has no pattern or format check):

- streaming: types, required fields, ``enum``, numeric ranges, string lengths, array sizes, ``pattern`` and
  the formats (``date-time``, ``date``, ``email``, ``uri``, ``uri-reference`` and the others
  ``jsonschema`` knows);
- batch: the same without ``pattern`` and without formats, except ``date-time`` and ``date``, which XDM
  stores as typed columns (a string that is not one cannot be converted).

Both refuse fields the schema does not define: XDM objects are closed (``additionalProperties: false`` is
added to every object that has ``properties``); a map (``meta:xdmType: map``, such as ``identityMap``) takes
any key and checks each value. ``integer`` is a JSON integer: never a boolean, never ``1.0``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import rfc3986_validator  # type: ignore[import-untyped] # no stubs
from jsonschema import Draft6Validator, FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator

Channel = Literal["streaming", "batch"]

# Formats whose checker comes from an optional package: without it ``jsonschema`` silently passes them.
_NEEDED = {"date-time": "rfc3339-validator", "uri": "rfc3986-validator", "uri-reference": "rfc3986-validator"}
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
_LDH = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def _rfc3986(pattern: str) -> re.Pattern[str]:
    """``rfc3986-validator``'s grammar, matched as RFC 3986 reads it. The package anchors with ``^...$``
    (which lets a trailing newline through), takes ``v`` of IPvFuture as lower case only (ABNF strings
    are case-insensitive) and lets a dec-octet inside an IPv6 address have leading zeros (``01``)."""
    loose = "(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
    if loose not in pattern:
        raise RuntimeError("aep_emulator: rfc3986-validator changed, review conformance._rfc3986")
    strict = pattern.replace(loose, "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")
    return re.compile(strict, re.VERBOSE | re.ASCII | re.IGNORECASE)


_URI = _rfc3986(rfc3986_validator.URI_RE)
_URI_REFERENCE = _rfc3986(f"(?:{rfc3986_validator.URI_RE}|{rfc3986_validator.RELATIVE_REF_RE})")


def _is_uri(instance: object) -> bool:
    return not isinstance(instance, str) or _URI.fullmatch(instance) is not None


def _is_uri_reference(instance: object) -> bool:
    return not isinstance(instance, str) or _URI_REFERENCE.fullmatch(instance) is not None


def _is_email(instance: object) -> bool:
    """RFC 5321's Mailbox (section 4.1.2) with a fully-qualified domain (at least one dot) and no address
    literal; local part at most 64 characters, the address at most 254 (section 4.5.3.1)."""
    if not isinstance(instance, str):
        return True
    local, at, domain = instance.rpartition("@")
    if not at or len(instance) > 254 or len(local) > 64:
        return False
    if len(local) >= 2 and local[0] == local[-1] == '"':
        inner = local[1:-1]
        index = 0
        while index < len(inner):
            char = inner[index]
            if char == "\\":
                if index + 1 == len(inner) or not " " <= inner[index + 1] <= "~":
                    return False
                index += 2
                continue
            if char == '"' or not " " <= char <= "~":
                return False
            index += 1
    elif not all(atom and set(atom) <= _ATEXT for atom in local.split(".")):
        return False
    labels = domain.split(".")
    return len(labels) > 1 and all(
        0 < len(label) <= 63 and set(label) <= _LDH and label[0] != "-" and label[-1] != "-"
        for label in labels
    )


_DROPPED = ("$id", "$schema", "title", "description", "default", "examples")


def _is_integer(_checker: Any, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_XdmValidator = validators.extend(  # type: ignore[no-untyped-call] # untyped in the stubs
    Draft6Validator, type_checker=Draft6Validator.TYPE_CHECKER.redefine("integer", _is_integer)
)


def _format_checker(channel: Channel) -> FormatChecker:
    if channel == "batch":
        typed = ("date-time", "date")  # the formats XDM stores as typed columns
        checker = FormatChecker(formats=[f for f in typed if f in FormatChecker.checkers])
    else:
        checker = FormatChecker()

        # jsonschema's own email check only looks for an "@"; its URI checks let a trailing newline through.
        checker.checks("email")(_is_email)
        checker.checks("uri")(_is_uri)
        checker.checks("uri-reference")(_is_uri_reference)

    needed = _NEEDED if channel == "streaming" else {"date-time": _NEEDED["date-time"]}
    missing = [f"{fmt} ({package})" for fmt, package in needed.items() if fmt not in checker.checkers]
    if missing:
        raise RuntimeError(
            "aep_emulator: these formats would pass unchecked, install requirements-dev.txt: "
            + ", ".join(missing)
        )
    return checker


_CHECKERS: dict[Channel, FormatChecker] = {}


def _checker(channel: Channel) -> FormatChecker:
    if channel not in _CHECKERS:
        _CHECKERS[channel] = _format_checker(channel)
    return _CHECKERS[channel]


def _is_map(node: dict[str, Any]) -> bool:
    return node.get("meta:xdmType") == "map" or ("additionalProperties" in node and "properties" not in node)


def _closed(node: Any, channel: Channel) -> Any:
    """A copy of a schema node with XDM's rules made explicit for ``jsonschema``."""
    if isinstance(node, list):
        return [_closed(item, channel) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("meta:") or key in _DROPPED:
            continue
        if key == "pattern" and channel == "batch":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _closed(spec, channel) for name, spec in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, (dict, list)):
            out[key] = _closed(value, channel)
        else:
            out[key] = copy.deepcopy(value)
    if isinstance(node.get("properties"), dict) and not _is_map(node) and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


@dataclass(frozen=True)
class Violation:
    """One rule a record breaks: where (dotted path, array indexes as numbers; and as JSON pointers), the
    JSON Schema keyword and why, in words that never quote the value."""

    path: str
    keyword: str
    reason: str
    schema_location: str
    pointer: str


def _pointer(parts: Iterable[Any]) -> str:
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _reason(error: ValidationError) -> str:
    value: Any = error.validator_value
    keyword = str(error.validator)
    if keyword == "type":
        return f"must be of type {value if isinstance(value, str) else ' or '.join(value)}"
    if keyword == "enum":
        return "must be one of " + ", ".join(str(v) for v in value)
    if keyword == "format":
        return f"must be a valid {value}"
    if keyword == "pattern":
        return f"must match the pattern {value}"
    words = {
        "minimum": "must be at least",
        "maximum": "must be at most",
        "exclusiveMinimum": "must be greater than",
        "exclusiveMaximum": "must be less than",
        "minLength": "must have at least {} characters",
        "maxLength": "must have at most {} characters",
        "minItems": "must have at least {} items",
        "maxItems": "must have at most {} items",
        "multipleOf": "must be a multiple of",
        "const": "must be",
    }
    if keyword in words:
        text = words[keyword]
        return text.format(value) if "{}" in text else f"{text} {value}"
    if keyword == "uniqueItems":
        return "must not repeat items"
    return f"breaks the schema's {keyword} rule"


class SchemaCheck:
    """A resolved schema compiled for one channel; :meth:`violations` lists what a record breaks."""

    def __init__(self, full: dict[str, Any], channel: Channel) -> None:
        self.channel = channel
        root: dict[str, Any] = {"type": "object", "properties": full.get("properties") or {}}
        if full.get("required"):
            root["required"] = full["required"]
        schema = _closed(root, channel)
        self._validator: Validator = _XdmValidator(schema, format_checker=_checker(channel))

    def violations(self, record: dict[str, Any]) -> list[Violation]:
        """Every rule broken, in document order (the record's paths sorted, each path's keywords as found)."""
        found: dict[tuple[str, str], tuple[tuple[str, ...], Violation]] = {}
        for error in self._validator.iter_errors(record):
            for key, violation in self._explain(error):
                found.setdefault((violation.path, violation.keyword), (key, violation))
        return [violation for _, violation in sorted(found.values(), key=lambda pair: pair[0])]

    def _explain(self, error: ValidationError) -> Iterator[tuple[tuple[str, ...], Violation]]:
        at = list(error.absolute_path)
        where = _pointer(error.absolute_schema_path)
        keyword = str(error.validator)
        rule: Any = error.validator_value
        if keyword in ("required", "additionalProperties") and isinstance(error.instance, dict):
            if keyword == "required":
                names = [n for n in rule if n not in error.instance]
                reason = "is required"
            else:
                schema = error.schema if isinstance(error.schema, Mapping) else {}
                declared = schema.get("properties") or {}
                names = [n for n in error.instance if n not in declared]
                reason = "is not a field of the schema"
            for name in dict.fromkeys(names):
                path = [*at, name]
                key = tuple(str(p) for p in path)
                yield key, Violation(".".join(key), keyword, reason, where, _pointer(path))
            return
        key = tuple(str(p) for p in at)
        yield key, Violation(".".join(key) or "(the record)", keyword, _reason(error), where, _pointer(at))
