from __future__ import annotations

import pytest

from aep.normalize import IdentityError, normalize_identity


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
