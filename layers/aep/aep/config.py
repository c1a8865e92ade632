"""Configuration, parsed once from the environment into a typed model.

Every variable is documented in the README's configuration table. AWS endpoints are not configured here:
boto3 reads ``AWS_ENDPOINT_URL`` itself, so the same code runs against moto's server.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from aep.errors import AepConfigError

DEFAULT_SCOPES = "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext"
_SANDBOX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_LOOPBACK_NAMES = {"localhost"}
#: Characters on which URL parsers disagree (``\\``) or that no URL of ours needs.
_UNSAFE_URL_CHARS = re.compile(r"[\\\s\x00-\x1f\x7f]")

# Environment variable -> field name. The README's table lists the same names.
ENVIRONMENT = {
    "AEP_CREDENTIALS_SECRET_ID": "credentials_secret_id",
    "AEP_TOKEN_SECRET_ID": "token_secret_id",
    "AEP_SANDBOX_NAME": "sandbox_name",
    "AEP_IMS_URL": "ims_url",
    "AEP_PLATFORM_URL": "platform_url",
    "AEP_STREAMING_URL": "streaming_url",
    "AEP_CONNECT_TIMEOUT_SECONDS": "connect_timeout",
    "AEP_READ_TIMEOUT_SECONDS": "read_timeout",
    "AEP_MAX_ATTEMPTS": "max_attempts",
    "AEP_MAX_BACKOFF_SECONDS": "max_backoff",
    "AEP_HTTP_POOL_SIZE": "pool_size",
    "AEP_TOKEN_REFRESH_MARGIN_SECONDS": "token_refresh_margin",
    "AEP_TOKEN_REFRESH_JITTER_SECONDS": "token_refresh_jitter",
}


def _is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (``[::1]``, ``127.0.0.0/8``, IPv4-mapped)."""
    if host in _LOOPBACK_NAMES:  # parse_url lower-cases the host
        return True
    try:
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def check_url(value: str) -> str:
    """An https URL; plain http is allowed only to a loopback address (the local emulator).

    The URL is read with urllib3's ``parse_url``, the parser ``requests`` connects with, so the host
    judged here is the host the client connects to. User information, backslashes, spaces and control
    characters (on which parsers disagree) are refused outright, as are a query and a fragment.
    """
    if _UNSAFE_URL_CHARS.search(value):
        raise ValueError("must not contain a backslash, space or control character")
    try:
        parts = parse_url(value)
    except LocationParseError:
        raise ValueError("must be an absolute http(s) URL") from None
    if not parts.host or parts.scheme not in ("https", "http"):
        raise ValueError("must be an absolute http(s) URL")
    if parts.auth is not None:
        raise ValueError("must not carry user information")
    if parts.scheme == "http" and not _is_loopback(parts.host):
        raise ValueError("must use https (plain http is only allowed to a loopback address)")
    if parts.query is not None or parts.fragment is not None:
        raise ValueError("must not carry a query or fragment")
    return value.rstrip("/")


M = TypeVar("M", bound=BaseModel)
PositiveFloat = Annotated[float, Field(gt=0)]


class AepSettings(BaseModel):
    """Where AEP is, which secrets hold the credentials and the shared token, and HTTP behaviour."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    credentials_secret_id: str = Field(min_length=1)
    token_secret_id: str = Field(min_length=1)
    sandbox_name: str = "prod"
    ims_url: str = "https://ims-na1.adobelogin.com"
    platform_url: str = "https://platform.adobe.io"
    streaming_url: str = "https://dcs.adobedc.net"
    connect_timeout: PositiveFloat = 3.05
    read_timeout: PositiveFloat = 30.0
    max_attempts: int = Field(default=5, ge=1, le=20)
    max_backoff: PositiveFloat = 20.0
    pool_size: int = Field(default=16, ge=1, le=512)
    token_refresh_margin: int = Field(default=3600, ge=60)
    token_refresh_jitter: int = Field(default=1800, ge=0)

    @field_validator("ims_url", "platform_url", "streaming_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("sandbox_name")
    @classmethod
    def _sandbox(cls, value: str) -> str:
        if not _SANDBOX_RE.match(value):
            raise ValueError("must be the all-lowercase sandbox name (letters, digits, hyphens)")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AepSettings:
        """Read the ``AEP_*`` variables. Raises AepConfigError naming every missing or bad variable."""
        return parse_env(cls, ENVIRONMENT, environ)


class AepCredentials(BaseModel):
    """The OAuth server-to-server credential, as stored (JSON) in the credentials secret."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    org_id: str = Field(pattern=r"^[A-Za-z0-9]+@AdobeOrg$")
    scopes: str = DEFAULT_SCOPES

    @field_validator("client_secret")
    @classmethod
    def _secret_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("scopes", mode="before")
    @classmethod
    def _scopes(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = ",".join(str(item).strip() for item in value)
        if isinstance(value, str):
            value = ",".join(part.strip() for part in value.split(",") if part.strip())
            return value or DEFAULT_SCOPES
        return value

    @classmethod
    def from_secret_string(cls, text: str, secret_id: str) -> AepCredentials:
        """Parse the secret's JSON. Errors name the field and the secret, never the values."""
        try:
            data = json.loads(text)
        except ValueError:
            # `from None`: the decode error carries the secret's text.
            raise AepConfigError(f"credentials secret {secret_id!r} is not JSON") from None
        if not isinstance(data, dict):
            raise AepConfigError(f"credentials secret {secret_id!r} must hold a JSON object")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise AepConfigError(f"credentials secret {secret_id!r}: {_describe(exc, {})}") from None


def parse_env(model: type[M], variables: Mapping[str, str], environ: Mapping[str, str]) -> M:
    """Build ``model`` from the environment variables named in ``variables`` (variable -> field).

    Empty variables count as unset. Raises AepConfigError naming every missing or bad variable.
    """
    values = {
        field: environ[env].strip() for env, field in variables.items() if environ.get(env, "").strip() != ""
    }
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise AepConfigError(_describe(exc, {field: env for env, field in variables.items()})) from None


def _describe(exc: ValidationError, names: Mapping[str, str]) -> str:
    """A readable list of problems that never echoes the input values."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "value"
        name = names.get(location, location)
        if error["type"] == "missing":
            problems.append(f"{name} is required")
        else:
            problems.append(f"{name} {error['msg'].removeprefix('Value error, ')}")
    return "invalid configuration: " + "; ".join(problems)
