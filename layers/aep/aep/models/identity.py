from __future__ import annotations

from pydantic import Field

from aep.models.base import AepModel


class IdentityNamespace(AepModel):
    code: str
    id: int | None = None
    name: str | None = None
    status: str | None = None
    id_type: str | None = Field(default=None, alias="idType")
    custom: bool = False
