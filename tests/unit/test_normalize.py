from __future__ import annotations

import pytest

from aep.normalize import (
    DEFAULT_NAMESPACES,
    IdentityError,
    allowed_namespaces,
    namespace_label,
    normalize_email,
    normalize_identity,
    normalize_phone,
)


@pytest.mark.parametrize(
    ("namespace", "raw", "expected"),
    [
        ("Phone", "(415) 555-0100", "+14155550100"),
        ("phone", "+1 415-555-0100", "+14155550100"),
        ("Phone", " 020 7183 8750 ", "+442071838750"),
        ("Phone_E.164", "+33 1 42 68 53 00", "+33142685300"),
        ("Email", "  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("ECID", " 89149270342662559642753730269986316601 ", "89149270342662559642753730269986316601"),
        ("CRMID", "AbC-123", "AbC-123"),
    ],
)
def test_identities_are_normalised(namespace, raw, expected):
    region = "GB" if raw.strip().startswith("020") else "US"

    assert normalize_identity(namespace, raw, region) == expected


@pytest.mark.parametrize(
    ("namespace", "raw"),
    [
        ("Phone", "call me"),
        ("Phone", "+1 415"),
        ("Phone", ""),
        ("Email", "jane"),
        ("Email", "a b@c.d"),
        ("ECID", "  "),
    ],
)
def test_invalid_identities_are_refused(namespace, raw):
    with pytest.raises(IdentityError):
        normalize_identity(namespace, raw)


def test_same_caller_same_identity_whatever_the_format():
    forms = ["4155550100", "415.555.0100", "+1 (415) 555 0100", "1-415-555-0100"]

    assert {normalize_identity("Phone", f) for f in forms} == {"+14155550100"}


# Item 9: every possible number (fictional ranges too); `00` is the international prefix; E.164 or refused.
CHARACTERS = "phone number has characters other than digits, spaces and + ( ) - . /"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 7700 900123", "US", "+447700900123"),  # UK drama range (Ofcom): possible, not "valid"
        ("07700 900123", "GB", "+447700900123"),
        ("+33 6 39 98 00 00", "US", "+33639980000"),  # France's fictional mobile range (ARCEP)
        ("+33 1 99 00 12 34", "US", "+33199001234"),
        ("00 44 20 7946 0958", "US", "+442079460958"),  # `00` read as the international prefix...
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("0033 1 42 68 53 00", "FR", "+33142685300"),  # ...whatever the default region
        ("+39 06 1234 5678", "US", "+390612345678"),  # Italy keeps its leading zero
        ("+683 4001", "US", "+6834001"),  # Niue: a 7-digit E.164 number
        ("030/1234567", "DE", "+49301234567"),
    ],
)
def test_possible_numbers_are_accepted_in_e164(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "US", "phone number is empty"),
        ("   ", "US", "phone number is empty"),
        ("call me", "US", CHARACTERS),
        ("+1 415 555 0100 call me", "US", CHARACTERS),
        ("1-800-FLOWERS", "US", CHARACTERS),
        ("+1 415 555 0100 ext 2", "US", CHARACTERS),
        ("415+555 0100", "US", CHARACTERS),
        ("+1\n415 555 0100", "US", CHARACTERS),
        ("+999 1234567", "US", "phone number has an unknown country code"),
        ("00", "US", "not a phone number"),
        ("+4", "US", "not a phone number"),
        ("011", "US", "phone number is too short for its country"),  # the US international prefix alone
        ("+44 1", "US", "phone number is too short for its country"),
        ("+1 415555010000000000", "US", "phone number is too long for its country"),
        ("+1 415", "US", "phone number is too short for its country"),
        ("+1 415 555 01000", "US", "phone number is too long for its country"),
        ("555 0100", "US", "phone number has no area code (possible only as a local number)"),
        ("+4930123456789012", "US", "phone number has more than 15 digits (the E.164 maximum)"),
    ],
)
def test_impossible_numbers_are_refused_with_their_reason(raw, region, reason):
    with pytest.raises(IdentityError) as caught:
        normalize_phone(raw, region)

    assert str(caught.value) == reason


def test_a_german_number_of_15_digits_is_the_longest_accepted():
    assert normalize_phone("+49 3012345678901", "US") == "+493012345678901"
    with pytest.raises(IdentityError, match="more than 15 digits"):
        normalize_phone("+49 30123456789012", "US")


def test_an_impossible_length_for_its_country_is_refused():
    # Australia: national numbers of 9 (and 10, 12) digits are possible, 11 is not; 13+ is too long.
    with pytest.raises(IdentityError) as caught:
        normalize_phone("+61 2 2222 2222 22", "US")

    assert str(caught.value) == "phone number has an impossible length for its country"


