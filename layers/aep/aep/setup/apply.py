"""Converge an AEP sandbox to a setup file, in aep-api.md 10.1's order: tenant id, namespaces, field
groups, schemas, identity descriptors, union tag, datasets, base / source / target connections, dataflow.

One walk serves both commands: ``plan`` (``write=False``) reads and records what it would do, ``apply``
does it. Existing resources are found by their keys (titles, names, codes, the ids they link to), what
matches is left alone, what is missing is created, additive changes are patched; what cannot be fixed
without deleting or retyping is reported as drift. A second ``apply`` makes no write, and an ``apply``
stopped midway leaves what it made for the next run to find.
"""

from __future__ import annotations

import re
from typing import Any

from aep.errors import AepError
from aep.setup.api import DATA_LAKE_SPEC, FLOW_SPEC, HTTP_API_SPEC, SCHEMA_CONTENT_TYPE, Finder, SetupApi
from aep.setup.model import DatasetSpec, FieldGroupSpec, SchemaSpec, SetupFile, StreamingSpec
from aep.setup.plan import Change, Drift, Report, field_diff

_ENABLED = "enabled:true"


def _enabled(tags: Any, tag: str) -> bool:
    values = tags.get(tag, []) if isinstance(tags, dict) else []
    return any(isinstance(v, str) and re.sub(r"\s", "", v).lower() == _ENABLED for v in values)


def _title_clash(exc: AepError) -> bool:
    """The registry's duplicate title: 400 ``XDM-1521-400`` (or the older text "same title")."""
    text = f"{exc.code or ''} {exc.message} {exc.body or ''}"
    return exc.status == 400 and ("XDM-1521" in text or "same title" in text)


