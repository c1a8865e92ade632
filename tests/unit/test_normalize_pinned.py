"""Identity normalisation, behaviour pinned where mutation testing found none pinned (item 28)."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import ValidationResult

from aep import normalize
from aep.normalize import IdentityError


def test_a_possibility_without_its_own_reason_is_not_a_phone_number(monkeypatch):
    # phonenumbers may answer a reason this module has no text for (INVALID_COUNTRY_CODE today, anything a
    # later release adds): the record is still refused, with the generic reason.
    monkeypatch.setattr(
        phonenumbers, "is_possible_number_with_reason", lambda number: ValidationResult.INVALID_COUNTRY_CODE
    )
    normalize.normalize_phone.cache_clear()

    with pytest.raises(IdentityError) as caught:
        normalize.normalize_phone("+1 415 555 0100", "US")

    assert str(caught.value) == "not a phone number"
    normalize.normalize_phone.cache_clear()


def test_an_international_prefix_of_00_reads_as_plus():
    from aep.normalize import normalize_phone

    assert normalize_phone("0044 20 7946 0123", "US") == "+442079460123"
