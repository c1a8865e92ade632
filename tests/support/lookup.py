"""The lookup function as Lambda runs it, against the emulator, with data put there by real ingestion."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aep import AepClient, BytesSource, Clock
from aep.tenants import Tenant, TenantRegistry, default_tenant
from aep.tenants.clients import ClientCache, base_settings
from aep_emulator import Emulator
from profile_lookup import runtime as lookup_runtime
from profile_lookup.offload import Offload
from profile_lookup.runtime import Runtime, build_runtime
from tests.integration.conftest import CALL_EVENTS, CALLERS, EVENTS_FLOW, EVENTS_INLET, envelope
from tests.support.apigw import IVR_ROLE
from tests.support.fakes import FakeLambdaContext
from tests.support.lambdas import load_app

ENV = {
    "AEP_CREDENTIALS_SECRET_ID": "aep/credentials",
    "AEP_TOKEN_SECRET_ID": "aep/token",
    "LOOKUP_DEFAULT_TENANT_PRINCIPALS": IVR_ROLE,
}


def lookup_runtime_for(
    client: AepClient,
    clock: Clock,
    env: Mapping[str, str] | None = None,
    registry: TenantRegistry | None = None,
    clients: ClientCache | None = None,
    control: Offload | None = None,
) -> Runtime:
    """The function's runtime with ``client`` as the default tenant's (no secret read, no boto3)."""
    environ = {**ENV, **(env or {})}
    registry = registry or TenantRegistry(None, default_tenant(environ))
    clients = clients or ClientCache(base_settings(environ), default=lambda: client)
    return build_runtime(environ, registry=registry, clients=clients, clock=clock, control=control)


class LookupFunction:
    """Invokes ``app.lambda_handler`` with API Gateway events, the runtime held as in a container."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.app = load_app("profile_lookup")

    def raw(self, event: dict[str, Any]) -> dict[str, Any]:
        lookup_runtime.set_runtime(self.rt)
        try:
            return dict(self.app.lambda_handler(event, FakeLambdaContext()))
        finally:
            lookup_runtime.set_runtime(None)

    def __call__(self, event: dict[str, Any]) -> tuple[int, Any]:
        response = self.raw(event)
        return int(response["statusCode"]), json.loads(response["body"])


def caller_profile(phone: str, label: str, tier: str = "gold", **extra: Any) -> dict[str, Any]:
    return {
        "_id": f"caller-{phone[1:]}",
        "identityMap": {"Phone": [{"id": phone, "primary": True}]},
        "person": {"name": {"firstName": label}},
        "_acme": {"tier": tier},
        **extra,
    }


def ingest_by_batch(client: AepClient, records: list[dict[str, Any]], dataset: str = CALLERS) -> str:
    """Profiles through batch ingestion (create, upload NDJSON, complete, wait): the batch's final state."""
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    batch = client.batches.create(dataset, "json")
    client.batches.upload(batch.id, dataset, "callers.json", BytesSource(data))
    client.batches.complete(batch.id)
    return client.catalog.wait_for_batch(batch.id, timeout=30, poll_interval=0.01).state.value


def ingest_by_streaming(client: AepClient, emulator: Emulator, records: list[dict[str, Any]]) -> int:
    """Call events through AEP's streaming API (the client the streaming function uses): how many AEP
    accepted."""
    messages = [envelope(emulator, CALL_EVENTS, record, EVENTS_FLOW) for record in records]
    results = client.streaming.send_many(EVENTS_INLET, messages, flow_id=EVENTS_FLOW)
    return sum(1 for result in results if result.ok)


def registry_tenant(tenant_id: str, org_id: str, principals: tuple[str, ...] = (IVR_ROLE,)) -> Tenant:
    return Tenant(
        tenant_id=tenant_id,
        org_id=org_id,
        credentials_secret_id=f"aep/{tenant_id}/credentials",
        token_secret_id=f"aep/{tenant_id}/token",
        principals=principals,
    )
