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
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, NumberParseException, PhoneMetadata, ValidationResult

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
    if is_canonical_e164(text):
        return text  # what libphonenumber would answer, without asking it (an IVR's caller id usually is)
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


@dataclass(frozen=True)
class _CountryPlan:
    """What libphonenumber's parse of ``+<code><national>`` depends on, for one country calling code."""

    lengths: frozenset[int]  # national lengths it calls possible (not "local only")
    national_prefix: re.Pattern[str] | None  # what it would strip as a national prefix


_PLANS: dict[int, _CountryPlan] = {}
#: Country calling codes have 1 to 3 digits and no code is the prefix of another (ITU-T E.164).
_CODE_LENGTHS = (1, 2, 3)
#: libphonenumber refuses a national number shorter than this (its _MIN_LENGTH_FOR_NSN).
_MIN_NATIONAL = 2


def _plan(code: int) -> _CountryPlan:
    plan = _PLANS.get(code)
    if plan is None:
        region = COUNTRY_CODE_TO_REGION_CODE[code][0]  # the main region, as parse and the length test use
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        if metadata is None or metadata.general_desc is None:  # not seen: then never the fast path
            plan = _CountryPlan(lengths=frozenset(), national_prefix=None)
        else:
            general = metadata.general_desc
            prefix = metadata.national_prefix_for_parsing
            plan = _CountryPlan(
                lengths=frozenset(general.possible_length) - frozenset(general.possible_length_local_only),
                national_prefix=re.compile(prefix) if prefix else None,
            )
        _PLANS[code] = plan
    return plan


def is_canonical_e164(text: str) -> bool:
    """Whether ``text`` is a number libphonenumber would give back unchanged, decided without parsing it.

    True only for ``+`` and digits (E.164's shape) whose country code libphonenumber knows, whose national
    part has a length it calls possible for that country (a full number, not a local one), and does not
    start with what it strips as a national prefix. Parsing such a text, libphonenumber takes the same
    country code (the first 1-3 digits that are one: codes are prefix-free), strips nothing, keeps leading
    zeros, finds the number possible, and formats ``+`` code national: the text itself. Anything else
    (False) goes through libphonenumber. tests/unit/test_normalize_fast_path.py checks this against
    libphonenumber for every country code and national length.
    """
    if not _E164.fullmatch(text):
        return False
    digits = text[1:]
    for size in _CODE_LENGTHS:
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            plan = _plan(code)
            if len(national) < _MIN_NATIONAL or len(national) not in plan.lengths:
                return False
            return plan.national_prefix is None or plan.national_prefix.match(national) is None
    return False


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
