"""The documented contracts of the setup APIs, written from Adobe's OpenAPI specs and docs.

Sources (copied here so the project never reads them at test time): schema-registry.yaml (statsResponse,
listResponseBasic, listResponseItemWithVersion, singleFieldGroupResponse, lookupSchemaResponse,
patchSchemaResponse, createDescriptorResponse, identityDescriptorResponse, listUnionsResponse, errorBasic),
catalog.yaml (createDataset 201, dataset keyed by id), identity-service.yaml (createNamespace 200, 409
NAMESPACE_CODE_CONFLICT), flow-service.yaml (createConnection 201 ``{id, etag}``, connection ``items``,
FlowItemDTO) and the HTTP API streaming tutorial (the base connection's ``inletUrl`` and ``inletId``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- Schema Registry ------------------------------------------------------------------------------------
class RegistryReport(Closed):
    registryRequestId: str
    timestamp: str
    detailed_message: str = Field(alias="detailed-message")
    sub_errors: list[Any] = Field(alias="sub-errors")


class RegistryError(Closed):
    """``errorBasic``: the code is the last part of ``type``."""

    type: str = Field(pattern=r"^http://ns\.adobe\.com/aep/errors/XDM-\d{4}-\d{3}$")
    title: str
    status: int
    report: RegistryReport
    detail: str


class GenericError(Closed):
    type: str
    status: int
    title: str
    detail: str


class Counts(Closed):
    schemas: int
    mixins: int
    datatypes: int
    classes: int
    unions: int


class ListItem(Closed):
    """``listResponseItemWithVersion`` (``Accept: application/vnd.adobe.xed-id+json``)."""

    id: str = Field(alias="$id")
    alt_id: str = Field(alias="meta:altId")
    version: str = Field(pattern=r"^\d+\.\d+$")
    title: str


class Stats(Closed):
    imsOrg: str
    tenantId: str = Field(pattern=r"^[a-z0-9]+$")  # no leading underscore
    counts: Counts
    recentlyCreatedResources: list[ListItem]
    recentlyUpdatedResources: list[ListItem]
    classUsage: list[dict[str, Any]]


class Page(Closed):
    orderby: str
    next: str | None
    count: int


class Listing(Open):
    results: list[dict[str, Any]]
    page: Page = Field(alias="_page")
    links: dict[str, Any] = Field(alias="_links")


class Resource(Open):
    """``lookupResourceCore`` + registry metadata: what every tenant field group or schema carries."""

    id: str = Field(alias="$id")
    alt_id: str = Field(alias="meta:altId")
    resource_type: Literal["mixins", "schemas", "unions", "classes"] = Field(alias="meta:resourceType")
    version: str = Field(pattern=r"^\d+\.\d+$")
    title: str
    type: Literal["object"]
    registry_metadata: dict[str, Any] = Field(alias="meta:registryMetadata")
    container: Literal["tenant", "global"] = Field(alias="meta:containerId")


class FieldGroup(Resource):
    definitions: dict[str, Any]
    allOf: list[dict[str, str]]
    intended: list[str] = Field(alias="meta:intendedToExtend")
    tenant_namespace: str = Field(alias="meta:tenantNamespace")


class Schema(Resource):
    allOf: list[dict[str, str]]
    klass: str = Field(alias="meta:class")
    extends: list[str] = Field(alias="meta:extends")
    tenant_namespace: str = Field(alias="meta:tenantNamespace")
    sandbox_id: str = Field(alias="meta:sandboxId")
    sandbox_type: Literal["production", "development"] = Field(alias="meta:sandboxType")


class FullSchema(Resource):
    """``xed-full``: fields resolved into ``properties``, no ``allOf``."""

    properties: dict[str, Any]
    klass: str = Field(alias="meta:class")


class IdentityDescriptor(Closed):
    """``createDescriptorResponse`` / ``identityDescriptorResponse``."""

    at_id: str = Field(alias="@id", pattern=r"^[0-9a-f]{40}$")
    at_type: Literal["xdm:descriptorIdentity"] = Field(alias="@type")
    source_schema: str = Field(alias="xdm:sourceSchema")
    source_version: int | str = Field(alias="xdm:sourceVersion")
    source_property: str = Field(alias="xdm:sourceProperty", pattern=r"^/[^/].*[^/]$")
    namespace: str | int = Field(alias="xdm:namespace")
    property: Literal["xdm:code", "xdm:id"] = Field(alias="xdm:property")
    primary: bool = Field(alias="xdm:isPrimary")
    imsOrg: str
    version: str
    container: Literal["tenant"] = Field(alias="meta:containerId")
    sandbox_id: str = Field(alias="meta:sandboxId")
    sandbox_type: str = Field(alias="meta:sandboxType")


class Union(Resource):
    allOf: list[dict[str, str]]
    klass: str = Field(alias="meta:class")
    extends: list[str] = Field(alias="meta:extends")
