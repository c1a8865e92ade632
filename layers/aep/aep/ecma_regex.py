"""A schema's ``pattern`` (ECMA-262, JSON Schema's regex dialect) as a Python :mod:`re` pattern.

JSON Schema says a ``pattern`` is an ECMA-262 regular expression, searched (not anchored). Python's ``re``
reads most of it the same way, but not all; :func:`compile_pattern` translates what differs:

- ``$`` (outside a class) is the very end of the string in ECMA; Python's also matches before a final
  newline: it becomes ``\\Z``;
- ``\\d``, ``\\w`` and ``\\b`` are ASCII in ECMA (``[0-9]``, ``[A-Za-z0-9_]``): compiled with ``re.ASCII``;
- ``\\s`` is Unicode white space and line terminators in ECMA (ECMA-262 WhiteSpace and LineTerminator):
  written out as that class (``re.ASCII`` would shrink it to six characters);
- ``.`` excludes the four ECMA line terminators (``\\n``, ``\\r``, U+2028, U+2029), not only ``\\n``;
- named groups ``(?<name>...)`` become ``(?P<name>...)`` and ``\\k<name>`` becomes ``(?P=name)``;
- ``[]`` (matches nothing) and ``[^]`` (any character) keep their ECMA meaning.

What has no translation (Unicode property escapes ``\\p{L}``, ``\\c`` control escapes, ``\\S`` inside a
class, a lookbehind of variable width...) raises :class:`PatternError`: the caller skips that field's
pattern, never the whole schema.

Catastrophic backtracking: ``re`` has no timeout, so two cheap guards. A pattern with a quantified group
that holds an unbounded quantifier itself (``(a+)+``, ``(\\w+\\s?)*``: the shape of exponential
backtracking) is refused here (:class:`PatternError`, skipped by the caller); and the caller does not
match strings longer than :data:`MAX_PATTERN_INPUT` (polynomial backtracking grows with the length).
"""

from __future__ import annotations

import re

#: ECMA-262 ``\s``: WhiteSpace (TAB, VT, FF, SP, NBSP, ZWNBSP, the Zs category) and LineTerminator.
_SPACE = "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
_DOT = "[^\\n\\r\\u2028\\u2029]"
#: Strings longer than this are not matched against a pattern (code points; see the module).
MAX_PATTERN_INPUT = 10_000
#: Escapes Python's ``re`` gives another meaning than ECMA (an ECMA identity escape: the letter itself).
_PYTHON_ONLY_ESCAPES = frozenset("AZaUNz")


class PatternError(ValueError):
    """A pattern with no faithful Python translation (or one that may backtrack catastrophically)."""


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` (ECMA-262) compiled for :meth:`re.Pattern.search`. Raises PatternError (see the module)."""
    if _nested_quantifier(pattern):
        raise PatternError("a quantified group holds an unbounded quantifier (catastrophic backtracking)")
    translated = translate(pattern)
    try:
        return re.compile(translated, re.ASCII)
    except (re.error, OverflowError, RecursionError) as exc:
        raise PatternError(f"Python cannot compile it ({exc})") from exc


def translate(pattern: str) -> str:  # noqa: PLR0915 - one scanner, one branch per construct
    """The Python spelling of an ECMA-262 pattern (to compile with ``re.ASCII``). Raises PatternError."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise PatternError("a trailing backslash")
            e = pattern[i + 1]
            if e in "pP":
                raise PatternError("Unicode property escapes (\\p{...}) have no Python re equivalent")
            if e == "c":
                raise PatternError("control escapes (\\cX) have no Python re equivalent")
            if e == "s":
                out.append(_SPACE if in_class else f"[{_SPACE}]")
            elif e == "S":
                if in_class:
                    raise PatternError("\\S inside a character class has no Python re equivalent")
                out.append(f"[^{_SPACE}]")
            elif e == "k" and not in_class and pattern.startswith("<", i + 2):
                end = pattern.find(">", i + 3)
                if end < 0:
                    raise PatternError("an unterminated \\k<name>")
                out.append(f"(?P={pattern[i + 3 : end]})")
                i = end + 1
                continue
            elif e in _PYTHON_ONLY_ESCAPES:
                out.append(e)
            else:
                out.append(c + e)
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
                out.append(c)
            elif c in "[&~|":  # literal in ECMA; Python warns (nested sets, set operations)
                out.append("\\" + c)
            else:
                out.append(c)
            i += 1
            continue
        if pattern.startswith("[]", i):
            out.append("(?!)")
            i += 2
        elif pattern.startswith("[^]", i):
            out.append("(?s:.)")
            i += 3
        elif c == "[":
            in_class = True
            out.append(c)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
        elif c == "$":
            out.append("\\Z")
            i += 1
        elif c == ".":
            out.append(_DOT)
            i += 1
        elif pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _unbounded_at(pattern: str, i: int) -> bool:
    """Whether a quantifier starting at ``i`` has no upper bound (``*``, ``+``, ``{n,}``)."""
    if i >= len(pattern):
        return False
    if pattern[i] in "*+":
        return True
    match = re.match(r"\{\d+,\}", pattern[i:])
    return match is not None


def _nested_quantifier(pattern: str) -> bool:
    """Whether a group with an unbounded quantifier inside is itself quantified without bound."""
    stack: list[bool] = []  # per open group: holds an unbounded quantifier
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            if pattern.startswith(("[]", "[^]"), i):  # ECMA's empty class and any-character class
                i += 2 if pattern.startswith("[]", i) else 3
                continue
            in_class = True
        elif c == "(":
            stack.append(False)
        elif c == ")" and stack:
            inner = stack.pop()
            if inner and _unbounded_at(pattern, i + 1):
                return True
            if stack and (inner or _unbounded_at(pattern, i + 1)):
                stack[-1] = True
        elif stack and _unbounded_at(pattern, i):
            stack[-1] = True
        i += 1
    return False
