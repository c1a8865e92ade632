"""The committed OpenAPI document is the one the code generates, and it documents what the API promises."""

from __future__ import annotations

import json
from typing import Any

from profile_lookup.openapi import DOCUMENT, render

ROUTES = {
    "/profiles/{namespace}/{id}": "get",
    "/profiles/{namespace}/{id}/events": "get",
    "/profiles/lookup": "post",
    "/tenants/{tenant}/profiles/{namespace}/{id}": "get",
    "/tenants/{tenant}/profiles/{namespace}/{id}/events": "get",
    "/tenants/{tenant}/profiles/lookup": "post",
}


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return loaded


def test_the_committed_document_matches_the_code():
    # To regenerate: PYTHONPATH=layers/aep:functions/profile_lookup python -m profile_lookup.openapi
    assert DOCUMENT.read_text() == render()


def test_it_lists_exactly_the_routes_and_their_methods():
    paths = document()["paths"]

    assert {path: list(methods) for path, methods in paths.items()} == {p: [m] for p, m in ROUTES.items()}


def test_every_route_documents_our_shape_and_every_error_in_one_shape():
    doc = document()
    for path, method in ROUTES.items():
        responses = doc["paths"][path][method]["responses"]
        assert set(responses) >= {"200", "400", "403", "404", "429", "502", "504"}, path
        for status, response in responses.items():
            schema = response["content"]["application/json"]["schema"]
            if status == "200":
                assert schema["$ref"].rsplit("/", 1)[-1] in {"Profile", "LookupResults", "Events"}
            else:
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)


def test_the_profile_shape_is_ours():
    profile = document()["components"]["schemas"]["Profile"]

    assert set(profile["properties"]) == {"profileId", "identities", "attributes", "lastModified", "cached"}


def test_the_profile_route_takes_fields_merge_policy_and_a_cache_bypass():
    parameters = document()["paths"]["/profiles/{namespace}/{id}"]["get"]["parameters"]

    assert {(p["name"], p["in"]) for p in parameters} == {
        ("namespace", "path"),
        ("id", "path"),
        ("fields", "query"),
        ("mergePolicyId", "query"),
        ("cache-control", "header"),  # header names are case-insensitive
    }


def test_the_events_route_says_adobe_deprecated_it():
    events = document()["paths"]["/profiles/{namespace}/{id}/events"]["get"]

    assert "deprecated" in events["description"]
    assert {p["name"] for p in events["parameters"] if p["in"] == "query"} == {"limit", "since", "until"}


def test_every_route_requires_sigv4():
    doc = document()

    assert doc["security"] == [{"sigv4": []}]
    assert doc["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
