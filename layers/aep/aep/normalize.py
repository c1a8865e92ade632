"""Identity values normalised by one rule set, shared by ingestion and lookup.

The same caller must become the same identity whether the number arrived as ``(415) 555-0100`` in a call
record or as ``+1 415-555-0100`` in a lookup, otherwise AEP builds two profiles. Rules by namespace code
(case-insensitive): ``Phone`` and ``Phone_E.164`` to E.164 with a default region for national numbers
(Google's libphonenumber rules, via phonenumberslite); ``Email`` trimmed and lowercased; every other
namespace trimmed only (ECIDs and CRM ids are case-sensitive).
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

PHONE_NAMESPACES = frozenset({"phone", "phone_e.164", "phone_e164"})
EMAIL_NAMESPACES = frozenset({"email"})


class IdentityError(ValueError):
    """The value cannot be an identity of that namespace."""


@lru_cache(maxsize=65536)
def normalize_phone(value: str, default_region: str = "US") -> str:
    """E.164 (``+14155550100``). Raises IdentityError for a value that is not a valid number.

    Cached per container: a caller's number recurs in every call record.
    """
    text = value.strip()
    if not text:
        raise IdentityError("phone number is empty")
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        raise IdentityError("not a phone number") from None
    # The default region first (one region's rules), then every region of the country code.
    if not phonenumbers.is_valid_number_for_region(
        number, default_region
    ) and not phonenumbers.is_valid_number(number):
        raise IdentityError("not a valid phone number for its region")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str:
    text = value.strip().lower()
    local, _, domain = text.partition("@")
    if not local or not domain or "." not in domain or " " in text:
        raise IdentityError("not an email address")
    return text


def normalize_identity(namespace: str, value: str, default_region: str = "US") -> str:
    """The canonical form of ``value`` in ``namespace``. Raises IdentityError when it cannot be one."""
    code = namespace.strip().lower()
    if code in PHONE_NAMESPACES:
        return normalize_phone(value, default_region)
    if code in EMAIL_NAMESPACES:
        return normalize_email(value)
    text = value.strip()
    if not text:
        raise IdentityError("identity value is empty")
    return text
