"""Who is calling the lookup API, and which tenant they may read: caller -> tenant, refused otherwise.

:func:`caller_of` reads an API Gateway REST request context (``event["requestContext"]``): the API key id
(``identity.apiKeyId``, set when the method requires a key; the key's value, ``identity.apiKey``, is never
read), the IAM principal (``identity.userArn``, or ``identity.caller`` when it is an ARN) with IAM auth,
and a Lambda authorizer's ``authorizer.principalId``.

:func:`authorize` returns the tenant only if the caller is one of its ``principals`` or presents one of its
``api_key_ids``, and a caller carries its kind so that each kind matches only its own entries:

* an IAM caller (``PrincipalKind.IAM``: ``userArn``, or an ARN ``caller``) matches the IAM role and user
  ARNs of ``principals`` exactly, except that an assumed-role session
  (``arn:aws:sts::ACCT:assumed-role/ROLE/SESSION``, what API Gateway reports for a role) matches its role
  (``arn:aws:iam::ACCT:role/ROLE``, with or without a path): the same partition, account and role name;
* an authorizer caller (``PrincipalKind.AUTHORIZER``: the ``principalId`` a Lambda authorizer returned,
  a value that authorizer's code chose) matches only an entry ``authorizer:<principalId>``, exactly, never
  an IAM ARN: an authorizer that passes a caller-controlled value through cannot pose as an IAM role;
* an API key id matches ``api_key_ids``. AWS advises against API keys as the only means of
  authorization (they identify a client for usage plans); use them beside IAM or an authorizer.

An unknown or disabled tenant is refused exactly like a tenant the caller may not read (one answer, so
a caller cannot probe which tenants exist); the reason is kept in :attr:`CallerNotAllowedError.reason`
for logs and metrics, never an identity value.

IAM can enforce the same rule before the function runs: tag each caller's role ``aep-tenant=<tenant id>``
and give it an identity policy allowing ``execute-api:Invoke`` on
``arn:aws:execute-api:REGION:ACCT:API_ID/*/GET/tenants/${aws:PrincipalTag/aep-tenant}/*`` (README,
"Onboarding a brand").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from aep.errors import AepError
from aep.tenants.model import AUTHORIZER_PREFIX, TENANT_ID_PATTERN, Tenant, UnknownTenantError


class PrincipalKind(StrEnum):
    """Where a caller's principal comes from: IAM (SigV4, API Gateway's ``identity``) or a Lambda
    authorizer's ``principalId`` (whatever that authorizer returned)."""

    IAM = "iam"
    AUTHORIZER = "authorizer"


_SESSION = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[^/]+$")
_ROLE = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
_TENANT_ID = re.compile(TENANT_ID_PATTERN)


class TenantSource(Protocol):
    """What :func:`authorize` needs of a registry (:class:`aep.tenants.TenantRegistry` is one)."""

    def get(self, tenant_id: str | None) -> Tenant: ...


class CallerNotAllowedError(AepError):
    """The caller may not act for this tenant (or the tenant is unknown or disabled): HTTP 403.

    ``reason`` says why, for logs and metrics (``anonymous``, ``invalid-tenant-id``, ``unknown-tenant``,
    ``disabled-tenant``, ``not-a-principal``); the message names the tenant id only.
    """

    def __init__(self, tenant_id: str | None, reason: str) -> None:
        shown = repr(tenant_id) if tenant_id and _TENANT_ID.fullmatch(tenant_id) else "(invalid id)"
        super().__init__(f"the caller may not act for tenant {shown}", status=403)
        self.tenant_id = tenant_id
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    """What a request carries: a principal and its :class:`PrincipalKind`, an API key id
    (the principal or the key id may be None)."""

    principal: str | None = None
    api_key_id: str | None = None
    kind: PrincipalKind = PrincipalKind.IAM

    @property
    def anonymous(self) -> bool:
        return self.principal is None and self.api_key_id is None


def caller_of(request_context: Mapping[str, Any]) -> Caller:
    """The caller of an API Gateway REST request, from its ``requestContext``."""
    identity = _mapping(request_context.get("identity"))
    authorizer = _mapping(request_context.get("authorizer"))
    api_key_id = _text(identity.get("apiKeyId"))
    principal = _text(identity.get("userArn"))
    if principal is None:
        caller = _text(identity.get("caller"))
        principal = caller if caller is not None and caller.startswith("arn:") else None
    if principal is None:
        authorized = _text(authorizer.get("principalId"))
        if authorized is not None:
            return Caller(principal=authorized, api_key_id=api_key_id, kind=PrincipalKind.AUTHORIZER)
    return Caller(principal=principal, api_key_id=api_key_id, kind=PrincipalKind.IAM)


def authorize(registry: TenantSource, caller: Caller, tenant_id: str | None) -> Tenant:
    """The tenant, if ``caller`` may act for it; :class:`CallerNotAllowedError` otherwise.

    A registry that cannot be read raises its own transient error (:class:`TenantLookupError`): the
    caller is neither allowed nor refused, the request may be retried.
    """
    if caller.anonymous:
        raise CallerNotAllowedError(tenant_id, "anonymous")
    if not tenant_id or not _TENANT_ID.fullmatch(tenant_id):
        raise CallerNotAllowedError(tenant_id, "invalid-tenant-id")
    try:
        tenant = registry.get(tenant_id)
    except UnknownTenantError as exc:
        raise CallerNotAllowedError(
            tenant_id, "disabled-tenant" if exc.disabled else "unknown-tenant"
        ) from None
    if caller.api_key_id is not None and caller.api_key_id in tenant.api_key_ids:
        return tenant
    principal = caller.principal
    if principal is not None and any(_admits(entry, principal, caller.kind) for entry in tenant.principals):
        return tenant
    raise CallerNotAllowedError(tenant_id, "not-a-principal")


def _admits(entry: str, principal: str, kind: PrincipalKind) -> bool:
    """Whether one ``principals`` entry admits ``principal``: entries of its kind only."""
    if kind is PrincipalKind.AUTHORIZER:
        return entry == AUTHORIZER_PREFIX + principal
    return not entry.startswith(AUTHORIZER_PREFIX) and principal_matches(principal, entry)


def principal_matches(caller: str, allowed: str) -> bool:
    """True when ``caller`` is ``allowed``, or is a session of the role ``allowed`` names."""
    if caller == allowed:
        return True
    session = _SESSION.fullmatch(caller)
    role = _ROLE.fullmatch(allowed)
    return session is not None and role is not None and session.groups() == role.groups()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
