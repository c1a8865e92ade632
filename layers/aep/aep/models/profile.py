from __future__ import annotations

from typing import Any

from pydantic import Field

from aep.models.base import AepModel


class ProfileEntity(AepModel):
    """One merged profile from ``/access/entities``; ``entity`` holds the XDM attributes."""

    entity_id: str = Field(alias="entityId")
    entity: dict[str, Any] = Field(default_factory=dict)
    sources: list[str] = Field(default_factory=list)
    identity_graph: list[str] = Field(default_factory=list, alias="identityGraph")
    merge_policy: dict[str, Any] | None = Field(default=None, alias="mergePolicy")
    last_modified_at: str | None = Field(default=None, alias="lastModifiedAt")

    @property
    def empty(self) -> bool:
        return not self.entity


class ExperienceEvent(AepModel):
    entity_id: str = Field(alias="entityId")
    timestamp: int | None = None
    entity: dict[str, Any] = Field(default_factory=dict)


class ExperienceEventPage(AepModel):
    children: list[ExperienceEvent] = Field(default_factory=list)
    page: dict[str, Any] = Field(default_factory=dict, alias="_page")
    links: dict[str, Any] = Field(default_factory=dict, alias="_links")

    @property
    def next_href(self) -> str | None:
        nxt = self.links.get("next") or {}
        href = nxt.get("href") if isinstance(nxt, dict) else None
        return str(href) if href else None
