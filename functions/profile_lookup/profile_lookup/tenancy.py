"""Which tenant a request reads: the caller (API Gateway's request context) mapped to exactly one tenant.

``/profiles/...`` reads the ``default`` tenant (the stack's own ``AEP_*`` configuration);
``/tenants/{tenant}/profiles/...`` a registry tenant. Either way :func:`aep.tenants.callers.authorize`
decides: the caller must be one of the tenant's ``principals`` (or present one of its ``api_key_ids``),
else 403, the same answer for an unknown or disabled tenant.

The implicit default tenant has no registry item, so no ``principals``: ``LOOKUP_DEFAULT_TENANT_PRINCIPALS``
gives them (the same entries as a tenant's ``principals``), and its entry ``*`` admits any IAM-authenticated
caller (IAM already decided who may invoke the API: a single-brand deployment). Unset, nobody reads the
default tenant through the API.
"""

from __future__ import annotations

from typing import Any

from aep.errors import AepConfigError
from aep.tenants import DEFAULT_TENANT, Tenant, TenantRegistry
from aep.tenants.callers import Caller, PrincipalKind, authorize, caller_of
from aep.tenants.model import validation_problems
from profile_lookup.settings import ANY_IAM_CALLER

__all__ = ["Caller", "DefaultTenantAccess", "caller_of"]


class DefaultTenantAccess:
    """The registry as :func:`authorize` sees it, the default tenant given its lookup principals."""

    def __init__(self, registry: TenantRegistry, principals: tuple[str, ...]) -> None:
        self.registry = registry
        self.any_iam_caller = ANY_IAM_CALLER in principals
        self.principals = tuple(p for p in principals if p != ANY_IAM_CALLER)
        if self.principals:
            check_principals(self.principals)

    def get(self, tenant_id: str | None) -> Tenant:
        tenant = self.registry.get(tenant_id)
        if tenant.tenant_id == DEFAULT_TENANT:
            return tenant.model_copy(update={"principals": self.principals})
        return tenant

    def holds(self, tenant_id: str | None) -> bool:
        """Whether the registry answers ``tenant_id`` from memory (:meth:`TenantRegistry.holds`)."""
        return self.registry.holds(tenant_id)

    def authorize(self, caller: Caller, tenant_id: str | None) -> Tenant:
        """The tenant ``caller`` may read; CallerNotAllowedError (403) otherwise, TenantLookupError when
        the registry cannot be read."""
        name = tenant_id or DEFAULT_TENANT
        if (
            name == DEFAULT_TENANT
            and self.any_iam_caller
            and caller.kind is PrincipalKind.IAM
            and caller.principal is not None
        ):
            return self.get(DEFAULT_TENANT)
        return authorize(self, caller, name)


def check_principals(principals: tuple[str, ...]) -> None:
    """Raises AepConfigError unless each entry is a valid ``principals`` entry (never echoing it)."""
    from pydantic import ValidationError  # noqa: PLC0415 - only when principals are configured

    placeholders = {"tenant_id": DEFAULT_TENANT, "credentials_secret_id": "-", "token_secret_id": "-"}
    try:
        Tenant.model_validate({**placeholders, "principals": principals})  # only the principals are checked
    except ValidationError as exc:
        raise AepConfigError(
            f"invalid configuration: LOOKUP_DEFAULT_TENANT_PRINCIPALS {validation_problems(exc)}"
        ) from None


def request_caller(event: dict[str, Any]) -> Caller:
    context = event.get("requestContext")
    return caller_of(context if isinstance(context, dict) else {})
