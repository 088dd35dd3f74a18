"""``GET /v1/models``: versions, aliases and lineage of the models served."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ServedModel(BaseModel):
    """One task's model: the registry's aliases and the loaded versions with lineage."""

    task: str
    name: str
    aliases: dict[str, str | None]
    serving: dict[str, dict[str, Any]]
    status: dict[str, Any]


class ModelsResponse(BaseModel):
    """Every task the service answers for, and the serving configuration."""

    models: list[ServedModel]
    canary_share: float
    shadow: bool
    features: dict[str, dict[str, Any]]
