"""The string formats the connector checks before sending: ``uri``, ``uri-reference`` and ``email``.

Written from the grammars themselves (no dependency), so that a record the connector lets through is one
AEP's streaming validator accepts too (its refusals are asynchronous: the record would be lost to the
dataset's failed batch). The emulator checks the same formats with its own code
(``local/aep_emulator/conformance.py``); ``tests/unit/test_format_agreement.py`` runs both over the same
values and requires them to agree.

- ``uri`` and ``uri-reference``: RFC 3986 Appendix A, exactly: percent-encodings are ``%`` and two hex
  digits, at most one ``#``, ``[`` and ``]`` only around an IP literal (IPv6 or ``vX.…``), ASCII only
  (an IRI such as ``https://x.org/ä`` is not a URI), ports are digits; a relative reference whose first
  segment holds a ``:`` is not one (``a:b`` is a URI with scheme ``a``; ``1a:b`` is neither).
- ``email``: RFC 5321's ``Mailbox`` (section 4.1.2: the definition JSON Schema gives the format since
  draft 2019-09; the draft-06 text XDM's schemas name, RFC 5322 section 3.4.1, leaves the domain's syntax
  to RFC 5321/1034): a dot-atom or quoted local part of at most 64 characters; a domain of
  letter-digit-hyphen labels (not starting or ending with ``-``, at most 63 each) with at least one dot,
  the whole address at most 254 characters (RFC 5321 4.5.3.1). ASCII only (internationalised
  addresses are ``idn-email``). Not accepted, as AEP documents none of them: address literals
  (``a@[192.0.2.1]``), a domain without a dot (``a@localhost``: RFC 5321 2.3.5 asks for fully-qualified
  names), comments and folding white space (RFC 5322 only).
"""

from __future__ import annotations

import re

_HEX = "[0-9A-Fa-f]"
_PCT = f"%{_HEX}{_HEX}"
_UNRESERVED = r"A-Za-z0-9._~\-"
_SUB_DELIMS = "!$&'()*+,;="
_PCHAR = f"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_DEC_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_DEC_OCTET}(?:\.{_DEC_OCTET}){{3}}"
_H16 = f"{_HEX}{{1,4}}"
_LS32 = f"(?:{_H16}:{_H16}|{_IPV4})"


def _ipv6() -> str:
    """RFC 3986's IPv6address: nine forms, by how many 16-bit groups stand before and after ``::``."""
    forms = [f"(?:{_H16}:){{6}}{_LS32}", f"::(?:{_H16}:){{5}}{_LS32}"]
    for before, after in ((0, 4), (1, 3), (2, 2), (3, 1), (4, 0)):
        head = f"(?:(?:{_H16}:){{0,{before}}}{_H16})?"
        forms.append(f"{head}::(?:{_H16}:){{{after}}}{_LS32}")
    forms.append(f"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}")
    forms.append(f"(?:(?:{_H16}:){{0,6}}{_H16})?::")
    return "(?:" + "|".join(forms) + ")"


_IP_LITERAL = rf"\[(?:{_ipv6()}|[vV]{_HEX}+\.[{_UNRESERVED}{_SUB_DELIMS}:]+)\]"
_AUTHORITY = (
    rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"  # userinfo
    rf"(?:{_IP_LITERAL}|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*)"  # host (IPv4 is a reg-name too)
    r"(?::[0-9]*)?"  # port
)
_SEGMENTS = f"(?:/{_PCHAR}*)*"
_TAIL = rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"  # query, fragment
_SCHEME = "[A-Za-z][A-Za-z0-9+.-]*"
_HIER_PART = f"(?://{_AUTHORITY}{_SEGMENTS}|/(?:{_PCHAR}+{_SEGMENTS})?|{_PCHAR}+{_SEGMENTS}|)"
_SEGMENT_NZ_NC = f"(?:[{_UNRESERVED}{_SUB_DELIMS}@]|{_PCT})+"
_RELATIVE_PART = f"(?://{_AUTHORITY}{_SEGMENTS}|/(?:{_PCHAR}+{_SEGMENTS})?|{_SEGMENT_NZ_NC}{_SEGMENTS}|)"

_URI = re.compile(f"{_SCHEME}:{_HIER_PART}{_TAIL}")
_RELATIVE_REF = re.compile(f"{_RELATIVE_PART}{_TAIL}")
# A reference that starts with what looks like a scheme and a colon can only be a URI.
_SCHEME_PREFIX = re.compile(f"{_SCHEME}:")
# Unreserved characters only (a record's ``_id`` as the connector makes it): one path segment, always valid.
_PLAIN = re.compile(f"[{_UNRESERVED}]*")

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_LOCAL_PART = rf"(?:[{_ATEXT}]+(?:\.[{_ATEXT}]+)*|\"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*\")"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MAILBOX = re.compile(rf"({_LOCAL_PART})@{_LABEL}(?:\.{_LABEL})+")
MAX_EMAIL = 254
MAX_LOCAL_PART = 64


def is_uri(text: str) -> bool:
    """True when ``text`` is an absolute URI with a scheme (RFC 3986 ``URI``)."""
    return _URI.fullmatch(text) is not None


def is_uri_reference(text: str) -> bool:
    """True when ``text`` is a URI or a relative reference (RFC 3986 ``URI-reference``; ``""`` is one)."""
    if _PLAIN.fullmatch(text) is not None:
        return True
    if _SCHEME_PREFIX.match(text) is not None:
        return _URI.fullmatch(text) is not None
    return _RELATIVE_REF.fullmatch(text) is not None


def is_email(text: str) -> bool:
    """True when ``text`` is an e-mail address as the module describes (RFC 5321 ``Mailbox``)."""
    if len(text) > MAX_EMAIL:
        return False
    match = _MAILBOX.fullmatch(text)
    return match is not None and len(match.group(1)) <= MAX_LOCAL_PART
