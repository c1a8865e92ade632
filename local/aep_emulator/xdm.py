"""One sandbox's Schema Registry: classes, field groups, schemas, identity descriptors and unions.

Resources are kept as the JSON the registry answers with (``$id``, ``meta:altId``, ``allOf`` ...).
:meth:`Registry.resolve` merges a schema's class and field groups into one object with ``properties``
(what ``application/vnd.adobe.xed-full+json; version=1`` returns, and what validators compile),
:meth:`Registry.check` compiles that schema into the checks :func:`aep_emulator.records.validate` runs
(:mod:`aep_emulator.conformance`), and :meth:`Registry.view` gives a dataset its schema's field types
(CSV typing), class and primary identity. The sandbox file's datasets are seeded as schemas
(:meth:`Registry.seed`), so a dataset's rules come from the registry whether its schema came from the file
or from setup calls.

The global container holds the two classes and two standard field groups (``identitymap`` and a subset
of Demographic Details: ``person.name``), not Adobe's whole library.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Mapping
from typing import Any

from aep_emulator.config import Dataset, FieldSpec, PrimaryIdentity, SandboxConfig
from aep_emulator.conformance import Channel, SchemaCheck

NS = "https://ns.adobe.com/"
PROFILE = NS + "xdm/context/profile"
EVENT = NS + "xdm/context/experienceevent"
IDENTITY_MAP = NS + "xdm/context/identitymap"
PERSON = NS + "xdm/context/profile-person-details"
KLASS = {PROFILE: "profile", EVENT: "experienceevent"}
UNION_SUFFIX = "__union"

_IDENTITY_ITEM = {
    "type": "object",
    "properties": {
        "id": {"title": "Identifier", "type": "string"},
        "authenticatedState": {
            "title": "Authenticated state",
            "type": "string",
            "enum": ["ambiguous", "authenticated", "loggedOut"],
            "default": "ambiguous",
        },
        "primary": {"title": "Primary", "type": "boolean", "default": False},
    },
}
_IDENTITY_MAP_FIELD = {
    "title": "Identity Map",
    "type": "object",
    "meta:xdmType": "map",
    "additionalProperties": {"type": "array", "items": _IDENTITY_ITEM},
}
_PERSON_FIELD = {
    "title": "Person",
    "type": "object",
    "properties": {
        "name": {
            "title": "Full name",
            "type": "object",
            "properties": {
                key: {"title": title, "type": "string"}
                for key, title in (
                    ("firstName", "First name"),
                    ("middleName", "Middle name"),
                    ("lastName", "Last name"),
                    ("fullName", "Full name"),
                )
            },
        }
    },
}


def alt_id(resource_id: str) -> str:
    """``https://ns.adobe.com/acme/schemas/x`` -> ``_acme.schemas.x`` (the registry's dot notation)."""
    return "_" + resource_id.removeprefix(NS).replace("/", ".")


def _global(rid: str, kind: str, title: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "$id": rid,
        "meta:altId": alt_id(rid),
        "meta:resourceType": kind,
        "version": "1.0",
        "title": title,
        "type": "object",
        "description": title,
        "meta:containerId": "global",
        **body,
    }


GLOBALS: dict[str, dict[str, Any]] = {
    PROFILE: _global(
        PROFILE,
        "classes",
        "XDM Individual Profile",
        {
            "properties": {"_id": {"title": "Identifier", "type": "string", "format": "uri-reference"}},
            "meta:extends": [NS + "xdm/data/record", IDENTITY_MAP, NS + "xdm/common/extensible"],
        },
    ),
    EVENT: _global(
        EVENT,
        "classes",
        "XDM ExperienceEvent",
        {
            "properties": {
                "_id": {"title": "Identifier", "type": "string", "format": "uri-reference"},
                "timestamp": {"title": "Timestamp", "type": "string", "format": "date-time"},
                "eventType": {"title": "Event Type", "type": "string"},
            },
            "required": ["_id", "timestamp"],
            "meta:extends": [NS + "xdm/data/time-series", NS + "xdm/common/extensible"],
        },
    ),
    IDENTITY_MAP: _global(
        IDENTITY_MAP,
        "mixins",
        "IdentityMap",
        {
            "meta:intendedToExtend": [PROFILE, EVENT],
            "definitions": {"identitymap": {"properties": {"identityMap": _IDENTITY_MAP_FIELD}}},
            "allOf": [{"$ref": "#/definitions/identitymap"}],
        },
    ),
    PERSON: _global(
        PERSON,
        "mixins",
        "Demographic Details",
        {
            "meta:intendedToExtend": [PROFILE],
            "definitions": {"profile-person-details": {"properties": {"person": _PERSON_FIELD}}},
            "allOf": [{"$ref": "#/definitions/profile-person-details"}],
        },
    ),
}


