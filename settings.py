"""Runtime settings, read from ``GRIDPLUS_*`` environment variables (or a ``.env`` file).

Defaults are the embedded mode (`make run`): a local Temporal dev server and a SQLite file.
In production the placeholders are refused at start-up, so a forgotten secret fails fast
instead of signing bot callbacks with a value published in this repository.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from constants import TASK_QUEUE

PLACEHOLDER_PREFIX = "dev-only-"


class Settings(BaseSettings):
    """Everything that differs between a laptop and a town's production cluster."""

    model_config = SettingsConfigDict(env_prefix="GRIDPLUS_", env_file=".env", extra="ignore")

    environment: Literal["dev", "production"] = "dev"

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_tls_cert: str | None = None
    temporal_tls_key: str | None = None
    temporal_api_key: SecretStr | None = None
    temporal_ui_url: str = "http://localhost:8233"
    task_queue: str = TASK_QUEUE
    worker_max_cached_workflows: int = 2000

    database_url: str = "sqlite+aiosqlite:///./.data/gridplus.db"

    bot_gateway_url: str | None = None
    bot_secret: SecretStr = SecretStr(PLACEHOLDER_PREFIX + "bot-secret")
    department_gateway_url: str | None = None
    api_token_secret: SecretStr = SecretStr(PLACEHOLDER_PREFIX + "token-secret")
    public_base_url: str = "http://localhost:8000"

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> Settings:
        if self.environment == "production":
            for name in ("bot_secret", "api_token_secret"):
                value: SecretStr = getattr(self, name)
                if value.get_secret_value().startswith(PLACEHOLDER_PREFIX):
                    raise ValueError(f"GRIDPLUS_{name.upper()} must be set in production")
            if self.database_url.startswith("sqlite"):
                raise ValueError("GRIDPLUS_DATABASE_URL must point at PostgreSQL in production")
        return self


@lru_cache
def get_settings() -> Settings:
    """One settings object per process."""
    return Settings()
