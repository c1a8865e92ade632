from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AepModel(BaseModel):
    """Accepts AEP's camelCase names and keeps fields it does not know."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