class Converger:
    def __init__(self, api: SetupApi, setup: SetupFile, *, write: bool) -> None:
        self.api = api
        self.setup = setup
        self.write = write
        self.report = Report(applied=write)
        self.tenant = ""
        self.groups: dict[str, str | None] = {}  # title -> $id (None: to be created, plan only)
        self.schemas: dict[str, dict[str, Any] | None] = {}
        self.blocked: set[str] = set()  # schemas and datasets whose drift stops what depends on them
        self.datasets: dict[str, str | None] = {}

    def _flow_finder(self, kind: str, *filters: str, name: str | None = None) -> Finder:
        """The first Flow Service item of ``kind`` matching ``filters`` (and named ``name``)."""

        def find() -> str | None:
            items = self.api.flow_items(kind, *filters)
            return next((str(i["id"]) for i in items if name is None or i.get("name") == name), None)

        return find

    def _dataset_finder(self, name: str, schema_id: str) -> Finder:
        """The dataset named ``name`` on ``schema_id`` (the oldest by id when there are several)."""

        def find() -> str | None:
            found = self.api.datasets_named(name)
            mine = sorted(k for k, v in found.items() if (v.get("schemaRef") or {}).get("id") == schema_id)
            return mine[0] if mine else None

        return find

    def change(self, action: str, kind: str, name: str, detail: str = "") -> None:
        self.report.changes.append(Change("create" if action == "create" else "update", kind, name, detail))

    def drift(self, kind: str, name: str, detail: str) -> None:
        self.report.drift.append(Drift(kind, name, detail))

    def run(self) -> Report:
        """Raises the AepError of a call that fails; what was made before it stays made."""
        writes_before = self.api.writes
        try:
            self.tenant = self.api.tenant_id()
            self._namespaces()
            for group in self.setup.field_groups:
                self._field_group(group)
            for schema in self.setup.schemas:
                self._schema(schema)
            for schema in self.setup.schemas:
                self._identity(schema)
                self._union(schema)
            for dataset in self.setup.datasets:
                self._dataset(dataset)
            streams = {s.name: self._streaming(s) for s in self.setup.streaming}
        finally:
            self.report.writes = self.api.writes - writes_before
        self.report.outputs = {
            "tenantId": self.tenant,
            "schemas": {
                title: {"id": s["$id"], "altId": s["meta:altId"]} if s else None
                for title, s in self.schemas.items()
            },
            "datasets": dict(self.datasets),
            "streaming": streams,
        }
        return self.report

    # -- namespaces ---------------------------------------------------------------------------------
    def _namespaces(self) -> None:
        codes = {str(n.get("code", "")).lower() for n in self.api.namespaces()}
        for spec in self.setup.namespaces:
            if spec.code.lower() in codes:
                continue
            self.change("create", "namespace", spec.code)
            if self.write:
                body = {"code": spec.code, "name": spec.name, "idType": spec.id_type}
                if spec.description:
                    body["description"] = spec.description
                try:
                    self.api.create_namespace(body)
                except AepError as exc:
                    if exc.status != 409:  # created by a run whose answer was lost: adopt it
                        raise
            codes.add(spec.code.lower())
        for schema in self.setup.schemas:
            identity = schema.primary_identity
            if identity is not None and identity.namespace.lower() not in codes:
                self.drift("namespace", identity.namespace, f"used by schema {schema.title!r}, not in AEP")

    # -- field groups -------------------------------------------------------------------------------
    def _create_titled(self, kind: str, title: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.api.create(kind, body)
        except AepError as exc:
            if not _title_clash(exc):
                raise
            found = self.api.find_titled(kind, title)  # made by a run whose answer was lost
            if found is None:
                raise
            return found

    def _field_group(self, spec: FieldGroupSpec) -> None:
        tenant_key = f"_{self.tenant}"
        fields = {name: f.xdm(name) for name, f in spec.fields.items()}
        found = self.api.find_titled("fieldgroups", spec.title)
        if found is None:
            self.change("create", "field group", spec.title, f"{len(fields)} field(s)")
            self.groups[spec.title] = None
            if self.write:
                body = {
                    "title": spec.title,
                    "description": spec.description or spec.title,
                    "type": "object",
                    "meta:intendedToExtend": spec.class_ids,
                    "definitions": {
                        "customFields": {"properties": {tenant_key: {"type": "object", "properties": fields}}}
                    },
                    "allOf": [{"$ref": "#/definitions/customFields"}],
                }
                self.groups[spec.title] = str(self._create_titled("fieldgroups", spec.title, body)["$id"])
            return
        self.groups[spec.title] = str(found["$id"])
        operations = [
            {"op": "add", "path": "/meta:intendedToExtend/-", "value": c}
            for c in spec.class_ids
            if c not in found.get("meta:intendedToExtend", [])
        ]
        definitions = found.get("definitions") or {}
        holder = next(
            (
                name
                for name, part in definitions.items()
                if isinstance(part, dict) and tenant_key in (part.get("properties") or {})
            ),
            None,
        )
        if holder is None:
            self.drift("field group", spec.title, f"has no {tenant_key} object to add the fields to")
        else:
            actual = definitions[holder]["properties"][tenant_key].get("properties") or {}
            pointer = f"/definitions/{holder}/properties/{tenant_key}/properties"
            more, drift = field_diff(fields, actual, pointer)
            operations += more
            for problem in drift:
                self.drift("field group", spec.title, problem)
        if operations:
            added = [op["path"].rsplit("/", 1)[-1] for op in operations if "/properties/" in op["path"]]
            self.change("update", "field group", spec.title, "add " + ", ".join(added or ["classes"]))
            if self.write:
                self.api.patch("fieldgroups", str(found["$id"]), operations)

    # -- schemas ------------------------------------------------------------------------------------
    def _refs(self, spec: SchemaSpec) -> list[str | None]:
        return [self.groups.get(ref) if ref in self.groups else ref for ref in spec.field_groups]

    def _schema(self, spec: SchemaSpec) -> None:
        refs = self._refs(spec)
        found = self.api.find_titled("schemas", spec.title)
        if found is None:
            self.change("create", "schema", spec.title, f"class {spec.class_}, {len(refs)} field group(s)")
            self.schemas[spec.title] = None
            if self.write:
                body = {
                    "title": spec.title,
                    "description": spec.description or spec.title,
                    "type": "object",
                    "allOf": [{"$ref": spec.class_id}, *({"$ref": r} for r in refs)],
                }
                self.schemas[spec.title] = self._create_titled("schemas", spec.title, body)
            return
        self.schemas[spec.title] = found
        if found.get("meta:class") != spec.class_id:
            self.drift(
                "schema",
                spec.title,
                f"class is {found.get('meta:class')} in AEP, {spec.class_id} in the file",
            )
            self.blocked.add(spec.title)
            return
        have = {part.get("$ref") for part in found.get("allOf", []) if isinstance(part, dict)}
        missing = [r for r in refs if r is None or r not in have]
        if missing:
            self.change("update", "schema", spec.title, f"add {len(missing)} field group(s)")
            if self.write:
                operations = [{"op": "add", "path": "/allOf/-", "value": {"$ref": r}} for r in missing]
                self.schemas[spec.title] = self.api.patch("schemas", str(found["$id"]), operations)
        if "union" in found.get("meta:immutableTags", []) and not spec.profile:
            self.drift(
                "schema", spec.title, "enabled for Profile in AEP (permanent), profile: false in the file"
            )

    def _identity(self, spec: SchemaSpec) -> None:
        identity = spec.primary_identity
        schema = self.schemas.get(spec.title)
        if identity is None or spec.title in self.blocked:
            return
        prop = identity.source_property(self.tenant)
        detail = f"{prop} primary in namespace {identity.namespace}"
        if schema is None:
            self.change("create", "identity descriptor", spec.title, detail)
            return
        descriptors = [
            d
            for d in self.api.descriptors_of(str(schema["$id"]))
            if d.get("@type") == "xdm:descriptorIdentity"
        ]
        same = next((d for d in descriptors if d.get("xdm:sourceProperty") == prop), None)
        if same is not None:
            if str(same.get("xdm:namespace", "")).lower() != identity.namespace.lower() or not same.get(
                "xdm:isPrimary"
            ):
                self.drift(
                    "identity descriptor",
                    spec.title,
                    f"{prop} is {same.get('xdm:namespace')} "
                    f"(primary: {bool(same.get('xdm:isPrimary'))}) in AEP, {detail} in the file",
                )
            return
        other = next((d for d in descriptors if d.get("xdm:isPrimary")), None)
        if other is not None:
            self.drift(
                "identity descriptor",
                spec.title,
                f"primary identity is {other.get('xdm:sourceProperty')} in AEP, {prop} in the file",
            )
            return
        self.change("create", "identity descriptor", spec.title, detail)
        if self.write:
            self.api.create_descriptor(
                {
                    "@type": "xdm:descriptorIdentity",
                    "xdm:sourceSchema": schema["$id"],
                    "xdm:sourceVersion": 1,
                    "xdm:sourceProperty": prop,
                    "xdm:namespace": identity.namespace,
                    "xdm:property": "xdm:code",
                    "xdm:isPrimary": True,
                }
            )

    def _union(self, spec: SchemaSpec) -> None:
        schema = self.schemas.get(spec.title)
        if not spec.profile or spec.title in self.blocked:
            return
        if schema is not None and "union" in schema.get("meta:immutableTags", []):
            return
        self.change("update", "schema", spec.title, "enable for Profile (union tag)")
        if self.write and schema is not None:
            operations = [{"op": "add", "path": "/meta:immutableTags", "value": ["union"]}]
            self.schemas[spec.title] = self.api.patch("schemas", str(schema["$id"]), operations)

    # -- datasets -----------------------------------------------------------------------------------
    def _dataset(self, spec: DatasetSpec) -> None:
        self.datasets[spec.name] = None
        if spec.schema_ in self.blocked:
            self.blocked.add(spec.name)
            return
        schema = self.schemas.get(spec.schema_)
        wanted_tags = [
            t for t, on in (("unifiedProfile", spec.profile), ("unifiedIdentity", spec.identity)) if on
        ]
        found = self.api.datasets_named(spec.name) if schema is not None else {}
        mine = sorted(
            k for k, v in found.items() if (v.get("schemaRef") or {}).get("id") == (schema or {}).get("$id")
        )
        if not mine and found:
            others = sorted({str((v.get("schemaRef") or {}).get("id")) for v in found.values()})
            self.drift(
                "dataset", spec.name, f"exists on schema {', '.join(others)}, not {schema and schema['$id']}"
            )
            self.blocked.add(spec.name)
            return
        if not mine:
            self.change(
                "create", "dataset", spec.name, f"schema {spec.schema_!r}, tags {wanted_tags or 'none'}"
            )
            if self.write and schema is not None:
                body: dict[str, Any] = {
                    "name": spec.name,
                    "description": spec.description or spec.name,
                    "schemaRef": {"id": schema["$id"], "contentType": SCHEMA_CONTENT_TYPE},
                }
                if wanted_tags:
                    body["tags"] = {t: [_ENABLED] for t in wanted_tags}
                self.datasets[spec.name] = self.api.create_dataset(
                    body, self._dataset_finder(spec.name, str(schema["$id"]))
                )
            return
        dataset_id = mine[0]
        self.datasets[spec.name] = dataset_id
        tags = found[dataset_id].get("tags") or {}
        missing = [t for t in wanted_tags if not _enabled(tags, t)]
        for tag, on in (("unifiedProfile", spec.profile), ("unifiedIdentity", spec.identity)):
            if not on and _enabled(tags, tag):
                self.drift(
                    "dataset", spec.name, f"{tag} is enabled in AEP, not in the file (never disabled here)"
                )
        if missing:
            self.change("update", "dataset", spec.name, "enable " + ", ".join(missing))
            if self.write:
                self.api.patch_dataset(
                    dataset_id, [{"op": "add", "path": f"/tags/{t}", "value": [_ENABLED]} for t in missing]
                )

    # -- HTTP API streaming -------------------------------------------------------------------------
    def _streaming(self, spec: StreamingSpec) -> dict[str, Any]:
        out: dict[str, Any] = {
            "datasetId": self.datasets.get(spec.dataset),
            "inletId": None,
            "inletUrl": None,
            "flowId": None,
        }
        if spec.dataset in self.blocked:
            self.drift("streaming", spec.name, f"dataset {spec.dataset!r} has drift: not connected")
            return out
        dataset_spec = next(d for d in self.setup.datasets if d.name == spec.dataset)
        schema = self.schemas.get(dataset_spec.schema_)
        dataset_id = self.datasets.get(spec.dataset)
        api = self.api
        base_filters = (f"connectionSpec.id=={HTTP_API_SPEC}", f"name=={spec.name}")
        bases = api.flow_items("connections", *base_filters)
        base = next((b for b in bases if b.get("name") == spec.name), None)
        if base is None:
            self.change("create", "base connection", spec.name, f"authenticated: {spec.authenticated}")
            if not self.write:
                self.change("create", "source connection", spec.name)
                self.change("create", "target connection", spec.name, f"dataset {spec.dataset!r}")
                self.change("create", "dataflow", spec.name)
                return out
            base_id = api.create_flow_item(
                "connections",
                {
                    "name": spec.name,
                    "description": spec.description or spec.name,
                    "connectionSpec": {"id": HTTP_API_SPEC, "version": "1.0"},
                    "auth": {
                        "specName": "Streaming Connection",
                        "params": {
                            "name": spec.name,
                            "dataType": "xdm",
                            "authenticationRequired": spec.authenticated,
                        },
                    },
                },
                self._flow_finder("connections", *base_filters, name=spec.name),
            )
            base = api.flow_item("connections", base_id)
        params = (base.get("auth") or {}).get("params") or {}
        out.update(inletId=params.get("inletId"), inletUrl=params.get("inletUrl"))
        if bool(params.get("authenticationRequired")) != spec.authenticated:
            self.drift(
                "base connection",
                spec.name,
                f"authenticationRequired is "
                f"{bool(params.get('authenticationRequired'))} in AEP, {spec.authenticated} in the file",
            )
        source_filter = f"baseConnectionId=={base['id']}"
        sources = api.flow_items("sourceConnections", source_filter)
        source_id = str(sources[0]["id"]) if sources else None
        if source_id is None:
            self.change("create", "source connection", spec.name)
            if self.write:
                source_id = api.create_flow_item(
                    "sourceConnections",
                    {
                        "name": f"{spec.name} source",
                        "baseConnectionId": base["id"],
                        "connectionSpec": {"id": HTTP_API_SPEC, "version": "1.0"},
                        "data": {"format": "json"},
                    },
                    self._flow_finder("sourceConnections", source_filter),
                )
        target_id: str | None = None
        target_filters = (f"connectionSpec.id=={DATA_LAKE_SPEC}", f"params.dataSetId=={dataset_id}")
        if dataset_id is not None:
            targets = api.flow_items("targetConnections", *target_filters)
            target_id = str(targets[0]["id"]) if targets else None
        if target_id is None:
            self.change("create", "target connection", spec.name, f"dataset {spec.dataset!r}")
            if self.write and schema is not None and dataset_id is not None:
                target_id = api.create_flow_item(
                    "targetConnections",
                    {
                        "name": f"{spec.name} target",
                        "data": {
                            "format": "json",
                            "schema": {"id": schema["$id"], "version": SCHEMA_CONTENT_TYPE},
                        },
                        "params": {"dataSetId": dataset_id},
                        "connectionSpec": {"id": DATA_LAKE_SPEC, "version": "1.0"},
                    },
                    self._flow_finder("targetConnections", *target_filters),
                )
        flow_filters = (f"sourceConnectionIds[]=={source_id}", f"flowSpec.id=={FLOW_SPEC}")
        flows = api.flow_items("flows", *flow_filters) if source_id is not None else []
        if flows:
            flow = flows[0]
            out["flowId"] = flow["id"]
            if target_id is not None and target_id not in flow.get("targetConnectionIds", []):
                self.drift(
                    "dataflow",
                    spec.name,
                    f"goes to target {flow.get('targetConnectionIds')}, "
                    f"not the dataset {spec.dataset!r}'s target",
                )
            return out
        self.change("create", "dataflow", spec.name)
        if self.write and source_id is not None and target_id is not None:
            out["flowId"] = api.create_flow_item(
                "flows",
                {
                    "name": f"{spec.name} dataflow",
                    "flowSpec": {"id": FLOW_SPEC, "version": "1.0"},
                    "sourceConnectionIds": [source_id],
                    "targetConnectionIds": [target_id],
                },
                self._flow_finder("flows", *flow_filters),
            )
        return out


def plan(api: SetupApi, setup: SetupFile) -> Report:
    """What ``apply`` would change, and the drift; makes no write. Raises the AepError of a failed read."""
    return Converger(api, setup, write=False).run()


def apply(api: SetupApi, setup: SetupFile) -> Report:
    """Converge the sandbox to ``setup``. Raises the AepError of a failed call (the next run resumes)."""
    return Converger(api, setup, write=True).run()
