"""Identity values normalised by one rule set, shared by ingestion and lookup.

The same caller must become the same identity whether the number arrived as ``(415) 555-0100`` in a call
record or as ``+1 415-555-0100`` in a lookup, otherwise AEP builds two profiles. Rules by namespace code
(case-insensitive): ``Phone`` and ``Phone_E.164`` to E.164 (Google's libphonenumber rules, via
phonenumberslite); ``Email`` trimmed and lowercased; every other namespace trimmed only (ECIDs and CRM ids
are case-sensitive). A namespace may be checked against an allow-list first (:func:`allowed_namespaces`).

Every :class:`IdentityError` message is fixed text: it never carries the value (identities are personal
data and these reasons end up in logs and dead-letter queues).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Set
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

PHONE_NAMESPACES = frozenset({"phone", "phone_e.164", "phone_e164"})
EMAIL_NAMESPACES = frozenset({"email"})
#: Allowed in every deployment, besides the namespaces of its own identity fields.
DEFAULT_NAMESPACES = ("Phone", "Email", "ECID")

#: What a phone number may be written with: digits, spaces, ( ) - . / and one leading +. No letters (a
#: vanity number or "ext." would be turned into other digits), no control characters.
_PHONE_TEXT = re.compile(r"\+?[0-9 ()./-]+")
#: E.164: a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
#: A namespace code as AEP writes them (``ECID``, ``Phone_E.164``, ``Email_LC_SHA256``, custom codes of
#: letters and digits). Only a key of this shape is echoed in a reason.
_NAMESPACE_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_NOT_A_CODE = "(a key that is not a namespace code)"

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "phone number has an unknown country code",
    NumberParseException.TOO_SHORT_AFTER_IDD: "phone number is too short for its country",
    NumberParseException.TOO_SHORT_NSN: "phone number is too short for its country",
    NumberParseException.TOO_LONG: "phone number is too long for its country",
}
_POSSIBILITY_REASONS = {
    ValidationResult.TOO_SHORT: "phone number is too short for its country",
    ValidationResult.TOO_LONG: "phone number is too long for its country",
    ValidationResult.INVALID_LENGTH: "phone number has an impossible length for its country",
    # Possible only when dialled inside its area: without the area code it is no E.164 number.
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: (
        "phone number has no area code (possible only as a local number)"
    ),
}


class IdentityError(ValueError):
    """The value cannot be an identity of that namespace (the message never carries the value)."""


@lru_cache(maxsize=65536)
def normalize_phone(value: str, default_region: str = "US") -> str:
    """E.164 (``+14155550100``) of every *possible* number, fictional and new ranges included.

    A number without ``+`` or ``00`` is national to ``default_region``; a leading ``00`` is the
    international prefix whatever the region. Raises IdentityError with the reason for anything else.
    Cached per container: a caller's number recurs in every call record.
    """
    return _e164(value, default_region)


def _e164(value: str, default_region: str) -> str:
    """:func:`normalize_phone` without the cache (a plain function: mutation testing skips decorated ones)."""
    text = value.strip()
    if not text:
        raise IdentityError("phone number is empty")
    if not _PHONE_TEXT.fullmatch(text):
        raise IdentityError("phone number has characters other than digits, spaces and + ( ) - . /")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)  # the region is ignored after a "+"
    except NumberParseException as exc:
        raise IdentityError(_PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    possibility = phonenumbers.is_possible_number_with_reason(number)
    if possibility != ValidationResult.IS_POSSIBLE:
        raise IdentityError(_POSSIBILITY_REASONS.get(possibility, "not a phone number"))
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not _E164.fullmatch(formatted):
        raise IdentityError("phone number has more than 15 digits (the E.164 maximum)")
    return formatted


def normalize_email(value: str) -> str:
    """Trimmed and lowercased. Raises IdentityError for a control character or a space inside, or anything
    but one ``@`` between a non-empty local part and a domain with a dot."""
    text = value.strip().lower()
    if not text:
        raise IdentityError("email address is empty")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in text):
        raise IdentityError("email address contains a control character")
    if any(char.isspace() for char in text):
        raise IdentityError("email address contains a space")
    if text.count("@") != 1:
        raise IdentityError("email address must have exactly one @")
    local, _, domain = text.partition("@")
    if not local:
        raise IdentityError("email address has an empty local part")
    if not domain:
        raise IdentityError("email address has an empty domain")
    if "." not in domain:
        raise IdentityError("email domain has no dot")
    return text


def allowed_namespaces(codes: Iterable[str]) -> frozenset[str]:
    """The allow-list for :func:`normalize_identity`: codes compared case-insensitively, as AEP does."""
    return frozenset(code.strip().lower() for code in codes)


def is_namespace_code(text: str) -> bool:
    """Whether ``text`` has the shape of a namespace code (a letter, then letters, digits, ``_ . -``)."""
    return _NAMESPACE_CODE.fullmatch(text) is not None


def namespace_label(namespace: str) -> str:
    """The namespace as it may appear in a reason or a log: the code itself when the key looks like a code
    (codes are not personal data), a placeholder otherwise (a key could be an e-mail address)."""
    return namespace if is_namespace_code(namespace) else _NOT_A_CODE


def check_namespace(namespace: str, allowed: Set[str]) -> None:
    """Raises IdentityError unless ``namespace`` is on ``allowed`` (from :func:`allowed_namespaces`)."""
    if namespace.strip().lower() not in allowed:
        raise IdentityError(f"namespace {namespace_label(namespace)} is not on the allowed list")


def normalize_identity(
    namespace: str, value: str, default_region: str = "US", allowed: Set[str] | None = None
) -> str:
    """The canonical form of ``value`` in ``namespace``. Raises IdentityError when it cannot be one, or
    when ``allowed`` is given and the namespace is not on it."""
    if allowed is not None:
        check_namespace(namespace, allowed)
    code = namespace.strip().lower()
    if code in PHONE_NAMESPACES:
        return normalize_phone(value, default_region)
    if code in EMAIL_NAMESPACES:
        return normalize_email(value)
    text = value.strip()
    if not text:
        raise IdentityError("identity value is empty")
    return text
