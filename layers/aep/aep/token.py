"""The access token value object: its value never appears in a repr, str or log line."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def is_bearer_token(value: str) -> bool:
    """True when ``value`` may follow ``Bearer `` in an Authorization header (RFC 6750 ``b64token``)."""
    return _B64TOKEN.fullmatch(value) is not None


@dataclass(frozen=True)
class AccessToken:
    """An IMS bearer token, the epoch second it expires at and the epoch second it was requested at.

    Raises:
        ValueError: the value is not an RFC 6750 ``b64token`` (it could never be sent as a header).
    """

    value: str = field(repr=False)
    expires_at: float
    issued_at: float = 0.0  # 0: unknown (a token written before this field existed)

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not is_bearer_token(self.value):
            raise ValueError("access token is not an RFC 6750 b64token")

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible id for logs (first 8 hex chars of SHA-256)."""
        return hashlib.sha256(self.value.encode()).hexdigest()[:8]

    def __str__(self) -> str:
        return f"AccessToken(fingerprint={self.fingerprint}, expires_at={self.expires_at:.0f})"
