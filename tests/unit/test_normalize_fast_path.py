"""The E.164 fast path of phone normalisation gives what libphonenumber gives, and the per-container cache.

A phone that arrives canonical (``+`` country code, national number) is answered without parsing it
(:func:`aep.normalize.is_canonical_e164`). The claim is that libphonenumber would have answered the text
itself: checked here for every country calling code it knows, every national length E.164 allows, and
national numbers of many shapes (leading zeros, national prefixes, random digits).
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumber, ValidationResult

from aep import normalize
from aep.normalize import IdentityError, is_canonical_e164, normalize_phone


def libphonenumber_answer(text: str, region: str = "US") -> str:
    """What normalisation answered before the fast path: libphonenumber's E.164, or the refusal."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return "refused"
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return "refused"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def nationals(length: int, rng: random.Random) -> list[str]:
    """National numbers of one length: random ones, and ones that start as national prefixes do."""
    shapes = ["".join(rng.choice("0123456789") for _ in range(length)) for _ in range(6)]  # random digits
    for head in ("0", "00", "1", "01", "8", "9", "15", "11"):  # prefixes some countries strip
        if len(head) <= length:
            tail = "".join(rng.choice("0123456789") for _ in range(length - len(head)))
            shapes.append(head + tail)
    return shapes


def every_candidate() -> list[str]:
    rng = random.Random(20261201)
    out: list[str] = []
    for code in sorted(COUNTRY_CODE_TO_REGION_CODE):
        for length in range(1, 16 - len(str(code))):
            out.extend(f"+{code}{national}" for national in nationals(length, rng))
    return out


CANDIDATES = every_candidate()


def test_the_fast_path_answers_what_libphonenumber_answers_for_every_country_and_length():
    taken = [text for text in CANDIDATES if is_canonical_e164(text)]

    wrong = [text for text in taken if libphonenumber_answer(text) != text]

    assert wrong == []
    assert len(taken) > 5_000  # it serves most countries, not a handful (of about 34,000 candidates)


def test_every_number_libphonenumber_gives_back_unchanged_without_a_prefix_question_is_taken():
    # The converse, where it matters: a canonical number of the usual countries is not left to the slow path.
    for text in (
        "+14155550100",
        "+442079460123",
        "+4930123456",
        "+33142685300",
        "+61222222222",
        "+819012345678",
    ):
        assert libphonenumber_answer(text) == text
        assert is_canonical_e164(text), text


@pytest.mark.parametrize(
    "text",
    [
        "+1 415 555 0100",  # not E.164's shape: spaces
        "+114155550100",  # US national prefix 1 after the code: libphonenumber strips it
        "+4402079460123",  # UK national prefix 0 after the code
        "+1415555010",  # 9 national digits: not possible in the US
        "+1555",  # too short
        "+0123456789",  # no country code starts with 0
        "+9991234567",  # 999 is no country code
        "+1415555010\uff10",  # a full-width digit
        "14155550100",  # no +
    ],
)
def test_what_is_not_plainly_canonical_is_left_to_libphonenumber(text):
    assert not is_canonical_e164(text)


def test_the_possible_lengths_are_libphonenumbers_for_every_country_and_length():
    for code in COUNTRY_CODE_TO_REGION_CODE:
        plan = normalize._plan(code)
        for length in range(1, 18):
            number = PhoneNumber(country_code=code, national_number=int("1" * length))
            possible = phonenumbers.is_possible_number_with_reason(number) == ValidationResult.IS_POSSIBLE
            assert (length in plan.lengths) == possible, (code, length)


def test_a_canonical_number_is_answered_without_parsing(monkeypatch):
    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("libphonenumber was asked")

    monkeypatch.setattr(phonenumbers, "parse", no_parse)
    normalize.normalize_phone.cache_clear()

    assert normalize_phone(" +14155550177 ") == "+14155550177"
    normalize.normalize_phone.cache_clear()


def test_normalisation_answers_as_before_for_every_candidate_refusals_included(monkeypatch):
    sample = CANDIDATES[::7]
    normalize.normalize_phone.cache_clear()
    fast = {}
    for text in sample:
        try:
            fast[text] = normalize._e164(text, "US")
        except IdentityError as exc:
            fast[text] = f"refused: {exc}"
    monkeypatch.setattr(normalize, "is_canonical_e164", lambda text: False)
    slow = {}
    for text in sample:
        try:
            slow[text] = normalize._e164(text, "US")
        except IdentityError as exc:
            slow[text] = f"refused: {exc}"

    assert fast == slow


def test_a_repeated_caller_is_parsed_once_per_container(monkeypatch):
    calls = []
    parse = phonenumbers.parse

    def counted(*args: object, **kwargs: object) -> PhoneNumber:
        calls.append(args[0])
        return parse(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(phonenumbers, "parse", counted)
    normalize.normalize_phone.cache_clear()

    answers = {normalize_phone("(415) 555-0142") for _ in range(5)}

    assert answers == {"+14155550142"}
    assert calls == ["(415) 555-0142"]
    normalize.normalize_phone.cache_clear()


def test_the_cache_is_bounded():
    normalize.normalize_phone.cache_clear()
    maxsize = normalize.normalize_phone.cache_info().maxsize
    assert maxsize is not None
    assert 1_000 <= maxsize <= 100_000
    for n in range(maxsize + 10):
        normalize_phone(f"+1415{n:07d}")
    info = normalize.normalize_phone.cache_info()
    normalize.normalize_phone.cache_clear()

    assert info.currsize == maxsize
