from __future__ import annotations

import json

import pytest

from aep import AepConfigError, AepCredentials, AepSettings
from aep.config import ENVIRONMENT

REQUIRED = {"AEP_CREDENTIALS_SECRET_ID": "aep/credentials", "AEP_TOKEN_SECRET_ID": "aep/token"}


def test_defaults_apply_when_only_required_variables_are_set():
    settings = AepSettings.from_env(REQUIRED)

    assert settings.sandbox_name == "prod"
    assert settings.ims_url == "https://ims-na1.adobelogin.com"
    assert settings.platform_url == "https://platform.adobe.io"
    assert settings.streaming_url == "https://dcs.adobedc.net"
    assert settings.max_attempts == 5


def test_every_variable_is_read():
    env = {
        **REQUIRED,
        "AEP_SANDBOX_NAME": "dev-1",
        "AEP_IMS_URL": "http://127.0.0.1:8787/",
        "AEP_PLATFORM_URL": "http://localhost:8787",
        "AEP_STREAMING_URL": "https://dcs.example.test",
        "AEP_CONNECT_TIMEOUT_SECONDS": "1.5",
        "AEP_READ_TIMEOUT_SECONDS": "9",
        "AEP_MAX_ATTEMPTS": "7",
        "AEP_MAX_BACKOFF_SECONDS": "3",
        "AEP_HTTP_POOL_SIZE": "64",
        "AEP_TOKEN_REFRESH_MARGIN_SECONDS": "600",
        "AEP_TOKEN_REFRESH_JITTER_SECONDS": "0",
    }
    assert set(env) == set(ENVIRONMENT)

    settings = AepSettings.from_env(env)

    assert settings.sandbox_name == "dev-1"
    assert settings.ims_url == "http://127.0.0.1:8787"
    assert settings.connect_timeout == 1.5
    assert settings.max_attempts == 7
    assert settings.pool_size == 64
    assert settings.token_refresh_jitter == 0


def test_missing_variables_are_named():
    with pytest.raises(AepConfigError) as caught:
        AepSettings.from_env({})

    assert "AEP_CREDENTIALS_SECRET_ID is required" in str(caught.value)
    assert "AEP_TOKEN_SECRET_ID is required" in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("AEP_PLATFORM_URL", "http://platform.adobe.io", "must use https"),
        ("AEP_IMS_URL", "ims-na1.adobelogin.com", "absolute http(s) URL"),
        ("AEP_SANDBOX_NAME", "Prod", "all-lowercase"),
        ("AEP_MAX_ATTEMPTS", "zero", "AEP_MAX_ATTEMPTS"),
        ("AEP_READ_TIMEOUT_SECONDS", "-1", "greater than 0"),
    ],
)
def test_bad_values_are_named(variable, value, expected):
    with pytest.raises(AepConfigError) as caught:
        AepSettings.from_env({**REQUIRED, variable: value})

    assert variable in str(caught.value)
    assert expected in str(caught.value)


def test_credentials_parse_scopes_as_list_or_string():
    text = json.dumps(
        {
            "client_id": "id",
            "client_secret": "s3cr3t",
            "org_id": "ABC@AdobeOrg",
            "scopes": ["openid", " AdobeID"],
        }
    )
    creds = AepCredentials.from_secret_string(text, "aep/credentials")

    assert creds.scopes == "openid,AdobeID"
    assert "s3cr3t" not in repr(creds)
    assert "s3cr3t" not in str(creds)


def test_credential_errors_name_the_field_and_never_the_secret():
    text = json.dumps({"client_id": "id", "client_secret": "s3cr3t-value", "org_id": "not-an-org"})

    with pytest.raises(AepConfigError) as caught:
        AepCredentials.from_secret_string(text, "aep/credentials")

    message = str(caught.value)
    assert "org_id" in message
    assert "aep/credentials" in message
    assert "s3cr3t-value" not in message
    assert "not-an-org" not in message


