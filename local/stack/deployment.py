"""The local deployment of the call-center story: the template's parameters as a partner would pass them
to ``sam deploy`` after running setup (``setup/callcenter.yaml``) on its sandbox: the inlet, dataset,
flow, schema and identity of the streamed call events, the batch routes of the two datasets (the CRM's
caller export as CSV through a mapping, the IVR's call history as NDJSON), and the IVR backend's role as
the lookup API's caller of the default tenant."""

from __future__ import annotations

import json
from typing import Any

from aep.setup import SetupFile

#: Where the deployment's call center is: numbers written without a country code are read as from here.
HOME_REGION = "US"
#: The IVR backend's role (admitted by LookupDefaultTenantPrincipals) and the session the local API
#: uses as every request's IAM caller.
IVR_ROLE = "arn:aws:iam::123456789012:role/aep-connector-local-ivr-backend"
IVR_SESSION = "arn:aws:sts::123456789012:assumed-role/aep-connector-local-ivr-backend/local"
CALLERS_PREFIX = "callers/"
CALLS_PREFIX = "calls/"


def identity_path(field: str, tenant: str) -> str:
    """``/_tenant/phone`` -> ``_acme.phone`` (setup's primary identity as a dotted record path)."""
    return ".".join(f"_{tenant}" if part == "_tenant" else part for part in field.strip("/").split("/"))


def callcenter_parameters(setup: SetupFile, outputs: dict[str, Any]) -> dict[str, str]:
    """The parameter overrides from setup's outputs (raises KeyError, ValueError: not the story's file)."""
    tenant = str(outputs["tenantId"])
    schemas = {s.title: s for s in setup.schemas}
    datasets = {d.name: d for d in setup.datasets}
    inlet_spec = setup.streaming[0]
    inlet = outputs["streaming"][inlet_spec.name]
    events_schema = schemas[datasets[inlet_spec.dataset].schema_]
    if events_schema.primary_identity is None:
        raise ValueError(f"schema {events_schema.title!r} has no primary identity")
    identity = identity_path(events_schema.primary_identity.field, tenant)
    namespace = events_schema.primary_identity.namespace
    routes: list[dict[str, Any]] = []
    for dataset in setup.datasets:
        schema = schemas[dataset.schema_]
        if schema.class_ == "profile":
            routes.append(
                {
                    "prefix": CALLERS_PREFIX,
                    "dataset_id": outputs["datasets"][dataset.name],
                    "record_class": "profile",
                    "identity_field": identity,
                    "identity_namespace": namespace,
                    "default_phone_region": HOME_REGION,
                    "mapping": {
                        "record_class": "profile",
                        "columns": {
                            "phone": identity,
                            "first_name": "person.name.firstName",
                            "tier": f"_{tenant}.tier",
                        },
                    },
                }
            )
        elif schema.class_ == "experienceevent":
            routes.append(
                {
                    "prefix": CALLS_PREFIX,
                    "dataset_id": outputs["datasets"][dataset.name],
                    "identity_field": identity,
                    "identity_namespace": namespace,
                    "default_phone_region": HOME_REGION,
                }
            )
    return {
        "StreamInletId": inlet["inletId"],
        "StreamDatasetId": inlet["datasetId"],
        "StreamFlowId": inlet["flowId"],
        "StreamSchemaRef": outputs["schemas"][events_schema.title]["id"],
        "StreamInletAuthenticated": str(inlet_spec.authenticated).lower(),
        "StreamIdentityField": identity,
        "StreamIdentityNamespace": namespace,
        "DefaultPhoneRegion": HOME_REGION,
        "BatchRoutes": json.dumps(routes),
        "LookupDefaultTenantPrincipals": IVR_ROLE,
    }
