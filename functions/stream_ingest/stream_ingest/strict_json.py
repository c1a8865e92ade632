"""JSON as AEP reads it: no ``NaN``, ``Infinity`` or ``-Infinity``, and no number that only fits as infinity.

Python's ``json`` accepts all of these by default (``1e999`` parses to ``inf``); sent on, they make the
whole request invalid JSON for AEP, so they are refused here, for the one message that carries them.
"""

from __future__ import annotations

import json
import math
from typing import Any

NON_JSON_CONSTANT = "message body has NaN or Infinity, which are not JSON numbers"
OUT_OF_RANGE = "message body has a number too large for a double (it would be infinity)"


class StrictJsonError(ValueError):
    """The text is JSON to Python but not to AEP; ``str(error)`` is the reason (it never quotes the text)."""


def _constant(name: str) -> Any:
    raise StrictJsonError(NON_JSON_CONSTANT)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise StrictJsonError(OUT_OF_RANGE)
    return value


_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float)  # one, not one per call


def loads(text: str) -> Any:
    """``json.loads`` that refuses non-JSON constants and infinite numbers with StrictJsonError (a
    ValueError, as every other parse error: ``json.JSONDecodeError``, too many digits in an integer)."""
    return _DECODER.decode(text)
