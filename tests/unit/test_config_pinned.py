"""aep.config, pinned: every default, every variable's field, every bound, the exact messages a user reads
when the configuration or the credentials secret is wrong, and which URLs count as loopback."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from aep import AepConfigError, AepCredentials, AepSettings
from aep.config import DEFAULT_SCOPES, ENVIRONMENT, _describe, check_url, parse_env

REQUIRED = {"AEP_CREDENTIALS_SECRET_ID": "aep/credentials", "AEP_TOKEN_SECRET_ID": "aep/token"}
CREDENTIALS = {"client_id": "cid", "client_secret": "sec", "org_id": "ABC123@AdobeOrg"}


def refusal(**env: str) -> str:
    with pytest.raises(AepConfigError) as caught:
        AepSettings.from_env({**REQUIRED, **env})
    return str(caught.value)


def test_every_default():
    settings = AepSettings.from_env(REQUIRED)

    assert settings.model_dump() == {
        "credentials_secret_id": "aep/credentials",
        "token_secret_id": "aep/token",
        "sandbox_name": "prod",
        "ims_url": "https://ims-na1.adobelogin.com",
        "platform_url": "https://platform.adobe.io",
        "streaming_url": "https://dcs.adobedc.net",
        "connect_timeout": 3.05,
        "read_timeout": 30.0,
        "max_attempts": 5,
        "max_backoff": 20.0,
        "pool_size": 16,
        "token_refresh_margin": 3600,
        "token_refresh_jitter": 1800,
    }


def test_each_variable_sets_its_own_field():
    env = {
        "AEP_CREDENTIALS_SECRET_ID": " creds ",
        "AEP_TOKEN_SECRET_ID": "tok",
        "AEP_SANDBOX_NAME": "dev-1",
        "AEP_IMS_URL": "https://ims.example",
        "AEP_PLATFORM_URL": "https://platform.example",
        "AEP_STREAMING_URL": "https://dcs.example",
        "AEP_CONNECT_TIMEOUT_SECONDS": "1.5",
        "AEP_READ_TIMEOUT_SECONDS": "9",
        "AEP_MAX_ATTEMPTS": "7",
        "AEP_MAX_BACKOFF_SECONDS": "3",
        "AEP_HTTP_POOL_SIZE": "64",
        "AEP_TOKEN_REFRESH_MARGIN_SECONDS": "600",
        "AEP_TOKEN_REFRESH_JITTER_SECONDS": "11",
    }

    assert AepSettings.from_env(env).model_dump() == {
        "credentials_secret_id": "creds",
        "token_secret_id": "tok",
        "sandbox_name": "dev-1",
        "ims_url": "https://ims.example",
        "platform_url": "https://platform.example",
        "streaming_url": "https://dcs.example",
        "connect_timeout": 1.5,
        "read_timeout": 9.0,
        "max_attempts": 7,
        "max_backoff": 3.0,
        "pool_size": 64,
        "token_refresh_margin": 600,
        "token_refresh_jitter": 11,
    }
    assert len(ENVIRONMENT) == len(set(ENVIRONMENT.values())) == 13


def test_empty_and_blank_variables_count_as_unset():
    settings = AepSettings.from_env({**REQUIRED, "AEP_SANDBOX_NAME": "   ", "AEP_MAX_ATTEMPTS": ""})
    assert (settings.sandbox_name, settings.max_attempts) == ("prod", 5)

    assert refusal(AEP_TOKEN_SECRET_ID=" ") == "invalid configuration: AEP_TOKEN_SECRET_ID is required"


def test_every_problem_is_named_in_one_message():
    with pytest.raises(AepConfigError) as caught:
        AepSettings.from_env({"AEP_MAX_ATTEMPTS": "0", "AEP_SANDBOX_NAME": "Prod"})

    assert str(caught.value) == (
        "invalid configuration: AEP_CREDENTIALS_SECRET_ID is required; AEP_TOKEN_SECRET_ID is required; "
        "AEP_SANDBOX_NAME must be the all-lowercase sandbox name (letters, digits, hyphens); "
        "AEP_MAX_ATTEMPTS Input should be greater than or equal to 1"
    )
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("AEP_MAX_ATTEMPTS", "0", "Input should be greater than or equal to 1"),
        ("AEP_MAX_ATTEMPTS", "21", "Input should be less than or equal to 20"),
        ("AEP_HTTP_POOL_SIZE", "0", "Input should be greater than or equal to 1"),
        ("AEP_HTTP_POOL_SIZE", "513", "Input should be less than or equal to 512"),
        ("AEP_TOKEN_REFRESH_MARGIN_SECONDS", "59", "Input should be greater than or equal to 60"),
        ("AEP_TOKEN_REFRESH_JITTER_SECONDS", "-1", "Input should be greater than or equal to 0"),
        ("AEP_CONNECT_TIMEOUT_SECONDS", "0", "Input should be greater than 0"),
        ("AEP_READ_TIMEOUT_SECONDS", "0", "Input should be greater than 0"),
        ("AEP_MAX_BACKOFF_SECONDS", "0", "Input should be greater than 0"),
        ("AEP_SANDBOX_NAME", "a" * 64, "must be the all-lowercase sandbox name (letters, digits, hyphens)"),
        ("AEP_SANDBOX_NAME", "-dev", "must be the all-lowercase sandbox name (letters, digits, hyphens)"),
        ("AEP_SANDBOX_NAME", "dev_1", "must be the all-lowercase sandbox name (letters, digits, hyphens)"),
        (
            "AEP_STREAMING_URL",
            "http://dcs.example",
            "must use https (plain http is only allowed to a loopback",
        ),
    ],
)
def test_bounds_are_exact(variable, value, problem):
    assert refusal(**{variable: value}).startswith(f"invalid configuration: {variable} {problem}")


@pytest.mark.parametrize(
    ("variable", "value", "field", "kept"),
    [
        ("AEP_MAX_ATTEMPTS", "1", "max_attempts", 1),
        ("AEP_MAX_ATTEMPTS", "20", "max_attempts", 20),
        ("AEP_HTTP_POOL_SIZE", "1", "pool_size", 1),
        ("AEP_HTTP_POOL_SIZE", "512", "pool_size", 512),
        ("AEP_TOKEN_REFRESH_MARGIN_SECONDS", "60", "token_refresh_margin", 60),
        ("AEP_TOKEN_REFRESH_JITTER_SECONDS", "0", "token_refresh_jitter", 0),
        ("AEP_SANDBOX_NAME", "a" * 63, "sandbox_name", "a" * 63),
        ("AEP_SANDBOX_NAME", "0", "sandbox_name", "0"),
        ("AEP_SANDBOX_NAME", "a-", "sandbox_name", "a-"),
    ],
)
def test_values_at_the_bounds_are_accepted(variable, value, field, kept):
    assert getattr(AepSettings.from_env({**REQUIRED, variable: value}), field) == kept


def test_settings_refuse_unknown_fields_and_changes():
    with pytest.raises(ValidationError):
        AepSettings(credentials_secret_id="c", token_secret_id="t", unknown="x")  # type: ignore[call-arg]
    settings = AepSettings.from_env(REQUIRED)
    with pytest.raises(ValidationError):
        settings.sandbox_name = "other"  # type: ignore[misc]


# --- URLs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost",
        "http://127.0.0.1",
        "http://127.255.255.254:1",
        "http://[::1]",
        "http://[::ffff:127.0.0.9]",
    ],
)
def test_loopback_hosts(url):
    assert check_url(url + "/") == url


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1", "http://[::2]", "http://[::ffff:10.0.0.1]", "http://example.test", "http://local"],
)
def test_non_loopback_hosts_need_https(url):
    with pytest.raises(
        ValueError, match=r"^must use https \(plain http is only allowed to a loopback address\)$"
    ):
        check_url(url)
    assert check_url(url.replace("http://", "https://")) == url.replace("http://", "https://")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://a.example/\x00", "must not contain a backslash, space or control character"),
        ("https://a.example/\x1f", "must not contain a backslash, space or control character"),
        ("https://a.example/\x7f", "must not contain a backslash, space or control character"),
        ("https://a.example/\n", "must not contain a backslash, space or control character"),
        ("https://a.example/ x", "must not contain a backslash, space or control character"),
        ("https://a.example\\x", "must not contain a backslash, space or control character"),
        ("http://[bad", "must be an absolute http(s) URL"),
        ("ftp://a.example", "must be an absolute http(s) URL"),
        ("//a.example", "must be an absolute http(s) URL"),
        ("https:///path", "must be an absolute http(s) URL"),
        ("https://u@a.example", "must not carry user information"),
        ("https://a.example/?", "must not carry a query or fragment"),
        ("https://a.example/#", "must not carry a query or fragment"),
    ],
)
def test_url_refusal_reasons(url, reason):
    with pytest.raises(ValueError, match=r"^must ") as caught:
        check_url(url)
    assert str(caught.value) == reason


def test_trailing_slashes_are_dropped_and_the_rest_kept():
    assert check_url("https://a.example/base///") == "https://a.example/base"
    assert check_url("https://a.example:8443/x/y") == "https://a.example:8443/x/y"


# --- credentials --------------------------------------------------------------------------------------


def test_credentials_defaults_and_extra_fields():
    credentials = AepCredentials.from_secret_string(
        json.dumps({**CREDENTIALS, "technical_account": "t"}), "s"
    )

    assert credentials.client_id == "cid"
    assert credentials.client_secret.get_secret_value() == "sec"
    assert credentials.org_id == "ABC123@AdobeOrg"
    assert credentials.scopes == DEFAULT_SCOPES
    assert (
        DEFAULT_SCOPES == "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext"
    )


@pytest.mark.parametrize(
    ("scopes", "kept"),
    [
        (" a , ,b ", "a,b"),
        ("a,b", "a,b"),
        ("", DEFAULT_SCOPES),
        (" , ", DEFAULT_SCOPES),
        ([" a ", "b"], "a,b"),
        ([], DEFAULT_SCOPES),
        (["a", " "], "a"),
    ],
)
def test_scopes(scopes, kept):
    assert AepCredentials.model_validate({**CREDENTIALS, "scopes": scopes}).scopes == kept


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{}", "client_id is required; client_secret is required; org_id is required"),
        (
            json.dumps({"client_id": "", "client_secret": "", "org_id": "x"}),
            "client_id String should have at least 1 character; client_secret must not be empty; "
            "org_id String should match pattern '^[A-Za-z0-9]+@AdobeOrg$'",
        ),
        (json.dumps({**CREDENTIALS, "org_id": "ABC@AdobeOrgX"}), "org_id String should match pattern"),
        (json.dumps({**CREDENTIALS, "org_id": "AB-C@AdobeOrg"}), "org_id String should match pattern"),
        (json.dumps({**CREDENTIALS, "scopes": 5}), "scopes Input should be a valid string"),
    ],
)
def test_credential_refusals(data, message):
    with pytest.raises(AepConfigError) as caught:
        AepCredentials.from_secret_string(data, "aep/creds")

    assert str(caught.value).startswith(f"credentials secret 'aep/creds': invalid configuration: {message}")
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "credentials secret 'aep/creds' is not JSON"),
        ("[1]", "credentials secret 'aep/creds' must hold a JSON object"),
        ('"s"', "credentials secret 'aep/creds' must hold a JSON object"),
    ],
)
def test_a_secret_that_is_not_an_object(text, message):
    with pytest.raises(AepConfigError) as caught:
        AepCredentials.from_secret_string(text, "aep/creds")

    assert str(caught.value) == message
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__ is True


def test_a_whole_value_problem_is_named_value():
    with pytest.raises(ValidationError) as caught:
        AepCredentials.model_validate("not a mapping")

    assert _describe(caught.value, {}) == (
        "invalid configuration: value Input should be a valid dictionary or instance of AepCredentials"
    )


def test_parse_env_maps_fields_back_to_variable_names():
    with pytest.raises(AepConfigError) as caught:
        parse_env(AepSettings, {"X_CREDS": "credentials_secret_id"}, {"X_CREDS": "c"})

    assert str(caught.value) == "invalid configuration: token_secret_id is required"
