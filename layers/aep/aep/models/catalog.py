from __future__ import annotations

from typing import Any

from pydantic import Field

from aep.models.base import AepModel


class SchemaRef(AepModel):
    id: str
    content_type: str = Field(default="application/vnd.adobe.xed-full+json;version=1", alias="contentType")


class Dataset(AepModel):
    id: str
    name: str | None = None
    schema_ref: SchemaRef | None = Field(default=None, alias="schemaRef")
    tags: dict[str, Any] = Field(default_factory=dict)

    @property
    def profile_enabled(self) -> bool:
        return any("enabled:true" in str(value) for value in self.tags.get("unifiedProfile", []))
