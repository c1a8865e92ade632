"""Tenants: one deployment serving many brands, each with its own AEP org, sandbox, secrets and targets.

A tenant is an item of the stack's tenant registry (a DynamoDB table, ``AEP_TENANTS_TABLE``). A deployment
without a registry, or any deployment whose ``AEP_*`` variables name a credentials secret, also has the
implicit ``default`` tenant built from those variables: a single-brand stack keeps working unchanged.
"""

from aep.tenants.model import DEFAULT_TENANT, Tenant, TenantStreaming, UnknownTenantError
from aep.tenants.registry import TenantLookupError, TenantRegistry, default_tenant

__all__ = [
    "DEFAULT_TENANT",
    "Tenant",
    "TenantLookupError",
    "TenantRegistry",
    "TenantStreaming",
    "UnknownTenantError",
    "default_tenant",
]