def test_credentials_that_are_not_json_say_so_without_the_text():
    with pytest.raises(AepConfigError) as caught:
        AepCredentials.from_secret_string("client_secret=abc123", "aep/credentials")

    assert "is not JSON" in str(caught.value)
    assert caught.value.__cause__ is None
    assert "abc123" not in str(caught.value)


def test_client_from_env_reads_the_credentials_secret(secrets):
    from aep import AepClient

    created = []

    def factory():
        created.append(1)
        return secrets

    client = AepClient.from_env(REQUIRED, secrets_client=factory)

    assert client.credentials.client_id == "test-client-id"
    assert client.settings.sandbox_name == "prod"
    assert len(created) == 1


def test_client_from_env_names_an_unreadable_secret(aws):
    import boto3

    from aep import AepClient

    with pytest.raises(
        AepConfigError, match="cannot read credentials secret 'aep/credentials': ResourceNotFound"
    ):
        AepClient.from_env(REQUIRED, secrets_client=lambda: boto3.client("secretsmanager"))


# Item 2: plain http only to loopback, judged by the parser requests connects with (urllib3's parse_url).
@pytest.mark.parametrize(
    "url",
    [
        "http://host\\@127.0.0.1",  # urlsplit says 127.0.0.1; requests connects to "host"
        "http://127.0.0.1\\@evil.example",  # a backslash anywhere: parsers disagree on it
        "http://127.0.0.1@evil.example",  # userinfo: the host is evil.example
        "http://127.0.0.1:8787@evil.example",
        "http://127.0.0.1%2F@evil.example",
        "http://user:pw@127.0.0.1:8787",  # userinfo refused even to loopback
        "https://user@platform.adobe.io",  # and over https
        "http://evil.example#@127.0.0.1",
        "http://evil.example?@127.0.0.1",
        "http://127.0.0.1 .evil.example",
        "http://127.0.0.1\tevil.example",
        "http:\\\\127.0.0.1",
        "http://localhost.evil.example",
        "http://127.1",  # numeric shorthand: refused rather than guessed
        "http://0x7f000001",
        "http://[::ffff:8.8.8.8]",
        "ftp://127.0.0.1",
        "http://",
    ],
)
def test_hostile_urls_are_refused(url):
    with pytest.raises(AepConfigError) as caught:
        AepSettings.from_env({**REQUIRED, "AEP_PLATFORM_URL": url})

    assert "AEP_PLATFORM_URL" in str(caught.value)
    assert "evil" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://127.0.0.1:8787/", "http://127.0.0.1:8787"),
        ("http://127.0.0.5:8787", "http://127.0.0.5:8787"),
        ("http://localhost:8787", "http://localhost:8787"),
        ("http://LOCALHOST:8787", "http://LOCALHOST:8787"),
        ("http://[::1]:8787", "http://[::1]:8787"),
        ("http://[::ffff:127.0.0.1]:8787", "http://[::ffff:127.0.0.1]:8787"),
        ("https://platform.adobe.io", "https://platform.adobe.io"),
        ("https://proxy.example/aep/", "https://proxy.example/aep"),
    ],
)
def test_loopback_http_and_any_https_are_accepted(url, kept):
    assert AepSettings.from_env({**REQUIRED, "AEP_PLATFORM_URL": url}).platform_url == kept


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://platform.adobe.io", "must use https (plain http is only allowed to a loopback address)"),
        ("http://a:b@127.0.0.1", "must not carry user information"),
        ("http://127.0.0.1\\@x", "must not contain a backslash, space or control character"),
        ("https://platform.adobe.io/?a=1", "must not carry a query or fragment"),
        ("https://platform.adobe.io/#a", "must not carry a query or fragment"),
        ("platform.adobe.io", "must be an absolute http(s) URL"),
    ],
)
def test_refusals_name_their_reason(url, reason):
    with pytest.raises(AepConfigError) as caught:
        AepSettings.from_env({**REQUIRED, "AEP_IMS_URL": url})

    assert str(caught.value) == f"invalid configuration: AEP_IMS_URL {reason}"
