"""The access token value object and the Platform headers: exact values, never the token in a repr."""

from __future__ import annotations

import hashlib

import pytest

from aep.auth import PlatformAuthenticator
from aep.token import AccessToken, is_bearer_token


@pytest.mark.parametrize(
    "value",
    ["a", "Z9", "abc-._~+/", "eyJ.x-y_z~1+2/3==", "tok=", "A" * 4000],
)
def test_b64token_charset_is_accepted(value):
    assert is_bearer_token(value) is True
    assert AccessToken(value=value, expires_at=1.0).value == value


@pytest.mark.parametrize(
    "value",
    ["", "=", "==abc", "a=b", "a b", "a\r\nb", "a\n", " a", "tök", "a,b", "a;b", 'a"b', "a\\b", "a@b"],
)
def test_values_outside_the_b64token_charset_are_refused(value):
    assert is_bearer_token(value) is False
    with pytest.raises(ValueError, match=r"^access token is not an RFC 6750 b64token$"):
        AccessToken(value=value, expires_at=1.0)


def test_a_token_that_is_not_a_string_is_refused():
    with pytest.raises(ValueError, match=r"^access token is not an RFC 6750 b64token$"):
        AccessToken(value=b"abc", expires_at=1.0)  # type: ignore[arg-type]


def test_issued_at_defaults_to_zero_meaning_unknown():
    assert AccessToken(value="abc", expires_at=5.0).issued_at == 0.0


def test_fingerprint_is_the_first_eight_hex_digits_of_sha256():
    token = AccessToken(value="eyJsecret", expires_at=1.0)

    assert token.fingerprint == hashlib.sha256(b"eyJsecret").hexdigest()[:8]
    assert token.fingerprint == "b90c66a3"


def test_str_and_repr_name_the_fingerprint_and_expiry_never_the_value():
    token = AccessToken(value="eyJsecret", expires_at=1_800_000_000.4, issued_at=3.0)

    assert str(token) == "AccessToken(fingerprint=b90c66a3, expires_at=1800000000)"
    assert repr(token) == "AccessToken(expires_at=1800000000.4, issued_at=3.0)"


class Tokens:
    def __init__(self) -> None:
        self.invalidated: list[str] = []

    def get(self) -> AccessToken:
        return AccessToken(value="tok-1", expires_at=10.0)

    def invalidate(self, value: str) -> None:
        self.invalidated.append(value)


def authenticator(tokens: Tokens) -> PlatformAuthenticator:
    return PlatformAuthenticator(
        tokens, api_key="client-id", org_id="ORG@AdobeOrg", sandbox_name="dev-sandbox"
    )


def test_headers_are_exactly_the_four_platform_headers():
    assert authenticator(Tokens()).headers() == {
        "Authorization": "Bearer tok-1",
        "x-api-key": "client-id",
        "x-gw-ims-org-id": "ORG@AdobeOrg",
        "x-sandbox-name": "dev-sandbox",
    }


def test_repr_names_the_org_only():
    assert repr(authenticator(Tokens())) == "PlatformAuthenticator(org_id='ORG@AdobeOrg')"


@pytest.mark.parametrize(
    ("header", "reported"),
    [
        ("Bearer tok-1", ["tok-1"]),
        ("Bearer  tok-1 ", ["tok-1"]),
        ("tok-2", ["tok-2"]),
        ("Bearer ", []),
        ("Bearer   ", []),
        ("", []),
    ],
)
def test_invalidate_reports_the_bare_token_and_ignores_an_empty_one(header, reported):
    tokens = Tokens()

    authenticator(tokens).invalidate(header)

    assert tokens.invalidated == reported
