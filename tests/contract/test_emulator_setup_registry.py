"""The emulator's Schema Registry against schema-registry.yaml and the XDM API guides: stats, field
groups, schemas, descriptors, unions, the Accept variants, filters and paging, the documented errors,
and the sandbox file's schemas served (and used for the emulator's own record checks)."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote

import pytest
import requests

from aep_emulator import running
from tests.contract import setup_models as m
from tests.integration.conftest import CALL_EVENTS, EVENTS_INLET, call_event, envelope

BASE = "/data/foundation/schemaregistry"
PROFILE = "https://ns.adobe.com/xdm/context/profile"
EVENT = "https://ns.adobe.com/xdm/context/experienceevent"
IDENTITY_MAP = "https://ns.adobe.com/xdm/context/identitymap"
FULL = "application/vnd.adobe.xed-full+json; version=1"
XED = "application/vnd.adobe.xed+json; version=1"
IDS = "application/vnd.adobe.xed-id+json"
EVENTS_SCHEMA = "https://ns.adobe.com/acme/schemas/ivr-call-event"
_n = itertools.count(1)


@pytest.fixture(scope="module")
def emu():
    with running() as emulator:
        yield emulator


class Registry:
    def __init__(self, url: str, auth: dict[str, str]) -> None:
        self.url = url + BASE
        self.auth = auth

    def get(self, path: str, accept: str | None, **params: Any) -> requests.Response:
        headers = dict(self.auth)
        if accept is not None:
            headers["Accept"] = accept
        return requests.get(self.url + path, headers=headers, params=params, timeout=5)

    def send(
        self, method: str, path: str, body: Any, content_type: str = "application/json"
    ) -> requests.Response:
        headers = {**self.auth, "Content-Type": content_type, "Accept": "application/vnd.adobe.xed+json"}
        return requests.request(method, self.url + path, headers=headers, json=body, timeout=5)

    def fieldgroup(self, title: str, fields: dict[str, Any], klass: str = PROFILE) -> dict[str, Any]:
        body = {
            "title": title,
            "description": "test fields",
            "type": "object",
            "meta:intendedToExtend": [klass],
            "definitions": {
                "customFields": {"properties": {"_acme": {"type": "object", "properties": fields}}}
            },
            "allOf": [{"$ref": "#/definitions/customFields"}],
        }
        answer = self.send("POST", "/tenant/fieldgroups", body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def schema(self, title: str, refs: list[str]) -> requests.Response:
        body = {"title": title, "description": "test", "type": "object", "allOf": [{"$ref": r} for r in refs]}
        return self.send("POST", "/tenant/schemas", body)


@pytest.fixture(scope="module")
def reg(emu, auth) -> Registry:
    return Registry(emu.url, auth)


def unique(name: str) -> str:
    return f"{name} {next(_n)}"


def test_stats_gives_the_tenant_id_and_counts_the_sandbox_file_schemas(reg):
    answer = reg.get("/stats", None)

    assert answer.status_code == 200
    stats = m.Stats.model_validate(answer.json())
    assert stats.tenantId == "acme"
    assert stats.counts.schemas >= 4
    assert stats.counts.unions == 2  # Profile and ExperienceEvent, from the file's enabled datasets


def test_field_group_create_list_filter_and_lookup_by_id_or_alt_id(reg):
    title = unique("Caller Fields")
    created = m.FieldGroup.model_validate(reg.fieldgroup(title, {"tier": {"type": "string"}}))

    listed = reg.get("/tenant/fieldgroups", IDS, property=f"title=={title}")
    by_id = reg.get(f"/tenant/fieldgroups/{quote(created.id, safe='')}", XED)
    by_alt = reg.get(f"/tenant/fieldgroups/{created.alt_id}", XED)

    assert created.id.startswith("https://ns.adobe.com/acme/mixins/")
    assert created.alt_id == "_acme.mixins." + created.id.rsplit("/", 1)[1]
    assert (created.version, created.tenant_namespace, created.container) == ("1.0", "_acme", "tenant")
    assert listed.status_code == 200
    listing = m.Listing.model_validate(listed.json())
    assert [m.ListItem.model_validate(r).id for r in listing.results] == [created.id]
    assert listing.page.next is None
    assert by_id.status_code == by_alt.status_code == 200
    assert by_id.json() == by_alt.json()
    assert by_id.json()["definitions"] == created.definitions


def test_titles_are_unique_across_field_groups_and_schemas_with_400_not_409(reg):
    title = unique("Shared Title")
    group = reg.fieldgroup(title, {"a": {"type": "string"}})

    again = reg.send("POST", "/tenant/fieldgroups", {**group, "$id": None})
    as_schema = reg.schema(title, [PROFILE, group["$id"]])

    for answer in (again, as_schema):
        assert answer.status_code == 400
        error = m.RegistryError.model_validate(answer.json())
        assert error.type.endswith("XDM-1521-400")
        assert group["$id"] in error.detail
        assert "same title" in error.detail


def test_custom_fields_outside_the_tenant_object_and_untyped_fields_are_refused(reg):
    outside = {
        "title": unique("Outside"),
        "type": "object",
        "meta:intendedToExtend": [PROFILE],
        "definitions": {"customFields": {"properties": {"loyaltyTier": {"type": "string"}}}},
    }
    untyped = {**outside, "title": unique("Untyped")}
    untyped["definitions"] = {"c": {"properties": {"_acme": {"type": "object", "properties": {"x": {}}}}}}
    no_class = {k: v for k, v in outside.items() if k != "meta:intendedToExtend"}

    refused = reg.send("POST", "/tenant/fieldgroups", outside)
    bad_type = reg.send("POST", "/tenant/fieldgroups", untyped)
    missing = reg.send("POST", "/tenant/fieldgroups", no_class)
    no_json = reg.send("POST", "/tenant/fieldgroups", outside, content_type="text/plain")

    assert refused.status_code == 400
    assert m.RegistryError.model_validate(refused.json()).type.endswith("XDM-1020-400")
    for answer in (bad_type, missing, no_json):
        assert answer.status_code == 400
        m.GenericError.model_validate(answer.json())
    assert "content-type" in no_json.json()["detail"]


def test_schema_create_patch_a_field_group_then_enable_for_profile(reg):
    phone = reg.fieldgroup(unique("Phone Fields"), {"phone": {"type": "string"}})
    extra = reg.fieldgroup(unique("Extra Fields"), {"score": {"type": "integer"}})
    created = reg.schema(unique("Partner Profiles"), [PROFILE, phone["$id"]])
    assert created.status_code == 201
    schema = m.Schema.model_validate(created.json())
    path = f"/tenant/schemas/{quote(schema.id, safe='')}"

    added = reg.send("PATCH", path, [{"op": "add", "path": "/allOf/-", "value": {"$ref": extra["$id"]}}])
    union = reg.send("PATCH", path, [{"op": "add", "path": "/meta:immutableTags", "value": ["union"]}])
    full = reg.get(path, FULL)

    assert schema.klass == PROFILE
    assert schema.version == "1.0"
    assert PROFILE in schema.extends
    assert phone["$id"] in schema.extends
    assert added.status_code == 200
    assert m.Schema.model_validate(added.json()).version == "1.1"
    assert extra["$id"] in added.json()["meta:extends"]
    assert union.status_code == 200
    assert union.json()["meta:immutableTags"] == ["union"]
    resolved = m.FullSchema.model_validate(full.json())
    assert "allOf" not in full.json()
    assert resolved.properties["_acme"]["properties"] == {
        "phone": {"type": "string"},
        "score": {"type": "integer"},
    }
    assert "identityMap" in resolved.properties  # the Profile class carries identityMap


def test_a_profile_enabled_schema_keeps_its_tag_and_its_fields(reg):
    group = reg.fieldgroup(unique("Kept Fields"), {"kept": {"type": "string"}})
    schema = reg.schema(unique("Kept Schema"), [PROFILE, group["$id"]]).json()
    path = f"/tenant/schemas/{quote(schema['$id'], safe='')}"
    group_path = f"/tenant/fieldgroups/{quote(group['$id'], safe='')}"
    reg.send("PATCH", path, [{"op": "add", "path": "/meta:immutableTags", "value": ["union"]}])
    field = "/definitions/customFields/properties/_acme/properties"

    untag = reg.send("PATCH", path, [{"op": "remove", "path": "/meta:immutableTags"}])
    retype = reg.send(
        "PATCH", group_path, [{"op": "replace", "path": f"{field}/kept", "value": {"type": "integer"}}]
    )
    grow = reg.send(
        "PATCH", group_path, [{"op": "add", "path": f"{field}/more", "value": {"type": "boolean"}}]
    )

    assert untag.status_code == 400
    assert retype.status_code == 400
    assert grow.status_code == 200
    assert grow.json()["version"] == "1.1"
    full = reg.get(path, FULL).json()
    assert full["properties"]["_acme"]["properties"]["kept"] == {"type": "string"}
    assert "more" in full["properties"]["_acme"]["properties"]


def test_an_event_schema_needs_identity_map_or_a_primary_descriptor_for_the_union(reg):
    group = reg.fieldgroup(unique("Event Fields"), {"caller": {"type": "string"}}, klass=EVENT)
    schema = reg.schema(unique("Bare Events"), [EVENT, group["$id"]]).json()
    path = f"/tenant/schemas/{quote(schema['$id'], safe='')}"
    tag = [{"op": "add", "path": "/meta:immutableTags", "value": ["union"]}]

    refused = reg.send("PATCH", path, tag)
    descriptor = reg.send("POST", "/tenant/descriptors", identity(schema["$id"], "/_acme/caller"))
    accepted = reg.send("PATCH", path, tag)

    assert refused.status_code == 400
    assert m.RegistryError.model_validate(refused.json()).type.endswith("XDM-1528-400")
    assert descriptor.status_code == 201
    assert accepted.status_code == 200


def identity(schema_id: str, prop: str, primary: bool = True, namespace: str = "Phone") -> dict[str, Any]:
    return {
        "@type": "xdm:descriptorIdentity",
        "xdm:sourceSchema": schema_id,
        "xdm:sourceVersion": 1,
        "xdm:sourceProperty": prop,
        "xdm:namespace": namespace,
        "xdm:property": "xdm:code",
        "xdm:isPrimary": primary,
    }


def test_descriptors_create_list_in_every_format_and_lookup(reg):
    group = reg.fieldgroup(unique("Id Fields"), {"phone": {"type": "string"}, "email": {"type": "string"}})
    schema_id = reg.schema(unique("Id Schema"), [PROFILE, group["$id"]]).json()["$id"]

    created = reg.send("POST", "/tenant/descriptors", identity(schema_id, "/_acme/phone"))
    second_primary = reg.send("POST", "/tenant/descriptors", identity(schema_id, "/_acme/email"))
    secondary = reg.send("POST", "/tenant/descriptors", identity(schema_id, "/_acme/email", False, "Email"))
    no_field = reg.send("POST", "/tenant/descriptors", identity(schema_id, "/_acme/missing", False))
    trailing = reg.send("POST", "/tenant/descriptors", identity(schema_id, "/_acme/email/", False))
    filters = {"property": f"xdm:sourceSchema=={schema_id}"}
    v2 = reg.get("/tenant/descriptors", "application/vnd.adobe.xdm-v2+json", **filters)
    by_type = reg.get("/tenant/descriptors", "application/vnd.adobe.xdm+json", **filters)
    ids = reg.get("/tenant/descriptors", "application/vnd.adobe.xdm-id+json", **filters)
    one = reg.get(f"/tenant/descriptors/{created.json()['@id']}", None)

    assert created.status_code == 201
    descriptor = m.IdentityDescriptor.model_validate(created.json())
    assert (descriptor.source_property, descriptor.primary) == ("/_acme/phone", True)
    assert second_primary.status_code == 400
    assert no_field.status_code == 400
    assert trailing.status_code == 400
    assert secondary.status_code == 201
    assert v2.status_code == 200
    listing = m.Listing.model_validate(v2.json())
    assert sorted(d["xdm:sourceProperty"] for d in listing.results) == ["/_acme/email", "/_acme/phone"]
    assert list(by_type.json()) == ["xdm:descriptorIdentity"]
    for item in by_type.json()["xdm:descriptorIdentity"]:
        m.IdentityDescriptor.model_validate(item)
    assert sorted(ids.json()["xdm:descriptorIdentity"]) == sorted([descriptor.at_id, secondary.json()["@id"]])
    assert one.status_code == 200
    assert one.json() == created.json()


@pytest.mark.parametrize(
    ("path", "accept", "status", "code"),
    [
        ("/tenant/schemas", XED, 400, "XDM-1006-400"),  # a listing with a version
        ("/tenant/schemas", "application/json", 400, "XDM-1006-400"),
        (
            "/tenant/schemas/_acme.schemas.ivr-call-event",
            "application/vnd.adobe.xed+json",
            400,
            "XDM-1007-400",
        ),
        ("/tenant/schemas/_acme.schemas.ivr-call-event", None, 400, "XDM-1007-400"),
        ("/tenant/descriptors", "application/vnd.adobe.xed+json", 400, "XDM-1008-400"),
        ("/tenant/descriptors/abc", XED, 400, "XDM-1009-400"),
        ("/tenant/schemas/_acme.schemas.nope", XED, 404, "XDM-1012-404"),
        (
            "/tenant/schemas/_acme.schemas.ivr-call-event",
            "application/vnd.adobe.xed+json; version=2",
            404,
            None,
        ),
    ],
)
def test_documented_accept_and_lookup_errors(reg, path, accept, status, code):
    answer = reg.get(path, accept)

    assert answer.status_code == status
    error = m.RegistryError.model_validate(answer.json())
    assert code is None or error.type.endswith(code)


@pytest.mark.parametrize("accept", ["application/json", IDS, "application/vnd.adobe.xdm+json; version=1"])
def test_a_lookup_format_the_registry_does_not_serve_is_406(reg, accept):
    answer = reg.get("/tenant/schemas/_acme.schemas.ivr-call-event", accept)

    assert answer.status_code == 406


@pytest.mark.parametrize(
    "accept",
    [
        "application/vnd.adobe.xed-notext+json; version=1",
        "application/vnd.adobe.xed-full-notext+json; version=1",
        "application/vnd.adobe.xed-full-desc+json; version=1",
        "application/vnd.adobe.xed-full+json;version=1",
    ],
)
def test_lookup_variants(reg, accept):
    answer = reg.get(f"/tenant/schemas/{quote(EVENTS_SCHEMA, safe='')}", accept)

    assert answer.status_code == 200
    body = answer.json()
    full = "full" in accept
    assert ("properties" in body) is full
    assert ("allOf" in body) is not full
    if full:
        assert ("title" in body["properties"]["timestamp"]) is (accept.endswith("full+json;version=1"))


def test_paging_follows_start_by_title(reg):
    prefix = unique("Paged")
    titles = [f"{prefix} {c}" for c in "abcde"]
    for title in titles:
        reg.fieldgroup(title, {"x": {"type": "string"}})
    seen: list[str] = []
    start: str | None = None
    pages = 0
    while True:
        between = [f"title>={prefix}", f"title<{prefix}~"]  # repeated property filters: AND
        params: dict[str, Any] = {"orderby": "title", "limit": 2, "property": between}
        if start is not None:
            params["start"] = start
        listing = m.Listing.model_validate(reg.get("/tenant/fieldgroups", IDS, **params).json())
        seen += [r["title"] for r in listing.results]
        pages += 1
        start = listing.page.next
        if start is None:
            break
        assert listing.links["next"]["href"]

    assert seen == titles
    assert pages == 3


def test_sandbox_file_schemas_are_served_resolved_with_their_identity(reg):
    full = reg.get(f"/tenant/schemas/{quote(EVENTS_SCHEMA, safe='')}", FULL)
    loyalty = reg.get(
        "/tenant/descriptors",
        "application/vnd.adobe.xdm+json",
        property="xdm:sourceSchema==https://ns.adobe.com/acme/schemas/loyalty-member",
    )
    unions = reg.get("/tenant/unions", IDS)
    profile_union = reg.get(f"/tenant/unions/{quote(PROFILE + '__union', safe='')}", FULL)

    schema = m.FullSchema.model_validate(full.json())
    call = schema.properties["_acme"]["properties"]["call"]
    assert call["properties"]["durationSeconds"] == {"type": "integer", "minimum": 0}
    assert call["properties"]["direction"] == {"type": "string", "enum": ["inbound", "outbound"]}
    assert "direction" in call["required"]
    assert schema.klass == EVENT
    [descriptor] = loyalty.json()["xdm:descriptorIdentity"]
    assert (descriptor["xdm:sourceProperty"], descriptor["xdm:namespace"]) == (
        "/_acme/loyalty/email",
        "Email",
    )
    assert {u["$id"] for u in unions.json()["results"]} == {PROFILE + "__union", EVENT + "__union"}
    union = m.Union.model_validate(profile_union.json() | {"allOf": []})
    assert union.klass == PROFILE
    assert {"tier", "openCase", "loyalty"} <= set(profile_union.json()["properties"]["_acme"]["properties"])


def test_the_emulator_validates_records_with_the_registry_schema(emu, reg):
    """A field added to a sandbox-file field group becomes valid for streaming at once."""
    record = call_event("+14155550199", 1)
    record["_acme"]["call"]["language"] = "fr"
    url = f"{emu.url}/collection/{EVENTS_INLET}?syncValidation=true"
    message = envelope(emu, CALL_EVENTS, record)
    group = "/tenant/fieldgroups/_acme.mixins.ivr-call-event-fields"
    field = "/definitions/customFields/properties/_acme/properties/call/properties/language"

    before = requests.post(url, json=message, headers={"x-sandbox-name": "prod"}, timeout=5)
    patched = reg.send("PATCH", group, [{"op": "add", "path": field, "value": {"type": "string"}}])
    after = requests.post(url, json=message, headers={"x-sandbox-name": "prod"}, timeout=5)

    assert before.status_code == 400
    assert "_acme.call.language" in str(before.json())
    assert patched.status_code == 200
    assert after.status_code == 200