# Item 10: emails.


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("\tjane@example.com\n", "jane@example.com"),  # surrounding whitespace is trimmed
        ("JANE+tag@Sub.Example.Org", "jane+tag@sub.example.org"),
    ],
)
def test_emails_are_trimmed_and_lowercased(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "email address is empty"),
        (" \t ", "email address is empty"),
        ("jane@exam\nple.com", "email address contains a control character"),
        ("jane\x00@example.com", "email address contains a control character"),
        ("jane@example.com\x00", "email address contains a control character"),
        ("ja\tne@example.com", "email address contains a control character"),
        ("jane@exa\u200bmple.com", "email address contains a control character"),  # zero-width space: Cf
        ("jane\u00ad@example.com", "email address contains a control character"),  # soft hyphen: Cf
        ("jane@exam\x7fple.com", "email address contains a control character"),
        ("a b@c.d", "email address contains a space"),
        ("a\u00a0b@c.d", "email address contains a space"),
        ("a@b\u2028c.d", "email address contains a space"),
        ("jane", "email address must have exactly one @"),
        ("jane@doe@example.com", "email address must have exactly one @"),
        ("@example.com", "email address has an empty local part"),
        ("jane@", "email address has an empty domain"),
        ("jane@localhost", "email domain has no dot"),
    ],
)
def test_malformed_emails_are_refused_with_their_reason(raw, reason):
    with pytest.raises(IdentityError) as caught:
        normalize_email(raw)

    assert str(caught.value) == reason


def test_email_reasons_never_carry_the_value():
    with pytest.raises(IdentityError) as caught:
        normalize_identity("Email", "jane@doe@example.com")

    assert "jane" not in str(caught.value)


# Item 11: namespaces on an allow-list.


def test_default_namespaces_are_phone_email_and_ecid():
    assert DEFAULT_NAMESPACES == ("Phone", "Email", "ECID")


def test_allow_list_is_case_insensitive_and_includes_extra_codes():
    allowed = allowed_namespaces(["CRMID", " Phone_E.164 "])

    assert allowed == frozenset({"crmid", "phone_e.164"})
    assert normalize_identity("crmId", " AbC-1 ", allowed=allowed) == "AbC-1"
    assert normalize_identity("PHONE_E.164", "+1 415 555 0100", allowed=allowed) == "+14155550100"


def test_a_namespace_off_the_list_is_refused_naming_the_code():
    allowed = allowed_namespaces(DEFAULT_NAMESPACES)

    with pytest.raises(IdentityError) as caught:
        normalize_identity("CRMID", "AbC-123", allowed=allowed)

    assert str(caught.value) == "namespace CRMID is not on the allowed list"


def test_a_key_that_is_no_namespace_code_is_refused_without_echoing_it():
    allowed = allowed_namespaces(DEFAULT_NAMESPACES)

    with pytest.raises(IdentityError) as caught:
        normalize_identity("jane@example.com", "x", allowed=allowed)

    assert str(caught.value) == "namespace (a key that is not a namespace code) is not on the allowed list"


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("Phone", "Phone"),
        ("Phone_E.164", "Phone_E.164"),
        ("Email_LC_SHA256", "Email_LC_SHA256"),
        ("Acme-CRM", "Acme-CRM"),
        ("x" * 64, "x" * 64),
        ("x" * 65, "(a key that is not a namespace code)"),
        ("14155550100", "(a key that is not a namespace code)"),
        ("jane@example.com", "(a key that is not a namespace code)"),
        ("a b", "(a key that is not a namespace code)"),
        ("", "(a key that is not a namespace code)"),
        ("Phone\n", "(a key that is not a namespace code)"),
    ],
)
def test_namespace_label_only_echoes_what_looks_like_a_code(key, label):
    assert namespace_label(key) == label


def test_without_an_allow_list_every_namespace_passes():
    assert normalize_identity("Anything", "v") == "v"


def test_the_namespace_is_trimmed_before_the_allow_list_check():
    allowed = allowed_namespaces(["CRMID"])

    assert normalize_identity(" crmid ", "v", allowed=allowed) == "v"


def test_an_empty_allow_list_allows_nothing():
    with pytest.raises(IdentityError, match=r"^namespace Phone is not on the allowed list$"):
        normalize_identity("Phone", "+14155550100", allowed=frozenset())


def test_national_numbers_default_to_the_us():
    assert normalize_phone("(415) 555-0100") == "+14155550100"


@pytest.mark.parametrize("namespace", ["Phone", "phone_e.164", "PHONE_E164"])
def test_every_phone_namespace_is_normalised_as_a_phone(namespace):
    assert normalize_identity(namespace, "415.555.0100") == "+14155550100"


def test_an_empty_value_of_another_namespace_is_refused_with_its_reason():
    with pytest.raises(IdentityError) as caught:
        normalize_identity("ECID", " \t ")

    assert str(caught.value) == "identity value is empty"
