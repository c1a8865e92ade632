"""A tenant's identity rules for lookups: the same as its ingestion's.

Ingestion (:func:`stream_ingest.tenancy.tenant_stream_settings`) reads a registry tenant's records with its
``streaming.allowed_namespaces`` and ``streaming.default_phone_region`` when it sets them, else with the
deployment's (``STREAM_ALLOWED_NAMESPACES``, ``STREAM_IDENTITY_NAMESPACE``, ``STREAM_DEFAULT_PHONE_REGION``,
which the template gives this function as ``LOOKUP_*``). A lookup applies the same rules, so a caller is
found by the id ingestion stored: ``020 7946 0456`` is ``+442079460456`` for a tenant whose region is GB.
The allow-list follows :func:`aep.record_rules.namespaces_for`, the rule both ingestion paths use.
"""

from __future__ import annotations

from aep.errors import AepConfigError
from aep.record_rules import RecordRules, namespaces_for
from aep.tenants import Tenant
from profile_lookup.settings import LookupSettings


def identity_rules(settings: LookupSettings, tenant: Tenant) -> RecordRules:
    """The namespaces and phone region of ``tenant``'s lookups. Raises AepConfigError (naming the tenant and
    the field, never a value) when its allow-list leaves out the stream's identity namespace, as ingestion
    does for the same tenant."""
    streaming = tenant.streaming
    allowed = streaming.allowed_namespaces
    if allowed is None:
        allowed = settings.allowed_namespaces
    try:
        namespaces = namespaces_for(allowed, settings.identity_namespace)
    except ValueError as exc:
        raise AepConfigError(
            f"tenant {tenant.tenant_id!r} has invalid streaming settings: allowed_namespaces: {exc}"
        ) from None
    region = streaming.default_phone_region or settings.default_phone_region
    return RecordRules(namespaces=namespaces, default_phone_region=region)
