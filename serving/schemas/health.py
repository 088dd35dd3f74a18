"""``/health`` and ``/ready``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class Health(BaseModel):
    """The process is alive."""

    status: Literal["alive"] = "alive"


class Readiness(BaseModel):
    """Whether every model and its features are loaded.

    `ready`: all serving the registry's champion. `degraded`: serving, but a newer champion
    failed to load (or is loading) and an older version answers. `not_ready`: some task
    has nothing to answer with (503).
    """

    status: Literal["ready", "degraded", "not_ready"]
    models: dict[str, dict[str, Any]]
    features: dict[str, dict[str, Any]]
