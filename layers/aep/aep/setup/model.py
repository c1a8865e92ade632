"""The setup file: what an AEP sandbox should hold for this connector, tenant-free.

Field groups hold the partner's fields (written without the tenant object: setup places them under
``_{tenantId}``), schemas name a class and their field groups (a title from this file or a standard
field group's ``$id``), the primary identity of a schema is a path where ``_tenant`` stands for the tenant
object (it must name a field of the schema's field groups), datasets name their schema by title,
streaming connections their dataset by name, batch routes (optional) their dataset by name.

The file is read strictly: a key twice in one mapping, an enum value or bound of another type than its
field (YAML reads ``yes`` as a boolean) are refused with their path. Only CloudFormation's properties,
where every scalar arrives as a string, are coerced to the field's type first (:func:`parse`
``from_cloudformation``), where that is unambiguous.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from aep import strict_json
from aep.errors import AepConfigError

NS = "https://ns.adobe.com/"
CLASSES = {"profile": NS + "xdm/context/profile", "experienceevent": NS + "xdm/context/experienceevent"}
TENANT_SEGMENT = "_tenant"
FieldType = Literal["string", "integer", "number", "boolean", "object", "array"]
IdType = Literal["COOKIE", "CROSS_DEVICE", "DEVICE", "EMAIL", "MOBILE", "NON_PEOPLE", "PHONE"]
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: The Python types an enum value (and a bound) of each field type may have (a bool is no number here).
_VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


class SetupFileError(AepConfigError):
    """The setup file cannot be read or does not validate; the message names the path of each problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class XdmField(_Strict):
    """One field: its type and the JSON Schema keywords the registry keeps (``properties`` for objects,
    ``items`` for arrays)."""

    type: FieldType
    title: str | None = None
    description: str | None = None
    format: str | None = None
    enum: list[StrictStr | StrictBool | StrictInt | StrictFloat] | None = Field(default=None, min_length=1)
    min_length: StrictInt | None = Field(default=None, alias="minLength", ge=0)
    max_length: StrictInt | None = Field(default=None, alias="maxLength", ge=0)
    minimum: StrictFloat | None = None  # strict: an integer is a number, a boolean or a string is not
    maximum: StrictFloat | None = None
    properties: dict[str, XdmField] | None = None
    items: XdmField | None = None

    @field_validator("properties")
    @classmethod
    def _names(cls, value: dict[str, XdmField] | None) -> dict[str, XdmField] | None:
        for name in value or {}:
            if not _NAME.match(name):
                raise ValueError(f"field name {name!r} must start with a letter (letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _shape(self) -> XdmField:
        if self.type == "object" and not self.properties:
            raise ValueError("an object field needs properties")
        if self.type != "object" and self.properties is not None:
            raise ValueError(f"properties are only for objects, not {self.type}")
        if self.type == "array" and self.items is None:
            raise ValueError("an array field needs items")
        if self.type != "array" and self.items is not None:
            raise ValueError(f"items are only for arrays, not {self.type}")
        if self.enum is not None:
            allowed = _VALUE_TYPES.get(self.type)
            if allowed is None:
                raise ValueError(f"an enum is not for a field of type {self.type}")
            wrong = [v for v in self.enum if not _of_type(v, allowed)]
            if wrong:
                raise ValueError(
                    f"enum values {wrong!r} are not of the field's type {self.type} "
                    "(quote them in YAML: yes, no, on, off are booleans there)"
                )
        if (self.minimum is not None or self.maximum is not None) and self.type not in ("integer", "number"):
            raise ValueError(f"minimum / maximum are for integer and number fields, not {self.type}")
        if (self.min_length is not None or self.max_length is not None) and self.type != "string":
            raise ValueError(f"minLength / maxLength are for string fields, not {self.type}")
        return self

    def at(self, path: list[str]) -> XdmField | None:
        """The field at ``path`` below this one (``[]``: itself), or None when there is none."""
        if not path:
            return self
        child = (self.properties or {}).get(path[0])
        return child.at(path[1:]) if child is not None else None

    def xdm(self, name: str) -> dict[str, Any]:
        """The field as the Schema Registry stores it (a title defaults to the field's name)."""
        out: dict[str, Any] = {"title": self.title or name, "type": self.type}
        for key, value in self.model_dump(by_alias=True, exclude_none=True).items():
            if key not in ("title", "type", "properties", "items"):
                out[key] = value
        if self.properties is not None:
            out["properties"] = {n: f.xdm(n) for n, f in self.properties.items()}
        if self.items is not None:
            out["items"] = self.items.xdm(name)
        return out


def _of_type(value: Any, allowed: tuple[type, ...]) -> bool:
    return isinstance(value, allowed) and (bool in allowed or not isinstance(value, bool))


def class_id(value: str) -> str:
    """``profile`` / ``experienceevent`` or a class ``$id`` -> the class ``$id``."""
    return CLASSES.get(value.lower(), value)


class FieldGroupSpec(_Strict):
    title: str = Field(min_length=1)
    description: str = ""
    extends: list[str] = Field(min_length=1, description="profile, experienceevent or class $ids")
    fields: dict[str, XdmField] = Field(min_length=1)

    @field_validator("extends")
    @classmethod
    def _classes(cls, value: list[str]) -> list[str]:
        for item in value:
            if item.lower() not in CLASSES and not item.startswith(NS):
                raise ValueError(f"{item!r} is not profile, experienceevent or a class $id")
        return value

    @field_validator("fields")
    @classmethod
    def _names(cls, value: dict[str, XdmField]) -> dict[str, XdmField]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"field name {name!r} must start with a letter (letters, digits, _)")
        return value

    @property
    def class_ids(self) -> list[str]:
        return [class_id(c) for c in self.extends]


