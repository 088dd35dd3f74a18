"""Process-level settings of the service, from the environment (``BaseSettings``).

The service's behaviour (limits, polling, canary share...) lives in the typed lakehouse
configuration, section ``serve`` (``conf/base/lakehouse.yml``), like every other component's.
These settings only say which configuration to load, as the CLI's ``--env``, ``--lake``,
``--landing`` and ``--set`` do for batch commands, so that ``uvicorn --factory
serving.main:create_app`` works in a container with nothing but environment variables.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from lakehouse.config import Settings, env_overrides, load_settings


class ServiceSettings(BaseSettings):
    """Where the service's configuration comes from.

    Attributes:
        env: Configuration overlay (``LAKEHOUSE_ENV``; default ``local``).
        lake: Lake root (``LAKEHOUSE_LAKE``); the configuration's ``lake_root`` when unset.
        landing: Landing root (``LAKEHOUSE_LANDING``).
        overrides: ``key=value`` settings (``LAKEHOUSE_SET``, a JSON list), as ``--set``.
        log_level: Level of the service's logs (``LAKEHOUSE_LOG_LEVEL``).
        log_format: ``text`` or ``json`` lines (``LAKEHOUSE_LOG_FORMAT``).
    """

    model_config = SettingsConfigDict(env_prefix="LAKEHOUSE_", extra="ignore")

    env: str | None = None
    lake: str | None = None
    landing: str | None = None
    # parsed by the same rule as the command line's (a JSON list of key=value strings)
    overrides: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("LAKEHOUSE_SET", "overrides")
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("overrides", mode="before")
    @classmethod
    def _overrides_from_json(cls, value: object) -> object:
        return env_overrides(value) if isinstance(value, str) else value

    def lakehouse(self) -> Settings:
        """The effective lakehouse configuration."""
        return load_settings(
            self.env, landing=self.landing, lake=self.lake, overrides=self.overrides
        )
