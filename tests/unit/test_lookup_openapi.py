"""The committed OpenAPI document is the one the code generates, and it documents what the API promises."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aep.errors import AepConfigError
from profile_lookup.openapi import DOCUMENT, render
from profile_lookup.settings import MAX_IDENTITIES, LookupSettings
from profile_lookup.views import MERGE_POLICY_PATTERN

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


GET_ANSWERS = {"200", "400", "401", "403", "404", "413", "422", "429", "500", "502", "503", "504"}
#: A multi-identity lookup answers AEP's 404, 422, 429, 5xx and the deadline per identity, inside its 200.
POST_ANSWERS = {"200", "400", "401", "403", "413", "415", "429", "500", "502", "503"}


def test_every_route_documents_our_shape_and_every_error_in_one_shape():
    doc = document()
    for path, method in ROUTES.items():
        responses = doc["paths"][path][method]["responses"]
        for status, response in responses.items():
            schema = response["content"]["application/json"]["schema"]
            if status == "200":
                assert schema["$ref"].rsplit("/", 1)[-1] in {"Profile", "LookupResults", "Events"}
            else:
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)


def test_finding_9_each_route_declares_exactly_the_answers_it_gives():
    doc = document()
    for path, method in ROUTES.items():
        responses = doc["paths"][path][method]["responses"]
        assert set(responses) == (POST_ANSWERS if method == "post" else GET_ANSWERS), path


def test_finding_9_throttling_and_an_unreadable_registry_say_when_to_retry():
    doc = document()
    for path, method in ROUTES.items():
        responses = doc["paths"][path][method]["responses"]
        retried = ("429", "503") if method == "post" else ("429", "502", "503")  # 502: ims-unavailable
        for status in retried:
            header = responses[status]["headers"]["Retry-After"]
            assert header["schema"] == {"type": "integer", "minimum": 1}, (path, status)
        assert not any("headers" in r for s, r in responses.items() if s not in retried), path


def test_finding_9_the_documented_identity_maximum_is_the_runtime_s():
    request = document()["components"]["schemas"]["LookupRequest"]
    limit = LookupSettings.model_fields["max_identities"]

    assert request["properties"]["identities"]["maxItems"] == MAX_IDENTITIES == limit.default
    assert LookupSettings.from_env({"LOOKUP_MAX_IDENTITIES": str(MAX_IDENTITIES)}).max_identities == 200
    with pytest.raises(AepConfigError, match="LOOKUP_MAX_IDENTITIES"):
        LookupSettings.from_env({"LOOKUP_MAX_IDENTITIES": str(MAX_IDENTITIES + 1)})


def test_finding_8_the_post_merge_policy_has_the_get_s_pattern():
    doc = document()
    request = doc["components"]["schemas"]["LookupRequest"]["properties"]["mergePolicyId"]
    query = [
        p
        for p in doc["paths"]["/profiles/{namespace}/{id}"]["get"]["parameters"]
        if p["name"] == "mergePolicyId"
    ]

    assert request["anyOf"][0]["pattern"] == query[0]["schema"]["anyOf"][0]["pattern"] == MERGE_POLICY_PATTERN


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