def _merge(into: dict[str, Any], props: dict[str, Any], required: list[str], target: dict[str, Any]) -> None:
    """Deep-merge ``props`` into ``into`` (objects merge their properties; ``required`` lists join)."""
    for name, spec in props.items():
        have = into.get(name)
        if isinstance(have, dict) and "properties" in have and "properties" in spec:
            _merge(have["properties"], spec["properties"], spec.get("required", []), have)
        else:
            into[name] = copy.deepcopy(spec)
    if required:
        target["required"] = sorted({*target.get("required", []), *required})


def _field_kind(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "object")
    if kind == "string" and spec.get("format") == "date-time":
        return "date-time"
    return kind if kind in ("string", "integer", "number", "boolean", "array") else "object"


def rules(properties: dict[str, Any], required: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """A resolved schema's record rules: field path -> kind, the paths always required (leaves of fully
    required chains), and the paths required only when their parent object is present."""
    fields: dict[str, str] = {}
    always: list[str] = []
    when_parent: list[str] = []

    def walk(props: dict[str, Any], req: list[str], prefix: str, chain: bool) -> None:
        for name, spec in props.items():
            path = prefix + name
            if path == "identityMap":  # checked by its own rules (records.identities)
                continue
            needed = name in req
            if needed:
                (always if chain else when_parent).append(path)
            if _field_kind(spec) == "object" and spec.get("properties"):
                walk(spec["properties"], spec.get("required", []), path + ".", chain and needed)
            else:
                fields[path] = _field_kind(spec)

    walk(properties, required, "", True)
    leaves = [p for p in always if not any(q.startswith(p + ".") for q in always)]
    return fields, leaves, when_parent


def _xdm_field(field: str | FieldSpec) -> dict[str, Any]:
    if isinstance(field, FieldSpec):
        return field.xdm()
    if field == "date-time":
        return {"type": "string", "format": "date-time"}
    return {"type": field}


def _nest(fields: Mapping[str, str | FieldSpec], required: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Dotted ``fields`` of a sandbox-file dataset as XDM properties; each required path is required at
    every level along it (the file's ``required`` paths are absolute)."""
    root: dict[str, Any] = {"properties": {}}
    for path, kind in fields.items():
        node = root
        *parents, leaf = path.split(".")
        for part in parents:
            node = node["properties"].setdefault(part, {"type": "object", "properties": {}})
        node["properties"][leaf] = _xdm_field(kind)
    for path in required:
        node = root
        for part in path.split("."):
            if part not in node.get("properties", {}):
                break
            node["required"] = sorted({*node.get("required", []), part})
            node = node["properties"][part]
    return root["properties"], root.get("required", [])


class Registry:
    """One sandbox's tenant container (and a view of the global one). Callers hold the space's lock."""

    def __init__(self, config: SandboxConfig, sandbox: str) -> None:
        self.config = config
        self.sandbox = sandbox
        self.tenant = config.tenant
        self.resources: dict[str, dict[str, Any]] = {}  # $id -> field group or schema
        self.descriptors: dict[str, dict[str, Any]] = {}  # @id -> descriptor
        self.generation = 0
        self._views: dict[tuple[str, int, int], Dataset] = {}
        self._checks: dict[tuple[str, str, int], SchemaCheck] = {}
        self.seed()

    # -- identity and lookup --------------------------------------------------------------------------
    @property
    def sandbox_id(self) -> str:
        digest = hashlib.sha256(f"{self.config.org_id}/{self.sandbox}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def new_id(self, kind: str, title: str) -> str:
        digest = hashlib.sha256(f"{kind}/{title}/{time.time_ns()}/{self.generation}".encode())
        return f"{NS}{self.tenant}/{kind}/{digest.hexdigest()[:48]}"

    def find(self, ref: str) -> dict[str, Any] | None:
        """A resource by ``$id`` or ``meta:altId``, tenant first, then global."""
        for pool in (self.resources, GLOBALS):
            if ref in pool:
                return pool[ref]
            found = next((r for r in pool.values() if r["meta:altId"] == ref), None)
            if found is not None:
                return found
        return None

    def titled(self, title: str) -> dict[str, Any] | None:
        return next((r for r in self.resources.values() if r["title"] == title), None)

    def touch(self) -> None:
        self.generation += 1

    def stamp(self, resource: dict[str, Any], created: bool) -> None:
        """Registry metadata, refreshed on every write (eTag over the content)."""
        now = int(time.time() * 1000)
        meta = dict(resource.get("meta:registryMetadata") or {})
        if created:
            meta["repo:createdDate"] = now
        meta["repo:lastModifiedDate"] = now
        meta["xdm:createdClientId"] = meta["xdm:lastModifiedClientId"] = "emulator-client"
        resource["meta:registryMetadata"] = meta
        body = {k: v for k, v in resource.items() if k != "meta:registryMetadata"}
        meta["eTag"] = hashlib.sha256(repr(sorted(body.items(), key=str)).encode()).hexdigest()

    def descriptors_of(self, schema_id: str) -> list[dict[str, Any]]:
        return [d for d in self.descriptors.values() if d.get("xdm:sourceSchema") == schema_id]

    # -- resolution -----------------------------------------------------------------------------------
    def refs(self, resource: dict[str, Any]) -> list[str]:
        return [
            part["$ref"]
            for part in resource.get("allOf", [])
            if isinstance(part, dict) and isinstance(part.get("$ref"), str)
        ]

    def _fieldgroup_parts(self, group: dict[str, Any]) -> list[dict[str, Any]]:
        definitions = group.get("definitions") or {}
        local = [r.removeprefix("#/definitions/") for r in self.refs(group) if r.startswith("#/definitions/")]
        return [definitions[n] for n in (local or list(definitions)) if isinstance(definitions.get(n), dict)]

    def resolve(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource with its class's and field groups' fields merged into ``properties``."""
        root: dict[str, Any] = {"properties": {}}
        parts: list[dict[str, Any]] = []
        if resource.get("meta:resourceType") in ("classes",):
            parts.append(resource)
        elif resource.get("meta:resourceType") == "mixins":
            parts += self._fieldgroup_parts(resource)
        else:
            for ref in self.refs(resource):
                target = self.find(ref)
                if target is None:
                    continue
                if target["meta:resourceType"] != "classes":
                    parts += self._fieldgroup_parts(target)
                    continue
                parts.append(target)
                for extended in target.get("meta:extends", []):  # the Profile class's identityMap
                    if GLOBALS.get(extended, {}).get("meta:resourceType") == "mixins":
                        parts += self._fieldgroup_parts(GLOBALS[extended])
        for part in parts:
            _merge(root["properties"], part.get("properties") or {}, part.get("required", []), root)
        full = {
            k: v for k, v in resource.items() if k not in ("allOf", "definitions", "properties", "required")
        }
        full["properties"] = root["properties"]
        if root.get("required"):
            full["required"] = root["required"]
        return full

    def extends(self, schema: dict[str, Any]) -> list[str]:
        """``meta:extends``: the class's own extensions, the class, and each field group."""
        out: list[str] = []
        for ref in self.refs(schema):
            target = self.find(ref)
            if target is not None:
                out += [*target.get("meta:extends", []), target["$id"]]
        return list(dict.fromkeys(out))

    def primary_identity(self, schema_id: str) -> PrimaryIdentity | None:
        for d in self.descriptors_of(schema_id):
            if d.get("@type") == "xdm:descriptorIdentity" and d.get("xdm:isPrimary") is True:
                path = str(d.get("xdm:sourceProperty", "")).strip("/").replace("/", ".")
                return PrimaryIdentity(source="descriptor", path=path, namespace=str(d["xdm:namespace"]))
        return None

    def view(self, base: Dataset) -> Dataset:
        """The dataset with its schema's current rules (fields, required, class, primary identity)."""
        schema = self.resources.get(base.schema_ref)
        if schema is None:
            return base
        key = (base.id, id(base), self.generation)
        cached = self._views.get(key)
        if cached is not None:
            return cached
        full = self.resolve(schema)
        fields, required, _ = rules(full["properties"], full.get("required", []))
        update: dict[str, Any] = {"fields": fields, "required": required}
        update["klass"] = KLASS.get(schema.get("meta:class", ""), base.klass)
        identity = self.primary_identity(schema["$id"])
        if identity is not None:
            update["primary_identity"] = identity
        view = base.model_copy(update=update)
        if len(self._views) > 256:
            self._views.clear()
        self._views[key] = view
        return view

    def check(self, base: Dataset, channel: Channel) -> SchemaCheck:
        """The dataset's schema, as :meth:`resolve` serves it now, compiled for ``channel``'s checks."""
        key = (base.schema_ref, channel, self.generation)
        cached = self._checks.get(key)
        if cached is not None:
            return cached
        schema = self.resources.get(base.schema_ref)
        full = self.resolve(schema) if schema is not None else self._unregistered(base)
        check = SchemaCheck(full, channel)
        if len(self._checks) > 256:
            self._checks.clear()
        self._checks[key] = check
        return check

    def _unregistered(self, base: Dataset) -> dict[str, Any]:
        """A dataset whose schema the registry does not hold: its class, identityMap and its own fields."""
        class_id = PROFILE if base.klass == "profile" else EVENT
        root: dict[str, Any] = {"properties": {}}
        own, required = _nest(base.fields, base.required)
        identity_map: dict[str, Any] = {"properties": {"identityMap": _IDENTITY_MAP_FIELD}}
        parts: list[dict[str, Any]] = [GLOBALS[class_id], identity_map]
        for part in parts:
            _merge(root["properties"], part["properties"], part.get("required", []), root)
        _merge(root["properties"], own, required, root)
        return root

    # -- the sandbox file -----------------------------------------------------------------------------
    def seed(self) -> None:
        """The sandbox file's datasets as registry resources: per schema, one field group with the fields
        its class lacks, the schema (class, identityMap, that group), its primary identity descriptor, and
        the union tag when the dataset is Profile-enabled."""
        self.resources.clear()
        self.descriptors.clear()
        self.touch()
        for dataset in self.config.datasets:
            if dataset.schema_ref in self.resources:
                continue
            class_id = PROFILE if dataset.klass == "profile" else EVENT
            inherited, _, _ = rules(GLOBALS[class_id]["properties"], [])
            own = {p: f for p, f in dataset.fields.items() if inherited.get(p) != f}
            properties, required = _nest(own, dataset.required)
            slug = dataset.schema_ref.rstrip("/").rsplit("/", 1)[-1]
            group_id = f"{NS}{self.tenant}/mixins/{slug}-fields"
            group = self._seeded(group_id, "mixins", f"{dataset.name} fields", class_id)
            group["meta:intendedToExtend"] = [class_id]
            group["definitions"] = {"customFields": {"properties": properties, "required": required}}
            group["allOf"] = [{"$ref": "#/definitions/customFields"}]
            schema = self._seeded(dataset.schema_ref, "schemas", dataset.name, class_id)
            schema["allOf"] = [{"$ref": class_id}, {"$ref": IDENTITY_MAP}, {"$ref": group_id}]
            schema["meta:class"] = class_id
            schema["meta:extends"] = self.extends(schema)
            if dataset.profile_enabled:
                schema["meta:immutableTags"] = ["union"]
            identity = dataset.primary_identity
            if identity.source == "descriptor" and identity.path and identity.namespace:
                descriptor_id = hashlib.sha1(f"{dataset.schema_ref}/{identity.path}".encode()).hexdigest()  # noqa: S324 - an id, not security
                self.descriptors[descriptor_id] = self.descriptor(
                    descriptor_id,
                    {
                        "@type": "xdm:descriptorIdentity",
                        "xdm:sourceSchema": dataset.schema_ref,
                        "xdm:sourceVersion": 1,
                        "xdm:sourceProperty": "/" + identity.path.replace(".", "/"),
                        "xdm:namespace": identity.namespace,
                        "xdm:property": "xdm:code",
                        "xdm:isPrimary": True,
                    },
                )

    def _seeded(self, rid: str, kind: str, title: str, class_id: str) -> dict[str, Any]:
        while self.titled(title) is not None:  # titles are unique across the registry
            title += " (copy)"
        resource = self.new_resource(rid, kind, title, f"From the sandbox file ({KLASS[class_id]}).")
        self.resources[rid] = resource
        return resource

    def new_resource(self, rid: str, kind: str, title: str, description: str) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "$id": rid,
            "meta:altId": alt_id(rid),
            "meta:resourceType": kind,
            "version": "1.0",
            "title": title,
            "type": "object",
            "description": description,
            "imsOrg": self.config.org_id,
            "meta:extensible": kind == "mixins",
            "meta:abstract": kind == "mixins",
            "meta:xdmType": "object",
            "$schema": "http://json-schema.org/draft-06/schema#",
            "meta:containerId": "tenant",
            "meta:sandboxId": self.sandbox_id,
            "meta:sandboxType": "production" if self.sandbox == "prod" else "development",
            "meta:tenantNamespace": f"_{self.tenant}",
        }
        self.stamp(resource, created=True)
        return resource

    def descriptor(self, descriptor_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "@id": descriptor_id,
            **body,
            "imsOrg": self.config.org_id,
            "version": "1",
            "meta:containerId": "tenant",
            "meta:sandboxId": self.sandbox_id,
            "meta:sandboxType": "production" if self.sandbox == "prod" else "development",
        }
