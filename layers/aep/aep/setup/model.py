"""The setup file: what an AEP sandbox should hold for this connector, tenant-free.

Field groups hold the partner's fields (written without the tenant object: setup places them under
``_{tenantId}``), schemas name a class and their field groups (a title from this file or a standard
field group's ``$id``), the primary identity of a schema is a path where ``_tenant`` stands for the tenant
object, datasets name their schema by title, streaming connections their dataset by name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aep.errors import AepConfigError

NS = "https://ns.adobe.com/"
CLASSES = {"profile": NS + "xdm/context/profile", "experienceevent": NS + "xdm/context/experienceevent"}
TENANT_SEGMENT = "_tenant"
FieldType = Literal["string", "integer", "number", "boolean", "object", "array"]
IdType = Literal["COOKIE", "CROSS_DEVICE", "DEVICE", "EMAIL", "MOBILE", "NON_PEOPLE", "PHONE"]
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


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
    enum: list[str | int] | None = None
    min_length: int | None = Field(default=None, alias="minLength", ge=0)
    max_length: int | None = Field(default=None, alias="maxLength", ge=0)
    minimum: float | None = None
    maximum: float | None = None
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
        return self

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


class SetupFile(_Strict):
    namespaces: list[NamespaceSpec] = Field(default_factory=list)
    field_groups: list[FieldGroupSpec] = Field(alias="fieldGroups", default_factory=list)
    schemas: list[SchemaSpec] = Field(default_factory=list)
    datasets: list[DatasetSpec] = Field(default_factory=list)
    streaming: list[StreamingSpec] = Field(default_factory=list)

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
        return self


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(file)"


def parse(data: Any, source: str = "setup file") -> SetupFile:
    """``data`` (a parsed YAML/JSON document) as a :class:`SetupFile`.

    Raises SetupFileError naming the path of every problem (``schemas[1].primaryIdentity.field: ...``).
    """
    try:
        return SetupFile.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise SetupFileError(f"{source}: " + "; ".join(problems)) from None


def load(path: str | Path) -> SetupFile:
    """Read a setup file: JSON always, YAML (``.yaml``/``.yml``) when PyYAML is installed.

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
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SetupFileError(f"{path}: not valid YAML ({exc})") from None
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SetupFileError(f"{path}: not valid JSON ({exc})") from None
    return parse(data, str(path))