class IdentitySpec(_Strict):
    field: str = Field(pattern=r"^(/[A-Za-z_][A-Za-z0-9_]*)+$", description="/_tenant/phone")
    namespace: str = Field(min_length=1, description="a namespace code: Phone, Email or a custom one")

    def source_property(self, tenant: str) -> str:
        parts = self.field.split("/")
        return "/".join(f"_{tenant}" if p == TENANT_SEGMENT else p for p in parts)


class SchemaSpec(_Strict):
    title: str = Field(min_length=1)
    description: str = ""
    class_: str = Field(alias="class")
    field_groups: list[str] = Field(alias="fieldGroups", default_factory=list)
    primary_identity: IdentitySpec | None = Field(default=None, alias="primaryIdentity")
    profile: bool = False

    @property
    def class_id(self) -> str:
        return class_id(self.class_)


class DatasetSpec(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    schema_: str = Field(alias="schema", min_length=1)
    profile: bool = False
    identity: bool = False


class NamespaceSpec(_Strict):
    code: str = Field(pattern=r"^[A-Za-z0-9]+$")
    name: str = Field(min_length=1)
    id_type: IdType = Field(alias="idType")
    description: str = ""

    @field_validator("id_type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class StreamingSpec(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    dataset: str = Field(min_length=1)
    authenticated: bool = True


class BatchSpec(_Strict):
    """One batch route: files under ``prefix`` go to ``dataset`` (by name); the record class is the
    dataset's schema's class, the identity its primary identity; ``mapping`` is a CSV mapping
    (docs/batch.md) in which ``_tenant`` stands for the tenant object in a dotted path."""

    prefix: str = Field(min_length=1, max_length=512)
    dataset: str = Field(min_length=1)
    record_class: Literal["experienceevent", "profile"] | None = Field(default=None, alias="recordClass")
    mapping: dict[str, Any] | None = None


class SetupFile(_Strict):
    namespaces: list[NamespaceSpec] = Field(default_factory=list)
    field_groups: list[FieldGroupSpec] = Field(alias="fieldGroups", default_factory=list)
    schemas: list[SchemaSpec] = Field(default_factory=list)
    datasets: list[DatasetSpec] = Field(default_factory=list)
    streaming: list[StreamingSpec] = Field(default_factory=list)
    batch: list[BatchSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> SetupFile:
        titles = [g.title for g in self.field_groups] + [s.title for s in self.schemas]
        if dupes := sorted({t for t in titles if titles.count(t) > 1}):
            raise ValueError(f"titles must be unique across field groups and schemas: {dupes}")
        groups = {g.title: g for g in self.field_groups}
        for schema in self.schemas:
            for ref in schema.field_groups:
                if ref not in groups and not ref.startswith(NS):
                    raise ValueError(
                        f"schema {schema.title!r}: field group {ref!r} is neither in the file nor an $id"
                    )
                if ref in groups and schema.class_id not in groups[ref].class_ids:
                    raise ValueError(
                        f"schema {schema.title!r}: field group {ref!r} does not extend {schema.class_}"
                    )
            if schema.profile and schema.primary_identity is None:
                raise ValueError(f"schema {schema.title!r}: Profile needs a primaryIdentity")
            if schema.primary_identity is not None:
                _identity_field(schema, groups)
        schemas = {s.title: s for s in self.schemas}
        names = [d.name for d in self.datasets]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"dataset names must be unique: {dupes}")
        for dataset in self.datasets:
            if dataset.schema_ not in schemas:
                raise ValueError(f"dataset {dataset.name!r}: schema {dataset.schema_!r} is not in the file")
            if dataset.profile and not schemas[dataset.schema_].profile:
                raise ValueError(f"dataset {dataset.name!r}: Profile needs its schema enabled for Profile")
        for stream in self.streaming:
            if stream.dataset not in names:
                raise ValueError(f"streaming {stream.name!r}: dataset {stream.dataset!r} is not in the file")
        prefixes = [b.prefix for b in self.batch]
        if dupes := sorted({p for p in prefixes if prefixes.count(p) > 1}):
            raise ValueError(f"batch prefixes must be unique: {dupes}")
        datasets = {d.name: d for d in self.datasets}
        for route in self.batch:
            if route.dataset not in datasets:
                raise ValueError(f"batch {route.prefix!r}: dataset {route.dataset!r} is not in the file")
            schema_class = class_id(schemas[datasets[route.dataset].schema_].class_)
            if schema_class not in CLASSES.values():
                raise ValueError(
                    f"batch {route.prefix!r}: dataset {route.dataset!r}'s schema is neither profile nor "
                    "experienceevent: the batch function sends only these"
                )
            if route.record_class is not None and class_id(route.record_class) != schema_class:
                raise ValueError(
                    f"batch {route.prefix!r}: recordClass {route.record_class} is not the class of "
                    f"dataset {route.dataset!r}'s schema ({schema_class})"
                )
        return self


def _identity_field(schema: SchemaSpec, groups: dict[str, FieldGroupSpec]) -> None:
    """Refuse a primary identity under ``/_tenant`` that names no field of the schema's field groups
    (apply would create the groups and the schema, then fail at the descriptor). A path outside the
    tenant object names a class or standard field group field, which only AEP knows."""
    if schema.primary_identity is None:
        return
    path = schema.primary_identity.field
    parts = path.strip("/").split("/")
    if parts[0] != TENANT_SEGMENT:
        return
    found: XdmField | None = None
    if len(parts) > 1:
        for ref in schema.field_groups:
            group = groups.get(ref)
            first = group.fields.get(parts[1]) if group is not None else None
            found = first.at(parts[2:]) if first is not None else None
            if found is not None:
                break
    if found is None:
        raise ValueError(
            f"schema {schema.title!r}: primaryIdentity.field {path} is not a field of its field groups"
        )
    if found.type != "string":
        raise ValueError(
            f"schema {schema.title!r}: primaryIdentity.field {path} is {found.type}; identities are strings"
        )


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(file)"


def parse(data: Any, source: str = "setup file", *, from_cloudformation: bool = False) -> SetupFile:
    """``data`` (a parsed YAML/JSON document) as a :class:`SetupFile`. ``from_cloudformation``: ``data``
    is a custom resource's property, every scalar a string: enum values and bounds are first coerced
    to their field's type where that is unambiguous (:func:`cloudformation_values`).

    Raises SetupFileError naming the path of every problem (``schemas[1].primaryIdentity.field: ...``).
    """
    if from_cloudformation:
        data = cloudformation_values(data)
    try:
        return SetupFile.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise SetupFileError(f"{source}: " + "; ".join(problems)) from None


_INTEGER = re.compile(r"^-?[0-9]+$")
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


def _number(value: Any, integer: bool) -> Any:
    """A string CloudFormation made of a number, back to the number; anything else as it is (the model
    then refuses it with its path)."""
    if not isinstance(value, str):
        return value
    if _INTEGER.match(value):
        return int(value)
    if not integer and _NUMBER.match(value):
        return float(value)
    return value


def _coerced(value: Any, kind: Any) -> Any:
    if not isinstance(value, str):
        return value
    if kind == "integer":
        return _number(value, integer=True)
    if kind == "number":
        return _number(value, integer=False)
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def _field_values(field: Any) -> Any:
    if not isinstance(field, dict):
        return field
    kind = field.get("type")
    out = dict(field)
    if isinstance(out.get("enum"), list):
        out["enum"] = [_coerced(v, kind) for v in out["enum"]]
    for key in ("minimum", "maximum"):
        if key in out:
            out[key] = _number(out[key], integer=kind == "integer")
    for key in ("minLength", "maxLength"):
        if key in out:
            out[key] = _number(out[key], integer=True)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {n: _field_values(f) for n, f in out["properties"].items()}
    if "items" in out:
        out["items"] = _field_values(out["items"])
    return out


def cloudformation_values(data: Any) -> Any:
    """The setup file of a custom resource's properties with each field's enum values and bounds of its
    own type: CloudFormation hands ``1`` and ``true`` as ``"1"`` and ``"true"``. A string is turned into
    a number only on an integer or number field and when it is one (``"1.5"`` stays a string on an
    integer field, and is refused), into a boolean only on a boolean field and when it is ``true`` or
    ``false``. The model's own booleans (``profile``...) are left to its validation."""
    if not isinstance(data, dict) or not isinstance(data.get("fieldGroups"), list):
        return data
    groups = []
    for group in data["fieldGroups"]:
        if isinstance(group, dict) and isinstance(group.get("fields"), dict):
            fields = {n: _field_values(f) for n, f in group["fields"].items()}
            groups.append({**group, "fields": fields})
        else:
            groups.append(group)
    return {**data, "fieldGroups": groups}


def _yaml_loader() -> Any:
    """PyYAML's SafeLoader refusing a key twice in one mapping (by default the last one wins, silently:
    a field retyped by a typo)."""
    import yaml  # noqa: PLC0415 - optional: the layer does not ship PyYAML

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return StrictLoader


def load(path: str | Path) -> SetupFile:
    """Read a setup file: JSON always, YAML (``.yaml``/``.yml``) when PyYAML is installed. A key twice
    in one mapping (object) is refused, with its line in YAML.

    Raises SetupFileError when the file cannot be read, parsed or validated.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SetupFileError(f"{path}: cannot read ({exc.strerror})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # noqa: PLC0415 - optional: the layer does not ship PyYAML
        except ImportError:
            raise SetupFileError(
                f"{path}: reading YAML needs PyYAML (pip install pyyaml), or use JSON"
            ) from None
        try:
            data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass  # nosec B506
        except yaml.YAMLError as exc:
            raise SetupFileError(f"{path}: not valid YAML ({exc})") from None
    else:
        try:
            data = strict_json.loads(text)
        except ValueError as exc:
            raise SetupFileError(f"{path}: not valid JSON ({exc})") from None
    return parse(data, str(path))
