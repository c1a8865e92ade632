"""The local deployment's parameters come from setup's outputs, as a partner passes them to sam deploy."""

from __future__ import annotations

import json

from aep.setup import load
from stack.deployment import IVR_ROLE, callcenter_parameters, identity_path
from stack.stack import SETUP_FILE

OUTPUTS = {
    "tenantId": "acme",
    "datasets": {"Call Center Setup Callers": "c" * 24, "Call Center Setup Call Events": "e" * 24},
    "schemas": {
        "Call Center Setup Callers": {"id": "https://ns.adobe.com/acme/schemas/callers"},
        "Call Center Setup Call Events": {"id": "https://ns.adobe.com/acme/schemas/events"},
    },
    "streaming": {
        "Call Center Setup Events Inlet": {"datasetId": "e" * 24, "flowId": "f-1", "inletId": "i" * 64}
    },
}


def test_the_tenant_placeholder_becomes_the_tenant_object():
    assert identity_path("/_tenant/phone", "acme") == "_acme.phone"
    assert identity_path("/person/email", "acme") == "person.email"


def test_the_stream_parameters_are_the_inlet_its_dataset_schema_and_primary_identity():
    parameters = callcenter_parameters(load(SETUP_FILE), OUTPUTS)

    assert {k: parameters[k] for k in ("StreamInletId", "StreamDatasetId", "StreamFlowId")} == {
        "StreamInletId": "i" * 64,
        "StreamDatasetId": "e" * 24,
        "StreamFlowId": "f-1",
    }
    assert parameters["StreamSchemaRef"] == "https://ns.adobe.com/acme/schemas/events"
    assert parameters["StreamInletAuthenticated"] == "true"
    assert (parameters["StreamIdentityField"], parameters["StreamIdentityNamespace"]) == (
        "_acme.phone",
        "Phone",
    )
    assert parameters["LookupDefaultTenantPrincipals"] == IVR_ROLE


def test_the_batch_routes_send_callers_and_calls_to_their_datasets_with_the_identity_rules():
    routes = json.loads(callcenter_parameters(load(SETUP_FILE), OUTPUTS)["BatchRoutes"])

    assert [(r["prefix"], r["dataset_id"], r.get("record_class", "experienceevent")) for r in routes] == [
        ("callers/", "c" * 24, "profile"),
        ("calls/", "e" * 24, "experienceevent"),
    ]
    assert all((r["identity_field"], r["identity_namespace"]) == ("_acme.phone", "Phone") for r in routes)
    assert routes[0]["mapping"]["columns"] == {
        "phone": "_acme.phone",
        "first_name": "person.name.firstName",
        "tier": "_acme.tier",
    }
