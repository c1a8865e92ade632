"""A lookup's identity: the namespace on the allow-list, the id normalised as ingestion does, then checked.

Ingestion's rules (:mod:`aep.normalize`) make ``(555) 123-4567``, ``555.123.4567`` and ``+15551234567`` the
same caller, and ``Ada@Example.com `` the same as ``ada@example.com``. A lookup then checks the result more
strictly than ingestion, because the id arrives from outside in a URL: only the characters an identity of
its kind uses, at most :data:`MAX_ID_LENGTH` characters. Anything else (``../``, ``%00``, ``?x=1``, quotes,
control characters, 10,000 characters) is refused here, before any AEP call, with a reason that never
carries the value. The value then travels to AEP as a query parameter, percent-encoded by ``requests``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

from aep.normalize import (
    EMAIL_NAMESPACES,
    PHONE_NAMESPACES,
    IdentityError,
    check_namespace,
    normalize_identity,
)

MAX_ID_LENGTH = 256
MAX_NAMESPACE_LENGTH = 64
#: What a normalised e-mail address may hold: RFC 5322's atom characters without quotes, ``%``, ``/``,
#: backslash, ``?`` or ``&`` (which no mailbox we look up needs and which only serve injection).
_EMAIL = re.compile(r"[a-z0-9!#$'*+=^_`{|}~.-]{1,64}@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)+")
#: Any other namespace's id (ECID, CRM ids, custom codes): letters, digits and ``_ . : @ + = -``.
_OTHER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+=-]*")


class InvalidIdentityError(ValueError):
    """The identity cannot be looked up; the message names the field and why, never the value."""


@dataclass(frozen=True)
class Identity:
    """A namespace code as the caller wrote it (AEP compares codes case-insensitively), the normalised id."""

    namespace: str
    id: str

    @property
    def key(self) -> tuple[str, str]:
        """What the cache and the single flight key on: the code lowercased, the id."""
        return self.namespace.lower(), self.id


def from_path(text: str) -> str:
    """A path segment as the caller meant it: percent-decoded once (API Gateway may pass it encoded)."""
    return unquote(text, errors="replace") if "%" in text else text


def parse_identity(
    namespace: str, value: str, allowed: frozenset[str], default_region: str, where: str = "id"
) -> Identity:
    """The identity to look up. Raises InvalidIdentityError naming ``where`` and the reason."""
    if len(namespace) > MAX_NAMESPACE_LENGTH or not namespace.strip():
        raise InvalidIdentityError(f"{_namespace_of(where)}: must be a namespace code")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdentityError(f"{where}: longer than {MAX_ID_LENGTH} characters")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in namespace + value):
        raise InvalidIdentityError(f"{where}: holds a control character")
    try:
        check_namespace(namespace, allowed)
        normalised = normalize_identity(namespace, value, default_region)
    except IdentityError as exc:
        field = _namespace_of(where) if "namespace" in str(exc) else where
        raise InvalidIdentityError(f"{field}: {exc}") from None
    code = namespace.strip().lower()
    if code in EMAIL_NAMESPACES:
        if not _EMAIL.fullmatch(normalised):
            raise InvalidIdentityError(f"{where}: email address has characters a lookup does not accept")
    elif code not in PHONE_NAMESPACES and not _OTHER.fullmatch(normalised):
        raise InvalidIdentityError(
            f"{where}: an id of this namespace holds letters, digits and _ . : @ + = - only"
        )
    return Identity(namespace.strip(), normalised)


def _namespace_of(where: str) -> str:
    """Where the namespace beside the id ``where`` is: ``identities[2].id`` -> ``identities[2].namespace``."""
    return where.removesuffix("id") + "namespace" if where.endswith(".id") else "namespace"
