"""JSON as AEP reads it: no ``NaN``, ``Infinity`` or ``-Infinity``, no number that only fits as infinity,
and no object with the same key twice.

Python's ``json`` accepts all of these by default (``1e999`` parses to ``inf``; of duplicate keys the last
wins, silently). Sent on, the constants make a whole request invalid JSON for AEP, and a duplicate key
means the record is ambiguous: which value did the sender mean? Both functions (streaming and batch) parse
records here, so a record is refused for the same reasons whichever way it arrives.

:func:`compact_encoder` writes JSON back as it travels (and in the canonical form of a deterministic id),
with the encoder built once instead of at every call.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from json import encoder as _json_encoder
from typing import Any

NON_JSON_CONSTANT = "the JSON has NaN or Infinity, which are not JSON numbers"
OUT_OF_RANGE = "the JSON has a number too large for a double (it would be infinity)"
DUPLICATE_KEY = "the JSON has an object with the same key twice"
TOO_MANY_DIGITS = "the JSON has a number with too many digits"


class StrictJsonError(ValueError):
    """The text is JSON to Python but not to AEP; ``str(error)`` is the reason (it never quotes the text)."""


def _constant(name: str) -> Any:
    raise StrictJsonError(NON_JSON_CONSTANT)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise StrictJsonError(OUT_OF_RANGE)
    return value


def _int(text: str) -> int:
    """Python refuses integers of more digits than ``sys.get_int_max_str_digits()`` (4,300 by default)
    with a message about its own limit; the reason here says what is wrong with the record instead."""
    limit = sys.get_int_max_str_digits()
    if limit and len(text) - text.startswith("-") > limit:
        raise StrictJsonError(TOO_MANY_DIGITS)
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise StrictJsonError(DUPLICATE_KEY)  # never the key: it may be an identity value
    return value


_DECODER = json.JSONDecoder(
    parse_constant=_constant, parse_float=_float, parse_int=_int, object_pairs_hook=_object
)


def loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses non-JSON constants, infinite numbers and duplicate keys with
    StrictJsonError (a ValueError, as every other parse error: ``json.JSONDecodeError``, bytes that are
    not UTF-8); an integer of more digits than Python converts is StrictJsonError too."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return _DECODER.decode(text)


#: CPython's C encoder factory (None elsewhere).
_C_MAKE_ENCODER: Callable[..., Any] | None = getattr(_json_encoder, "c_make_encoder", None)


def compact_encoder(*, sort_keys: bool = False, allow_nan: bool = True) -> Callable[[Any], str]:
    """``lambda value: json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys,
    allow_nan=allow_nan)``, the same text, made once: ``json.dumps`` builds an encoder at every call (about
    a microsecond of the few a record costs). Uses CPython's C encoder directly when it gives the very text
    ``json.dumps`` gives (checked here on a sample), else the encoder object.

    Values must not refer to themselves (parsed JSON never does): a cycle ends in RecursionError instead
    of ``json.dumps``' ValueError.
    """
    reference = json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys, allow_nan=allow_nan
    )
    make = _C_MAKE_ENCODER
    if make is None:  # another Python: the encoder object, still made once
        return reference.encode
    basestring = _json_encoder.encode_basestring
    try:
        c_encode = make(None, reference.default, basestring, None, ":", ",", sort_keys, False, allow_nan)

        def encode(value: Any) -> str:
            return "".join(c_encode(value, 0))

        sample = {"b": [1, 2.5, -0.0, 1e300, True, None, 'é\u2028"\\\n'], "a": {"z": {}, "y": []}, "": 10**30}
        same = encode(sample) == reference.encode(sample)
    except (TypeError, ValueError):  # a Python whose C encoder differs: the encoder object
        return reference.encode
    return encode if same else reference.encode
