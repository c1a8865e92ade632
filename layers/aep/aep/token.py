"""The access token value object: its value never appears in a repr, str or log line."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AccessToken:
    """An IMS bearer token and the epoch second it expires at."""

    value: str = field(repr=False)
    expires_at: float

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible id for logs (first 8 hex chars of SHA-256)."""
        return hashlib.sha256(self.value.encode()).hexdigest()[:8]

    def __str__(self) -> str:
        return f"AccessToken(fingerprint={self.fingerprint}, expires_at={self.expires_at:.0f})"
