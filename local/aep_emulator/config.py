"""The sandbox definition: org, credentials, sandboxes, datasets, streaming inlets, namespaces."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aep_emulator import strictjson
from aep_emulator.faults import FaultSpec, one_line

DEFAULT_CONFIG = Path(__file__).with_name("sandbox.default.json")
FieldType = Literal["string", "integer", "number", "boolean", "date-time", "object", "array"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Client(Strict):
    client_id: str
    client_secret: str


class PrimaryIdentity(Strict):
    """Where a record's primary identity is: ``identityMap`` or a descriptor on a field path."""

    source: Literal["identityMap", "descriptor"] = "identityMap"
    path: str | None = None
    namespace: str | None = None

    @model_validator(mode="after")
    def _descriptor_complete(self) -> PrimaryIdentity:
        if self.source == "descriptor" and not (self.path and self.namespace):
            raise ValueError("a descriptor identity needs path and namespace")
        return self


class Dataset(Strict):
    id: str
    name: str
    schema_ref: str
    klass: Literal["profile", "experienceevent"] = Field(alias="class")
    profile_enabled: bool = True
    primary_identity: PrimaryIdentity = PrimaryIdentity()
    required: list[str] = Field(default_factory=list)
    fields: dict[str, FieldType] = Field(default_factory=dict)


class Inlet(Strict):
    id: str
    dataset_id: str
    flow_id: str | None = None
    authenticated: bool = False


class Namespace(Strict):
    code: str
    id: int
    name: str
    id_type: str = Field(alias="idType")
    custom: bool = False


class SandboxConfig(Strict):
    org_id: str
    tenant: str
    clients: list[Client]
    sandboxes: list[str] = Field(default_factory=lambda: ["prod"])
    token_lifetime_seconds: int = 86399
    batch_status_polls: int = Field(default=1, ge=0)
    merge_policy_id: str = "00000000-0000-4000-8000-000000000001"
    namespaces: list[Namespace]
    datasets: list[Dataset]
    inlets: list[Inlet] = Field(default_factory=list)
    # Fault injection from the start, in the admin endpoint's format: {"seed": 7, "rules": [...]}.
    faults: FaultSpec | None = None

    @model_validator(mode="after")
    def _references(self) -> SandboxConfig:
        ids = {d.id for d in self.datasets}
        for inlet in self.inlets:
            if inlet.dataset_id not in ids:
                raise ValueError(f"inlet {inlet.id} points at unknown dataset {inlet.dataset_id}")
        return self

    def dataset(self, dataset_id: str) -> Dataset | None:
        return next((d for d in self.datasets if d.id == dataset_id), None)

    def inlet(self, inlet_id: str) -> Inlet | None:
        return next((i for i in self.inlets if i.id == inlet_id), None)


class ConfigError(ValueError):
    """A sandbox file that cannot be used; the message is one line that names the file."""


def load_config(path: str | Path | None = None) -> SandboxConfig:
    """Read a sandbox file (strict JSON); the default one ships beside this module.

    Raises ConfigError (one line) when the file cannot be read, is not JSON, or is not a valid sandbox.
    """
    file = Path(path or DEFAULT_CONFIG)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read sandbox file {file}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"sandbox file {file} is not UTF-8 text") from exc
    try:
        data = strictjson.loads(text)
    except ValueError as exc:
        raise ConfigError(f"sandbox file {file} is not valid JSON: {exc}") from exc
    try:
        return SandboxConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"sandbox file {file} is invalid: {one_line(exc)}") from exc
