"""The sandbox definition: org, credentials, sandboxes, datasets, streaming inlets, namespaces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    faults: dict[str, Any] | None = None

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


def load_config(path: str | Path | None = None) -> SandboxConfig:
    """Read a sandbox file (JSON); the default one ships beside this module."""
    return SandboxConfig.model_validate(json.loads(Path(path or DEFAULT_CONFIG).read_text()))
