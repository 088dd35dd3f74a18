"""``/health`` and ``/ready``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    """The process is alive."""

    status: Literal["alive"] = "alive"


class Readiness(BaseModel):
    """Whether the models and their features are loaded; each model is judged on its own.

    `ready`: every model with a champion serves it. `degraded`: serving, but a newer champion
    failed to load (or is loading) and an older version answers, or data failed to refresh.
    `not_ready` (503): a model with a champion (or one `serve.require_models` names) has
    nothing to answer with yet, or no model answers at all. A model whose registry entry has
    no champion (state `no_champion`) answers 503 on its own routes and holds no one back.
    """

    status: Literal["ready", "degraded", "not_ready"]
    answering: list[str] = Field(description="Tasks whose routes answer now")
    waiting_for: list[str] = Field(description="Tasks that keep the service not ready")
    models: dict[str, dict[str, Any]]
    features: dict[str, dict[str, Any]]
