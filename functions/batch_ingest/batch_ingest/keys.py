"""Key rules: decode an S3 notification's key exactly once, refuse unsafe keys, find the route.

S3 event notifications carry the object key URL-encoded (``+`` for a space). It is decoded exactly once
with :func:`urllib.parse.unquote_plus` (strict UTF-8) and the object is then fetched by that exact string:
no Unicode normalisation, no second decoding. A key is refused (reported, never read) when:

- it is not valid percent-encoded UTF-8 (a ``%`` not followed by two hex digits, as S3 never encodes
  a key, included: such a key names no object);
- it holds a control character (U+0000-U+001F, U+007F);
- it starts with ``/`` (an empty first segment);
- a segment is ``.`` or ``..``, in the key as decoded or after a second decoding (``%2E%2E%2F`` hidden
  behind a literal ``%``: a consumer decoding twice would climb out of the prefix);
- no route's prefix matches it.

Keys under the reports prefix are ignored, not refused: our own reports must not trigger the function.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from batch_ingest.routes import Route, route_for

Verdict = Literal["accepted", "ignored", "refused"]


@dataclass(frozen=True)
class KeyDecision:
    verdict: Verdict
    key: str | None  # the decoded key (None when it could not be decoded)
    route: Route | None = None
    reason: str | None = None


_INVALID_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def decode_key(raw: str) -> str:
    """The key as S3 stores it. Raises ValueError when the encoding is not UTF-8."""
    return unquote_plus(raw, encoding="utf-8", errors="strict")


def _has_dot_segment(key: str) -> bool:
    return any(segment in {".", ".."} for segment in key.split("/"))


def _has_control(key: str) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in key)


def key_problem(key: str) -> str | None:
    """Why a decoded key is refused, or None."""
    if _has_control(key):
        return "the key holds a control character"
    if key.startswith("/"):
        return "the key starts with an empty segment"
    if _has_dot_segment(key):
        return "the key holds a '.' or '..' segment"
    try:
        twice = unquote_plus(key, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        twice = key
    if _has_dot_segment(twice) or twice.startswith("/"):
        return "the key holds a '.' or '..' segment once decoded again"
    return None


def judge_key(raw: str, routes: Sequence[Route], ignored: Sequence[str]) -> KeyDecision:
    """The decision for a notification's raw (URL-encoded) key; keys under an ``ignored`` prefix (the
    reports, the files the follow-up moved after ingestion) are the product's own: ignored."""
    if _INVALID_ESCAPE.search(raw):  # ``unquote_plus`` would keep ``%zz``: a key no object has
        return KeyDecision("refused", None, reason="the key holds an invalid percent escape")
    try:
        key = decode_key(raw)
    except UnicodeDecodeError:
        return KeyDecision("refused", None, reason="the key is not URL-encoded UTF-8")
    if key.startswith(tuple(ignored)):
        return KeyDecision("ignored", key, reason="a report, or a file already ingested")
    problem = key_problem(key)
    if problem is not None:
        return KeyDecision("refused", key, reason=problem)
    route = route_for(routes, key)
    if route is None:
        return KeyDecision("refused", key, reason="no route matches the key")
    return KeyDecision("accepted", key, route)
