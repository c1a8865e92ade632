"""The emulated orgs: each with its credentials, sandboxes, datasets, streaming inlets and namespaces.

A sandbox file holds one org (:class:`SandboxConfig`, the original single-org form) or several:
``{"orgs": [<org>, ...], "faults": {...}}`` (:class:`EmulatorConfig`; ``faults`` there applies to every
request, an org's own ``faults`` to that org's requests). :func:`load_orgs` reads one or more files into
one :class:`EmulatorConfig`; org ids, client ids and inlet ids must be unique across all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

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


class FieldSpec(Strict):
    """A sandbox file's field with the constraints of its XDM definition (the short form is its type only):
    ``{"type": "string", "enum": ["inbound", "outbound"]}``, ``{"type": "string", "format": "email"}``."""

    type: FieldType
    enum: list[str | int | float] | None = None
    format: str | None = None
    pattern: str | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_length: int | None = Field(default=None, alias="minLength", ge=0)
    max_length: int | None = Field(default=None, alias="maxLength", ge=0)

    def xdm(self) -> dict[str, Any]:
        """The field as the Schema Registry holds it."""
        base: dict[str, Any] = (
            {"type": "string", "format": "date-time"} if self.type == "date-time" else {"type": self.type}
        )
        return {**base, **self.model_dump(by_alias=True, exclude_none=True, exclude={"type"})}


class Dataset(Strict):
    id: str
    name: str
    schema_ref: str
    klass: Literal["profile", "experienceevent"] = Field(alias="class")
    profile_enabled: bool = True
    primary_identity: PrimaryIdentity = PrimaryIdentity()
    required: list[str] = Field(default_factory=list)
    # Dotted path -> its type, or its type with constraints (``FieldSpec``). A dataset served through the
    # registry (``Space.dataset``) holds the types only, as its schema resolves them.
    fields: dict[str, FieldType | FieldSpec] = Field(default_factory=dict)


class Inlet(Strict):
    id: str
    dataset_id: str
    flow_id: str | None = None
    authenticated: bool = False
    # Set for an inlet made by a Flow Service dataflow: its dataset lives in that sandbox only.
    sandbox: str | None = None


class Namespace(Strict):
    code: str
    id: int
    name: str
    id_type: str = Field(alias="idType")
    custom: bool = False


class SandboxConfig(Strict):
    """One IMS org: its clients, sandboxes, datasets, inlets and namespaces (the single-org file)."""

    org_id: str
    tenant: str
    clients: list[Client]
    sandboxes: list[str] = Field(default_factory=lambda: ["prod"])
    token_lifetime_seconds: int = 86399
    batch_status_polls: int = Field(default=1, ge=0)
    # Streamed records that fail schema validation after the 207 become failed batches of their dataset,
    # one per dataset per window (AEP: about 15 minutes, i.e. 900). A batch appears in Catalog when its
    # window closes; 0: the failures of each request are one batch, visible at once (tests, the demo).
    streaming_failure_window_seconds: float = Field(default=0.0, ge=0, le=86400)
    merge_policy_id: str = "00000000-0000-4000-8000-000000000001"
    namespaces: list[Namespace]
    datasets: list[Dataset]
    inlets: list[Inlet] = Field(default_factory=list)
    # Fault injection from the start, in the admin endpoint's format: {"seed": 7, "rules": [...]}; they
    # apply to this org's requests only (in a single-org emulator, that is every request).
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


def clashes(orgs: Iterable[tuple[str, SandboxConfig]]) -> list[str]:
    """Org ids, client ids and inlet ids used twice, each as a sentence naming where (``source``)."""
    seen: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    for source, org in orgs:
        names = [("org id", org.org_id)]
        names += [("client id", c.client_id) for c in org.clients]
        names += [("inlet id", i.id) for i in org.inlets]
        for kind, name in names:
            first = seen.get((kind, name))
            if first is None:
                seen[kind, name] = source
            else:
                where = f"in both {first} and {source}" if first != source else f"twice in {source}"
                problems.append(f"{kind} {name} is defined {where}")
    return problems


class EmulatorConfig(Strict):
    """Every org the emulator serves (the first is the default one), and faults on every request."""

    orgs: list[SandboxConfig] = Field(min_length=1)
    faults: FaultSpec | None = None

    @model_validator(mode="after")
    def _unique(self) -> EmulatorConfig:
        problems = clashes((f"orgs[{n}]", org) for n, org in enumerate(self.orgs))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def org(self, org_id: str) -> SandboxConfig | None:
        return next((o for o in self.orgs if o.org_id == org_id), None)


def as_emulator_config(
    config: SandboxConfig | EmulatorConfig | Iterable[SandboxConfig] | None,
) -> EmulatorConfig:
    """What ``Emulator`` accepts, as one EmulatorConfig (None: the default sandbox file)."""
    if config is None:
        return EmulatorConfig(orgs=[load_config()])
    if isinstance(config, EmulatorConfig):
        return config
    if isinstance(config, SandboxConfig):
        return EmulatorConfig(orgs=[config])
    return EmulatorConfig(orgs=list(config))


class ConfigError(ValueError):
    """A sandbox file that cannot be used; the message is one line that names the file."""


def _read(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read sandbox file {file}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"sandbox file {file} is not UTF-8 text") from exc
    try:
        return strictjson.loads(text)
    except ValueError as exc:
        raise ConfigError(f"sandbox file {file} is not valid JSON: {exc}") from exc


def _parse(file: Path) -> SandboxConfig | EmulatorConfig:
    data = _read(file)
    model: type[SandboxConfig | EmulatorConfig] = (
        EmulatorConfig if isinstance(data, dict) and "orgs" in data else SandboxConfig
    )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"sandbox file {file} is invalid: {one_line(exc)}") from exc


def load_config(path: str | Path | None = None) -> SandboxConfig:
    """Read a single-org sandbox file (strict JSON); the default one ships beside this module.

    Raises ConfigError (one line) when the file cannot be read, is not JSON, is not a valid sandbox, or
    holds the several-orgs form (read that with :func:`load_orgs`).
    """
    file = Path(path or DEFAULT_CONFIG)
    parsed = _parse(file)
    if isinstance(parsed, EmulatorConfig):
        raise ConfigError(f"sandbox file {file} holds several orgs: read it with load_orgs")
    return parsed


def load_orgs(*paths: str | Path) -> EmulatorConfig:
    """Every org of one or more sandbox files, each file in either form (none: the default file).

    Raises ConfigError (one line) for a file that cannot be used, for an org, client or inlet id defined
    twice (naming the files), and for faults on every request set by more than one file.
    """
    files = [Path(p) for p in paths] or [DEFAULT_CONFIG]
    orgs: list[tuple[str, SandboxConfig]] = []
    faults: list[tuple[Path, FaultSpec]] = []
    for file in files:
        parsed = _parse(file)
        if isinstance(parsed, EmulatorConfig):
            orgs += [(str(file), org) for org in parsed.orgs]
            if parsed.faults is not None:
                faults.append((file, parsed.faults))
        else:
            orgs.append((str(file), parsed))
    problems = clashes(orgs)
    if problems:
        raise ConfigError("; ".join(problems))
    if len(faults) > 1:
        raise ConfigError(f"faults on every request are set in both {faults[0][0]} and {faults[1][0]}")
    return EmulatorConfig(orgs=[org for _, org in orgs], faults=faults[0][1] if faults else None)
