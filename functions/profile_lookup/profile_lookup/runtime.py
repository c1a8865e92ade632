"""The container's runtime: settings, the tenant registry, the tenants' clients and the lookup service.

Built on the first request (never at import: the cold start pays only for imports), reused after.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from aep.client import AepClient
from aep.container import PerContainer
from aep.record_rules import RecordRules
from aep.tenants import Tenant, TenantRegistry
from aep.tenants.clients import ClientCache
from aep.timing import Clock, SystemClock
from profile_lookup.rules import identity_rules
from profile_lookup.service import LookupService
from profile_lookup.settings import LookupSettings
from profile_lookup.tenancy import DefaultTenantAccess

#: Tenants' rules kept at once (a few per deployment; cleared when a flood of versions passes this).
MAX_RULES = 256


@dataclass
class Runtime:
    settings: LookupSettings
    access: DefaultTenantAccess
    clients: ClientCache
    service: LookupService
    _rules: dict[tuple[str, int], RecordRules] = field(default_factory=dict)

    def client(self, tenant: Tenant) -> AepClient:
        """The tenant's client. Raises AepConfigError when it cannot be built."""
        return self.clients.get(tenant)

    def rules(self, tenant: Tenant) -> RecordRules:
        """The tenant's identity rules (:mod:`profile_lookup.rules`), per version of the tenant. Raises
        AepConfigError when they do not fit together."""
        key = (tenant.tenant_id, tenant.version)
        found = self._rules.get(key)
        if found is None:
            if len(self._rules) >= MAX_RULES:
                self._rules.clear()
            found = self._rules[key] = identity_rules(self.settings, tenant)
        return found


def build_runtime(
    environ: Mapping[str, str] | None = None,
    *,
    registry: TenantRegistry | None = None,
    clients: ClientCache | None = None,
    clock: Clock | None = None,
) -> Runtime:
    """Raises AepConfigError naming a missing or bad variable."""
    env = os.environ if environ is None else environ
    settings = LookupSettings.from_env(env)
    registry = registry or TenantRegistry.from_env(env)
    access = DefaultTenantAccess(registry, settings.default_tenant_principals)
    clients = clients or ClientCache.from_env(env)
    service = LookupService(settings, clock or SystemClock())
    return Runtime(settings, access, clients, service)


_runtime: PerContainer[Runtime] = PerContainer()


def runtime() -> Runtime:
    """The container's runtime, built on first use."""
    return _runtime.get(build_runtime)


def set_runtime(value: Runtime | None) -> None:
    _runtime.set(value)
