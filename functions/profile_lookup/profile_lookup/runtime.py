"""The container's runtime: settings, the tenant registry, the tenants' clients and the lookup service.

Built on the first request (never at import: the cold start pays only for imports), reused after.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aep.client import AepClient
from aep.container import PerContainer
from aep.record_rules import RecordRules
from aep.tenants import Tenant, TenantRegistry
from aep.tenants.clients import ClientCache
from aep.timing import Clock, SystemClock
from profile_lookup.offload import Offload
from profile_lookup.rules import identity_rules
from profile_lookup.service import CONTROL_WORKERS, LookupService
from profile_lookup.settings import LookupSettings
from profile_lookup.tenancy import DefaultTenantAccess

#: boto3 timeouts of the registry and secret reads (:func:`bounded_client`).
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
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
    control: Offload | None = None,
) -> Runtime:
    """Raises AepConfigError naming a missing or bad variable. ``control``: the pool of registry and secret
    reads (the registry given here refreshes in the background through it when built with it)."""
    env = os.environ if environ is None else environ
    settings = LookupSettings.from_env(env)
    control = control or Offload(CONTROL_WORKERS)
    registry = registry or TenantRegistry.from_env(
        env, dynamodb_client=bounded_client("dynamodb"), background=control.submit
    )
    access = DefaultTenantAccess(registry, settings.default_tenant_principals)
    clients = clients or ClientCache.from_env(env, secrets_client=bounded_client("secretsmanager"))
    service = LookupService(settings, clock or SystemClock(), control)
    return Runtime(settings, access, clients, service)


def bounded_client(service: str) -> Callable[[], Any]:
    """A factory of a boto3 client whose calls end within seconds (boto3's defaults wait 60 s to connect and
    60 s to read, with retries): the registry and secret reads a lookup may wait on, and that otherwise hold
    a pool thread for minutes when DynamoDB or Secrets Manager hang."""

    def make() -> Any:
        import boto3  # noqa: PLC0415 - lazily: only when a registry tenant or a secret is read
        from botocore.config import Config  # noqa: PLC0415

        config = Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        factory: Any = boto3.client  # a name known only at run time: boto3-stubs types each literal
        return factory(service, config=config)

    return make


_runtime: PerContainer[Runtime] = PerContainer()


def runtime() -> Runtime:
    """The container's runtime, built on first use."""
    return _runtime.get(build_runtime)


def set_runtime(value: Runtime | None) -> None:
    _runtime.set(value)
