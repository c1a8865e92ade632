"""The local deployment of the call-center story: the template's parameters as a partner would pass them
to ``sam deploy`` after running setup (``setup/callcenter.yaml``) on its sandbox: the inlet, dataset,
flow, schema and identity of the streamed call events, the batch routes of the file's ``batch`` section
(the CRM's caller export as CSV through a mapping, the IVR's call history as NDJSON), and the IVR
backend's role as the lookup API's caller of the default tenant. The identity and the routes are computed
by :func:`aep.setup.settings.function_settings`, as the ``Custom::AepSetup`` resource computes them."""

from __future__ import annotations

import json
from typing import Any

from aep.setup import SetupFile
from aep.setup.settings import function_settings, identity_path

__all__ = ["HOME_REGION", "IVR_ROLE", "callcenter_parameters", "identity_path"]

#: Where the deployment's call center is: numbers written without a country code are read as from here.
HOME_REGION = "US"
#: The IVR backend's role (admitted by LookupDefaultTenantPrincipals) and the session the local API
#: uses as every request's IAM caller.
IVR_ROLE = "arn:aws:iam::123456789012:role/aep-connector-local-ivr-backend"
IVR_SESSION = "arn:aws:sts::123456789012:assumed-role/aep-connector-local-ivr-backend/local"


def callcenter_parameters(setup: SetupFile, outputs: dict[str, Any]) -> dict[str, str]:
    """The parameter overrides from setup's outputs, the identity and the batch routes computed as the
    ``Custom::AepSetup`` resource computes them (raises KeyError, ValueError: not the story's file)."""
    schemas = {s.title: s for s in setup.schemas}
    datasets = {d.name: d for d in setup.datasets}
    inlet_spec = setup.streaming[0]
    inlet = outputs["streaming"][inlet_spec.name]
    events_schema = schemas[datasets[inlet_spec.dataset].schema_]
    if events_schema.primary_identity is None:
        raise ValueError(f"schema {events_schema.title!r} has no primary identity")
    settings = function_settings(setup, outputs, inlet_spec.name, default_phone_region=HOME_REGION)
    if not settings.batch_routes:
        raise ValueError("the story's setup file has no batch section")
    return {
        "StreamInletId": inlet["inletId"],
        "StreamDatasetId": inlet["datasetId"],
        "StreamFlowId": inlet["flowId"],
        "StreamSchemaRef": outputs["schemas"][events_schema.title]["id"],
        "StreamInletAuthenticated": str(inlet_spec.authenticated).lower(),
        "StreamIdentityField": settings.identity_field,
        "StreamIdentityNamespace": settings.identity_namespace,
        "DefaultPhoneRegion": HOME_REGION,
        "BatchRoutes": json.dumps(settings.batch_routes),
        "LookupDefaultTenantPrincipals": IVR_ROLE,
    }
